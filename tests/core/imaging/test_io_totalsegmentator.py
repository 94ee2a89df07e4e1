"""TotalSegmentator's outputs read natively: the --ml header label table, <stem>.json, a folder of masks,
a single mask, the v1/v2 "total" class tables, and a label map stored with another orientation of the CT grid."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel
import numpy as np
import pytest
from scipy import ndimage

from osteoplan.core.errors import LoadError, ResourceError
from osteoplan.core.imaging.anatomy import category_of
from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.io import load_image, load_label_map
from osteoplan.core.imaging.io.labels import GRID_TOLERANCE_VOXELS, NAMES_SOURCES
from osteoplan.core.imaging.io.totalsegmentator import (
    ClassMap, class_map, fitting_versions, header_label_names, parse_label_table, resource_name,
)
from osteoplan.core.resources import load_json_resource, validate_resource
from osteoplan.core.safety.warnings import Severity
from osteoplan.core.session import PlanSession
from osteoplan.core.planning.trajectory import TrajectoryKind
from tests.conftest import shared_data_path
from tests.fixtures import images as fx

GEOMETRY = dict(spacing=(1.0, 1.5, 2.0), origin=(-10.0, -20.0, 30.0))
SHAPE = (6, 10, 8)  # k, j, i


def caret_xml(names: dict[int, str]) -> str:
    """A label table as TotalSegmentator's --ml writes it (nifti_ext_header.py's layout)."""
    rows = "".join(f'<Label Key="{key}" Red="1.0" Green="0.0" Blue="0.0" Alpha="1"><![CDATA[{name}]]></Label>\n'
                   for key, name in names.items())
    return ('<?xml version="1.0" encoding="UTF-8"?> <CaretExtension>  <Date><![CDATA[2013-07-14T05:45:09]]></Date>'
            '   <VolumeInformation Index="0">   <LabelTable>\n' + rows + '\n  </LabelTable>  <StudyMetaDataLinkSet>'
            '  </StudyMetaDataLinkSet>  <VolumeType><![CDATA[Label]]></VolumeType>   </VolumeInformation>'
            '</CaretExtension>')


def write_ml(path: Path, array: np.ndarray, names: dict[int, str] | None, code: int = 0, **geometry) -> Path:
    """A NIfTI label map with the names in a header extension (written with nibabel, as TotalSegmentator does)."""
    plain = fx.write_image(path.with_name("plain_" + path.name), array, **(geometry or GEOMETRY))
    image = nibabel.load(str(plain))
    image = nibabel.Nifti1Image(np.asarray(image.dataobj), image.affine, image.header)
    if names is not None:
        image.header.extensions.append(nibabel.nifti1.Nifti1Extension(code, caret_xml(names).encode("utf-8")))
    nibabel.save(image, str(path))
    plain.unlink()
    return path


def two_labels(a: int, b: int) -> np.ndarray:
    array = np.zeros(SHAPE, dtype=np.uint8)
    array[1:3, 2:5, 2:4] = a
    array[3:5, 5:8, 4:7] = b
    return array


# --- names from the header -----------------------------------------------------------------------
@pytest.mark.parametrize("code", [0, 32])
def test_header_names_of_a_synthetic_ml_file(tmp_path, code):
    # names that neither v1 nor v2 gives these values: they can only come from the header
    path = write_ml(tmp_path / "seg.nii.gz", two_labels(2, 5), {2: "spinal_cord", 5: "aorta", 9: "absent"}, code)
    labels = load_label_map(path)
    assert labels.names == {2: "spinal_cord", 5: "aorta"}
    assert labels.names_source == "header" and labels.names_path == str(path)
    assert labels.notes == ()


def test_header_table_lacking_a_present_label_says_so(tmp_path):
    path = write_ml(tmp_path / "seg.nii.gz", two_labels(2, 5), {2: "spinal_cord"})
    labels = load_label_map(path)
    assert labels.names == {2: "spinal_cord", 5: "label_5"}
    (note,) = labels.notes
    assert "5" in note and "no name" in note and "not checked as hazards" in note


def test_parse_label_table_ignores_padding_background_and_other_xml():
    content = caret_xml({0: "???", 3: " liver ", 4: ""}).encode() + b"\n   \x00\x00"
    assert parse_label_table(content) == {3: "liver"}
    assert parse_label_table(b"<afni><comment>no table</comment></afni>") is None
    assert parse_label_table(b"plain text") is None


def test_a_file_without_extension_has_no_header_names(tmp_path):
    path = write_ml(tmp_path / "seg.nii.gz", two_labels(2, 5), None)
    assert header_label_names(path) == (None, None)
    assert header_label_names(fx.write_image(tmp_path / "seg.nrrd", two_labels(2, 5))) == (None, None)


def test_real_ml_file_names_come_from_its_header():
    path = shared_data_path("ct_thoracolumbar_dicom_labels", "labels.nii.gz")
    names, problem = header_label_names(path)
    assert problem is None and names == class_map(2).classes  # TotalSegmentator v2 writes its whole table
    labels = load_label_map(path)
    assert labels.names_source == "header" and labels.notes == ()
    assert {79: "spinal_cord", 52: "aorta", 63: "inferior_vena_cava", 32: "vertebrae_T12",
            33: "vertebrae_T11"}.items() <= labels.names.items()
    # a folder holding just that file opens it
    assert load_label_map(path.parent).names == labels.names


# --- names from JSON files beside the map ----------------------------------------------------------
def test_names_precedence_explicit_then_stem_json_then_labels_json_then_header(tmp_path):
    path = write_ml(tmp_path / "seg.nii.gz", two_labels(2, 5), {2: "from_header", 5: "from_header_too"})
    assert load_label_map(path).names_source == "header"
    (tmp_path / "labels.json").write_text('{"2": "from_labels_json", "5": "x"}')
    assert load_label_map(path).names[2] == "from_labels_json"
    assert load_label_map(path).names_source == "labels_json"
    (tmp_path / "seg.json").write_text('{"2": "from_stem_json", "5": "y"}')
    labels = load_label_map(path)
    assert labels.names[2] == "from_stem_json"
    assert labels.names_source == "stem_json" and labels.names_path == str(tmp_path / "seg.json")
    explicit = tmp_path / "names.json"
    explicit.write_text('{"2": "from_names_file", "5": "z"}')
    labels = load_label_map(path, names_path=explicit)
    assert labels.names == {2: "from_names_file", 5: "z"} and labels.names_source == "names_file"


def test_stem_json_of_an_nrrd_map_and_a_broken_one(tmp_path):
    path = fx.write_image(tmp_path / "vertebrae.nrrd", two_labels(2, 5))
    (tmp_path / "vertebrae.json").write_text('{"2": "vertebrae_L1", "5": "vertebrae_L2"}')
    assert load_label_map(path).names == {2: "vertebrae_L1", 5: "vertebrae_L2"}
    (tmp_path / "vertebrae.json").write_text('{"2": "vertebrae_L1", "five": "vertebrae_L2"}')
    with pytest.raises(LoadError, match="key 'five', which is not an integer"):
        load_label_map(path)


def test_a_plan_file_named_like_the_map_is_not_taken_for_names(tmp_path):
    path = fx.write_image(tmp_path / "case.nii.gz", two_labels(2, 5), **GEOMETRY)
    (tmp_path / "case.json").write_text(json.dumps({"format": "osteoplan.plan", "version": 1}))
    (tmp_path / "labels.json").write_text('{"2": "spinal_cord", "5": "aorta"}')
    labels = load_label_map(path)
    assert labels.names == {2: "spinal_cord", 5: "aorta"} and labels.names_source == "labels_json"
    assert any("case.json" in note and "not a label names file" in note for note in labels.notes)


# --- a folder of masks, a single mask --------------------------------------------------------------
def _box(slices) -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[slices] = 1
    return mask


def test_a_folder_of_masks_is_one_label_map(tmp_path):
    folder = tmp_path / "segmentations"
    np_s = np.s_
    masks = {
        "autochthon_left": _box(np_s[0:6, 0:10, 0:3]),  # big, sorts first: loses its overlap with the cord
        "spinal_cord": _box(np_s[1:5, 4:6, 2:4]),  # 16 voxels, 8 of them inside autochthon_left
        "aorta": _box(np_s[1:3, 7:9, 5:7]),  # small, sorts first: wins its overlap with the vertebra
        "vertebrae_L3": _box(np_s[0:6, 6:10, 4:8]),
        "kidney_left": np.zeros(SHAPE, np.uint8),  # empty: skipped
    }
    for name, mask in masks.items():
        fx.write_image(folder / f"{name}.nii.gz", mask, **GEOMETRY)
    (folder / "statistics.json").write_text("{}")  # not an image: ignored
    labels = load_label_map(folder)
    assert labels.names == {1: "aorta", 2: "autochthon_left", 3: "spinal_cord", 4: "vertebrae_L3"}
    assert labels.names_source == "mask_files" and labels.names_path == str(folder)
    array = labels.volume.array
    assert np.array_equal(array == 3, masks["spinal_cord"] == 1)  # the smaller structure keeps shared voxels
    assert np.array_equal(array == 1, masks["aorta"] == 1)
    assert np.array_equal(array == 2, (masks["autochthon_left"] == 1) & (masks["spinal_cord"] == 0))
    assert np.array_equal(array == 4, (masks["vertebrae_L3"] == 1) & (masks["aorta"] == 0))
    (note,) = labels.notes
    assert "16 voxel(s) lie in more than one mask" in note and "autochthon_left and spinal_cord" in note
    assert labels.volume.same_grid(load_label_map(folder / "aorta.nii.gz").volume)


def test_equal_sized_overlapping_masks_go_to_the_first_name(tmp_path):
    for name in ("b_mask", "a_mask"):
        fx.write_image(tmp_path / f"{name}.nii.gz", _box(np.s_[1:3, 1:3, 1:3]), **GEOMETRY)
    labels = load_label_map(tmp_path)
    assert labels.names == {1: "a_mask"}  # b_mask lost every voxel to a_mask
    assert int(np.count_nonzero(labels.volume.array == 1)) == 8 and not np.any(labels.volume.array == 2)
    assert "8 voxel(s) lie in more than one mask" in labels.notes[0] and "b_mask" in labels.notes[1]


def test_a_mask_folder_on_a_flipped_grid_lands_on_the_ct(tmp_path):
    ct_path, _ = fx.make_label_case(tmp_path)
    ct = load_image(ct_path).volume
    cord = np.zeros(ct.array.shape, np.uint8)
    cord[2:6, 3:7, 10:13] = 1
    flipped = _flipped_geometry(ct, axis=1)
    for name, mask in (("spinal_cord", cord), ("aorta", np.roll(cord, 5, axis=2))):
        fx.write_image(tmp_path / "masks" / f"{name}.nii.gz", mask[:, ::-1, :].copy(), **flipped)
    labels = load_label_map(tmp_path / "masks", reference=ct)
    assert labels.volume.same_grid(ct)
    assert np.array_equal(labels.volume.array == 2, cord == 1)


def test_a_mask_folder_refuses_a_label_map_a_second_grid_and_a_names_file(tmp_path):
    fx.write_image(tmp_path / "aorta.nii.gz", _box(np.s_[1:3, 1:3, 1:3]), **GEOMETRY)
    fx.write_image(tmp_path / "combined.nii.gz", two_labels(2, 5), **GEOMETRY)
    with pytest.raises(LoadError, match="combined.nii.gz in the folder .* holds several labels"):
        load_label_map(tmp_path)
    (tmp_path / "combined.nii.gz").unlink()
    fx.write_image(tmp_path / "liver.nii.gz", _box(np.s_[1:3, 1:3, 1:3]), spacing=(1.0, 1.0, 1.0), origin=(0, 0, 0))
    with pytest.raises(LoadError, match="do not share one grid: liver.nii.gz differs from aorta.nii.gz"):
        load_label_map(tmp_path)
    (tmp_path / "liver.nii.gz").unlink()
    fx.write_image(tmp_path / "spleen.nii.gz", _box(np.s_[3:5, 1:3, 1:3]), **GEOMETRY)
    with pytest.raises(LoadError, match="takes no names file"):
        load_label_map(tmp_path, names_path=tmp_path / "labels.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LoadError, match="is a folder without label map or mask files"):
        load_label_map(tmp_path / "empty")


def test_a_single_mask_is_named_after_its_file(tmp_path):
    path = fx.write_image(tmp_path / "spinal_cord.nii.gz", _box(np.s_[1:5, 4:6, 2:4]), **GEOMETRY)
    labels = load_label_map(path)
    assert labels.names == {1: "spinal_cord"} and labels.names_source == "file_stem" and labels.notes == ()
    assert category_of(labels.names[1]) == "neural"


# --- TotalSegmentator "total" v1 / v2 ------------------------------------------------------------
def test_class_tables_are_validated_resources_naming_their_source():
    v1, v2 = class_map(1), class_map(2)
    assert len(v1.classes) == 104 and len(v2.classes) == 117
    assert (v1.classes[7], v1.classes[52], v1.classes[104]) == ("aorta", "iliac_artery_right", "urinary_bladder")
    assert (v2.classes[7], v2.classes[52], v2.classes[79], v2.classes[117]) == (
        "pancreas", "aorta", "spinal_cord", "costal_cartilages")
    assert (v2.classes[92], v2.classes[107]) == ("rib_left_1", "rib_right_4")  # the v2.2.0+ rib order
    for version in (1, 2):
        assert "TotalSegmentator" in class_map(version).source and "map_to_binary.py" in class_map(version).source
    with pytest.raises(ValueError, match="version 3"):
        class_map(3)
    broken = load_json_resource(resource_name(2))
    del broken["classes"]["50"]
    with pytest.raises(ResourceError, match="without gaps"):
        validate_resource(ClassMap, broken, resource_name(2))


HAZARDS = {
    "neural": {"spinal_cord", "brain"},
    "vascular": {"aorta", "inferior_vena_cava", "superior_vena_cava", "portal_vein_and_splenic_vein",
                 "iliac_artery_left", "iliac_artery_right", "iliac_vena_left", "iliac_vena_right", "pulmonary_artery",
                 "pulmonary_vein", "heart", "heart_myocardium", "heart_atrium_left", "heart_atrium_right",
                 "heart_ventricle_left", "heart_ventricle_right", "atrial_appendage_left", "brachiocephalic_trunk",
                 "brachiocephalic_vein_left", "brachiocephalic_vein_right", "subclavian_artery_left",
                 "subclavian_artery_right", "common_carotid_artery_left", "common_carotid_artery_right"},
    "visceral": {"lung_upper_lobe_left", "lung_lower_lobe_left", "lung_upper_lobe_right", "lung_middle_lobe_right",
                 "lung_lower_lobe_right", "colon", "small_bowel", "duodenum", "esophagus", "trachea",
                 "urinary_bladder", "stomach", "kidney_left", "kidney_right", "kidney_cyst_left", "kidney_cyst_right",
                 "liver", "spleen", "pancreas", "gallbladder", "adrenal_gland_left", "adrenal_gland_right",
                 "prostate", "thyroid_gland"},
}


def test_every_totalsegmentator_name_gets_its_category():
    names = set(class_map(1).classes.values()) | set(class_map(2).classes.values())
    hazards = set().union(*HAZARDS.values())
    assert hazards <= names
    for category, expected in HAZARDS.items():
        assert {n for n in expected if category_of(n) != category} == set(), category
    others = {category_of(n) for n in names - hazards}
    assert others <= {"bone", "other"}
    assert all(category_of(n) == "bone" for n in names if n.startswith(("vertebrae_", "rib_")))


def test_values_only_v2_uses_name_the_map_by_v2(tmp_path):
    array = two_labels(79, 52)
    array[0, 0, 0] = 110
    labels = load_label_map(fx.write_image(tmp_path / "seg.nii.gz", array, **GEOMETRY))
    assert labels.names == {52: "aorta", 79: "spinal_cord", 110: "rib_right_7"}
    assert labels.names_source == "totalsegmentator_v2"
    (note,) = labels.notes
    assert "only TotalSegmentator's 'total' v2 uses (110)" in note and "give its names file" in note
    assert fitting_versions([52, 79, 110]) == (2,)


def test_values_both_versions_use_are_ambiguous_and_not_guessed(tmp_path):
    path = fx.write_image(tmp_path / "seg.nii.gz", two_labels(7, 79), **GEOMETRY)
    labels = load_label_map(path)
    assert labels.names == {7: "label_7", 79: "label_79"} and labels.names_source == "none"
    (note,) = labels.notes
    assert "has no label names" in note and "not checked as hazards" in note and "seg.json" in note
    assert "ambiguous" in note and "7 is aorta in v1, pancreas in v2" in note
    assert fitting_versions([7, 79]) == (1, 2)
    # told the version, it names the map by that table
    assert load_label_map(path, total_version=1).names == {7: "aorta", 79: "rib_right_10"}
    told = load_label_map(path, total_version=2)
    assert told.names == {7: "pancreas", 79: "spinal_cord"} and told.names_source == "totalsegmentator_v2"
    with pytest.raises(LoadError, match="version 3"):
        load_label_map(path, total_version=3)


def test_values_beyond_totalsegmentator_keep_label_n_without_the_version_sentence(tmp_path):
    labels = load_label_map(fx.write_image(tmp_path / "seg.nii.gz", two_labels(5, 200), **GEOMETRY))
    assert labels.names == {5: "label_5", 200: "label_200"}
    (note,) = labels.notes
    assert "has no label names" in note and "ambiguous" not in note
    assert fitting_versions([5, 200]) == ()
    assert {"header", "stem_json", "mask_files", "file_stem", "totalsegmentator_v2", "none"} <= set(NAMES_SOURCES)


# --- another orientation of the CT's grid -------------------------------------------------------------
def _flipped_geometry(ct, axis: int) -> dict:
    """The CT's own voxel centres, stored with ITK axis ``axis`` (0 = i, 1 = j, 2 = k) reversed."""
    direction = ct.direction.copy()
    direction[:, axis] *= -1
    corner = [0, 0, 0]
    corner[axis] = ct.size[axis] - 1
    return dict(spacing=ct.spacing, origin=tuple(ct.index_to_lps(corner)), direction=tuple(direction.ravel()))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_a_label_map_with_a_flipped_axis_is_resampled_onto_the_ct(tmp_path, axis):
    ct_path, label_path = fx.make_label_case(tmp_path)
    ct = load_image(ct_path).volume
    expected = load_label_map(label_path, reference=ct).volume.array
    array_axis = 2 - axis  # numpy [k, j, i]
    stored = fx.write_image(tmp_path / "flipped.nii.gz", np.flip(expected, array_axis).copy(),
                            **_flipped_geometry(ct, axis))
    labels = load_label_map(stored, reference=ct)
    assert labels.volume.same_grid(ct) and np.array_equal(labels.volume.array, expected)
    assert labels.names == {1: "body", 2: "vertebra"}  # labels.json beside it
    assert "direction" in labels.volume.info.extra["stored_grid"]
    assert not load_label_map(stored).volume.same_grid(ct)  # without a reference it stays as stored


