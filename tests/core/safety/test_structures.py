"""Critical structures: categories (data), structures from labels and from the CT, distance-field cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from osteoplan.core.imaging.case import Case
from osteoplan.core.safety.distances import DistanceFields
from osteoplan.core.errors import ResourceError
from osteoplan.core.imaging.io import LabelMap
from osteoplan.core.imaging.phantom import build_phantom
from osteoplan.core.resources import load_json_resource, validate_resource
from osteoplan.core.imaging.anatomy import CATEGORIES_RESOURCE, StructureCategories, category_of
from osteoplan.core.safety.structures import (
    Structure, StructureSet, auto_bone, auto_skin, case_structures, structures_from_labels,
)
from osteoplan.core.imaging.volume import Volume


@pytest.fixture(scope="module")
def spine_case() -> Case:
    phantom = build_phantom("spine", spacing_mm=1.6)
    return Case(ct=phantom.ct, labels=LabelMap(volume=phantom.labels, names=dict(phantom.label_names)),
                source="demo:spine")


@pytest.mark.parametrize("name, category", [
    ("spinal_cord", "neural"), ("spinal_canal", "neural"), ("nerve_root_L2_left", "neural"),
    ("sciatic_nerve_left", "neural"), ("femoral_nerve_left", "neural"), ("aorta", "vascular"),
    ("inferior_vena_cava", "vascular"), ("iliac_artery_left", "vascular"), ("iliac_vena_right", "vascular"),
    ("portal_vein_and_splenic_vein", "vascular"), ("femoral_artery_left", "vascular"),
    ("lung_upper_lobe_left", "visceral"), ("small_bowel", "visceral"), ("colon", "visceral"),
    ("urinary_bladder", "visceral"), ("kidney_left", "visceral"), ("vertebrae_L2", "bone"), ("rib_left_3", "bone"),
    ("sacrum", "bone"), ("hip_left", "bone"), ("femur_right", "bone"), ("lesion", "lesion"), ("skin", "skin"),
    ("subcutaneous_fat", "other"), ("autochthon_left", "other"), ("gluteus_medius_left", "other"),
    ("intervertebral_disc_L1_L2", "other"), ("Spinal_Cord", "neural"), ("mystery_structure", "other"),
])
def test_names_map_to_categories(name, category):
    assert category_of(name) == category


def test_needle_thresholds_follow_the_domain_table_and_say_where_they_come_from():
    def structure(name, **overrides):
        return Structure.from_mask(name, np.ones((2, 2, 2), bool), **overrides)

    cord = structure("spinal_cord").needle_thresholds()
    assert (cord.warn_mm, cord.stop_mm) == (5.0, 0.0)
    assert cord.origin.startswith("category neural default (") and "sources.md" in cord.origin
    assert (structure("aorta").needle_thresholds().warn_mm, structure("colon").needle_thresholds().warn_mm) == (5, 5)
    for name in ("skin", "vertebrae_L2", "lesion", "subcutaneous_fat"):
        assert not structure(name).needle_thresholds().evaluated, name
    overridden = structure("aorta", warn_mm=8.0).needle_thresholds()
    assert (overridden.warn_mm, overridden.stop_mm, overridden.origin) == (8.0, 0.0, "override")
    assert structure("skin").thresholds("ablation").stop_mm == 5.0  # data for later contexts is there


@pytest.mark.parametrize("breakage", [
    lambda d: d["categories"]["neural"]["thresholds"]["needle"].update(warn_mm=1.0, stop_mm=2.0),  # stop > warn
    lambda d: d["categories"]["vascular"]["thresholds"].pop("cement"),  # a context missing
    lambda d: d["name_map"].append({"pattern": "x*", "category": "nonsense"}),  # unknown category
    lambda d: d["categories"]["skin"]["thresholds"]["needle"].update(warn_mm=-1.0),
    lambda d: d["categories"]["bone"]["thresholds"]["needle"].pop("source"),
    lambda d: d.update(schema_version=2),
])
def test_the_categories_resource_rejects_bad_data(breakage):
    data = json.loads(json.dumps(load_json_resource(CATEGORIES_RESOURCE)))
    breakage(data)
    with pytest.raises(ResourceError, match=CATEGORIES_RESOURCE):
        validate_resource(StructureCategories, data, CATEGORIES_RESOURCE)


def _tiny_case(names: dict[int, str]) -> Case:
    ct = Volume(np.full((10, 12, 14), -1000, np.int16), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))
    labels = np.zeros(ct.array.shape, np.uint8)
    labels[2:5, 3:6, 4:8] = 1
    labels[6:8, 6:9, 2:4] = 7  # a value without a name
    return Case(ct, LabelMap(ct.with_array(labels), names))


def test_structures_from_labels_keep_unknown_names_and_skip_empty_masks_with_a_note():
    case = _tiny_case({1: "odd_name", 3: "aorta"})
    structures, notes = structures_from_labels(case)
    assert [(s.name, s.category, s.label_value) for s in structures] == [("odd_name", "other", 1),
                                                                       ("label_7", "other", 7)]
    assert any("aorta" in n and "empty" in n for n in notes)
    assert any("label_7" in n for n in notes)
    odd = structures[0]
    assert odd.start_kji == (2, 3, 4) and odd.box_mask.shape == (3, 3, 4) and odd.box_mask.all()
    assert np.array_equal(odd.mask, case.labels.volume.array == 1)


def test_the_phantom_structures_come_from_its_labels(spine_case):
    structures = case_structures(spine_case)
    assert structures.names == sorted(structures.names)
    assert {"spinal_canal", "spinal_cord", "aorta", "vertebrae_L2", "lesion", "skin"} <= set(structures.names)
    assert all(s.source == "labels" for s in structures)  # the labels have skin and bone: nothing automatic
    assert structures["spinal_canal"].category == "neural" and structures.get("nope") is None
    hazards = {s.name for s in structures.needle_hazards()}
    assert {"spinal_canal", "spinal_cord", "nerve_root_L2_left", "aorta", "inferior_vena_cava"} <= hazards
    assert not hazards & {"vertebrae_L2", "lesion", "skin", "subcutaneous_fat", "autochthon_left"}


def test_automatic_skin_and_bone_without_labels(spine_case):
    case = Case(spine_case.ct, source="demo:spine")
    structures = case_structures(case)
    assert {s.name: s.source for s in structures} == {"bone (auto)": "auto", "skin (auto)": "auto"}
    assert len(structures.notes) == 2
    skin, bone = structures["skin (auto)"], structures["bone (auto)"]
    assert skin.category == "skin" and bone.category == "bone"
    # the skin is a thin shell: the labelled vertebra body centre is far inside, bone covers L2's label
    labels = spine_case.labels
    l2 = labels.volume.array == next(v for v, n in labels.names.items() if n == "vertebrae_L2")
    assert (bone.mask & l2).sum() > 0.8 * l2.sum()
    assert skin.voxel_count < 0.05 * skin.mask.size
    assert skin.mask[:, skin.mask.shape[1] // 2, skin.mask.shape[2] // 2].sum() <= 2 * skin.mask.shape[0]
    assert auto_skin(case.ct).mask_hash == skin.mask_hash and auto_bone(case.ct).mask_hash == bone.mask_hash


def test_the_field_cache_follows_the_mask_content(spine_case):
    structures = case_structures(spine_case)
    fields = DistanceFields(spine_case.ct)
    cord = structures["spinal_cord"]
    seen = []
    fields.prepare([cord, structures["aorta"]], progress=lambda fraction, message: seen.append((fraction, message)))
    assert seen[0][0] == 0.0 and seen[-1][0] == 1.0 and "spinal_cord" in " ".join(m for _, m in seen)
    first = fields.field(cord)
    assert fields.field(cord) is first
    same_content = Structure.from_mask("spinal_cord", cord.mask)
    assert same_content.mask_hash == cord.mask_hash and fields.field(same_content) is first
    edited = cord.mask
    edited[tuple(np.argwhere(edited)[0])] = False  # one voxel erased
    changed = Structure.from_mask("spinal_cord", edited)
    assert changed.mask_hash != cord.mask_hash and fields.field(changed) is not first
    fields.forget_except([changed])
    assert len(fields) == 1 and fields.cached(cord) is None


def test_a_structure_set_replaces_by_name_and_refuses_duplicates():
    a = Structure.from_mask("aorta", np.ones((2, 2, 2), bool))
    b = Structure.from_mask("colon", np.ones((2, 2, 2), bool))
    structures = StructureSet((b, a), ("note",))
    assert structures.names == ["aorta", "colon"] and len(structures) == 2 and "aorta" in structures
    replaced = structures.with_structure(a.with_overrides(warn_mm=9.0))
    assert replaced["aorta"].needle_thresholds().warn_mm == 9.0 and replaced.notes == ("note",)
    with pytest.raises(ValueError, match="unique"):
        StructureSet((a, a))


def test_the_automatic_skin_leaves_out_the_scans_cut_faces():
    """A body cut by the first and last slices (and by a narrow field of view) has skin only where it meets air."""
    array = np.full((20, 30, 30), -1000, np.int16)
    array[:, 5:25, 0:25] = 40  # through every slice, and through the i = 0 face of the image
    skin = auto_skin(Volume(array, (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))).mask
    inner = (slice(6, 24), slice(1, 24))  # the body's cross-section less its outline
    assert not skin[0][inner].any() and not skin[-1][inner].any(), "the first and last slices are cut faces"
    assert not skin[:, 6:24, 0].any(), "the image's side face cuts the body: no skin there"
    assert skin[10, 5, 10] and skin[10, 24, 10] and skin[10, 15, 24]  # the real surfaces are skin
    assert not skin[10, 15, 10]  # inside