def test_swapped_axes_and_a_small_offset_are_matched_voxel_for_voxel(tmp_path):
    ct = load_image(fx.write_image(tmp_path / "ct.nii.gz", np.zeros((4, 6, 6), np.int16), spacing=(1.0, 1.0, 2.0),
                                   origin=(0.0, 0.0, 0.0))).volume
    expected = np.zeros((4, 6, 6), np.uint8)
    expected[1, 2, 4] = 3  # k=1, j=2, i=4
    swapped = np.swapaxes(expected, 1, 2).copy()  # stored i <-> j
    offset = 0.5 * GRID_TOLERANCE_VOXELS  # mm on a 1 mm axis: half the tolerance
    stored = fx.write_image(tmp_path / "swapped.nii.gz", swapped, spacing=(1.0, 1.0, 2.0), origin=(offset, 0.0, 0.0),
                            direction=(0, 1, 0, 1, 0, 0, 0, 0, 1))  # stored i runs along y, stored j along x
    labels = load_label_map(stored, reference=ct)
    assert labels.volume.same_grid(ct) and np.array_equal(labels.volume.array, expected)


@pytest.mark.parametrize("geometry", [
    dict(spacing=(1.0, 1.0, 2.5), origin=(-12.0 + 3 * GRID_TOLERANCE_VOXELS, -12.0, 40.0)),  # 0.3 voxel off
    dict(spacing=(1.1, 1.0, 2.5), origin=(-12.0, -12.0, 40.0)),  # another spacing
    dict(spacing=(1.0, 1.0, 2.5), origin=(-12.0, -12.0, 42.5)),  # one slice further: another extent
])
def test_a_label_map_on_another_grid_is_still_refused(tmp_path, geometry):
    ct_path, label_path = fx.make_label_case(tmp_path)
    ct = load_image(ct_path).volume
    array = load_label_map(label_path).volume.array
    stored = fx.write_image(tmp_path / "other.nii.gz", array, **geometry)
    with pytest.raises(LoadError, match="does not lie on the CT's grid"):
        load_label_map(stored, reference=ct)


# --- the real DICOM series and its --ml map ------------------------------------------------------------
def _deepest_lps(labels, ct, name: str) -> np.ndarray:
    value = next(v for v, n in labels.names.items() if n == name)
    depth = ndimage.distance_transform_edt(labels.volume.array == value)
    kji = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return ct.index_to_lps(np.asarray(kji[::-1], dtype=float))


def test_real_ml_map_lands_on_the_dicom_grid_and_a_needle_through_the_cord_stops():
    ct = load_image(shared_data_path("ct_thoracolumbar_dicom")).volume
    labels = load_label_map(shared_data_path("ct_thoracolumbar_dicom_labels", "labels.nii.gz"), reference=ct)
    assert labels.volume.same_grid(ct) and labels.names_source == "header" and labels.notes == ()
    assert {"spinal_cord", "aorta", "vertebrae_T12", "vertebrae_T11"} <= set(labels.names.values())
    by_name = {name: labels.volume.array == value for value, name in labels.names.items()}
    assert ct.array[by_name["vertebrae_T12"]].mean() > 150  # bone under the vertebra: the flip was undone
    assert -100 < ct.array[by_name["spinal_cord"]].mean() < 100  # soft tissue in the canal
    session = PlanSession(Case(ct=ct, source=str(shared_data_path("ct_thoracolumbar_dicom"))).with_labels(labels))
    cord = _deepest_lps(labels, ct, "spinal_cord")
    path = session.new_trajectory(cord + [0, 70, 0], cord - [0, 20, 0], TrajectoryKind.FREE,
                                  device_id="trocar-11g-150")  # straight from behind, through the cord
    session.editor.add_trajectory(path)
    found = {w.structure: w for w in session.warnings(path.id) if w.structure}
    assert found["spinal_cord"].severity is Severity.STOP and found["spinal_cord"].distance_mm < 0
    assert "spinal_cord" in found["spinal_cord"].message
