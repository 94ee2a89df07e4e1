"""Tissue at a point: label-map structure where labelled, else the HU class from resources/tissue_classes.json."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from osteoplan.core.imaging.case import Case
from osteoplan.core.errors import ResourceError
from osteoplan.core.imaging.io import LabelMap
from osteoplan.core.imaging.phantom import build_phantom
from osteoplan.core.resources import load_json_resource
from osteoplan.core.imaging.tissue import (OUTSIDE, TISSUE_RESOURCE, TissueLookup, hu_class_name, parse_tissue_classes,
                                   tissue_at, tissue_classes, tissues_at)


@pytest.fixture(scope="module")
def spine():
    return build_phantom("spine", 1.6)


@pytest.fixture(scope="module")
def labelled(spine) -> Case:
    return Case(spine.ct, LabelMap(spine.labels, dict(spine.label_names)))


@pytest.fixture(scope="module")
def unlabelled(spine) -> Case:
    return Case(spine.ct)


# --- the HU table ---------------------------------------------------------------------
def test_resource_covers_every_hu_value_with_a_sourced_class():
    classes = tissue_classes()
    assert [c.id for c in classes.classes] == ["air", "lung", "fat", "fluid", "soft_tissue", "cancellous_bone",
                                               "cortical_bone"]
    assert all(c.source.strip() for c in classes.classes)
    assert classes.classes[0].hu_min is None and classes.classes[-1].hu_max is None


@pytest.mark.parametrize("hu, name", [(-3000, "air"), (-1000, "air"), (-700, "lung"), (-100, "fat"), (0, "fluid"),
                                      (50, "soft tissue"), (149.9, "soft tissue"), (150, "cancellous bone"),
                                      (300, "cancellous bone"), (699.9, "cancellous bone"), (700, "cortical bone"),
                                      (3000, "cortical bone")])
def test_hu_classes_are_half_open_ranges(hu, name):
    assert hu_class_name(hu) == name


def _resource_with(edit) -> dict:
    data = copy.deepcopy(load_json_resource(TISSUE_RESOURCE))
    edit(data["classes"])
    return data


@pytest.mark.parametrize("edit", [
    lambda c: c[2].update(hu_min=-150),  # gap after lung
    lambda c: c[2].update(hu_min=-250),  # overlap with lung
    lambda c: c[0].update(hu_min=-2000),  # the lowest class must be unbounded
    lambda c: c[-1].update(hu_max=4000),  # the highest too
    lambda c: c[3].pop("source"),
    lambda c: c[3].update(source=""),
    lambda c: c.reverse(),
])
def test_invalid_tables_are_refused_with_a_resource_error(edit):
    with pytest.raises(ResourceError, match=TISSUE_RESOURCE):
        parse_tissue_classes(_resource_with(edit))


# --- points of a case -----------------------------------------------------------------
def test_labelled_points_read_their_structure(spine, labelled):
    points = spine.landmarks
    assert tissue_at(labelled, points["lesion_center"]) == "lesion"
    assert tissue_at(labelled, points["L2_pedicle_left_center"]) == "vertebrae_L2"
    assert tissue_at(labelled, points["canal_center_L2"]) == "spinal_canal"
    assert tissue_at(labelled, points["aorta_center_L2"]) == "aorta"


def test_unlabelled_points_read_their_hu_class(labelled, unlabelled, spine):
    in_air = (0.0, -132.0, 0.0)  # in front of the abdominal skin, inside the grid
    assert tissue_at(labelled, in_air) == "air"
    for name in ("aorta_center_L2", "lesion_center", "L2_body_center", "canal_center_L2"):
        point = spine.landmarks[name]
        assert tissue_at(unlabelled, point) == hu_class_name(unlabelled.ct.value_at_lps(point))
    assert tissue_at(unlabelled, spine.landmarks["aorta_center_L2"]) in ("soft tissue", "fluid")  # blood 40 HU + noise
    assert tissue_at(unlabelled, spine.landmarks["L2_body_center"]).endswith("bone")
    assert tissue_at(unlabelled, (0.0, 86.0, 0.0)) == "fat"  # subcutaneous fat of the back, -108 HU


def test_points_beyond_the_grid_are_outside(labelled):
    assert tissue_at(labelled, (0.0, 0.0, 500.0)) == OUTSIDE


def test_unnamed_labels_are_called_by_their_value(spine):
    names = dict(spine.label_names)
    value = next(v for v, n in names.items() if n == "lesion")
    del names[value]
    case = Case(spine.ct, LabelMap(spine.labels, names))
    assert tissue_at(case, spine.landmarks["lesion_center"]) == f"label_{value}"


def test_many_points_at_once_match_one_by_one(labelled, spine):
    rng = np.random.default_rng(3)
    lo, hi = labelled.ct.bounds_lps()
    points = rng.uniform(lo - 20, hi + 20, size=(200, 3))
    points[:5] = [spine.landmarks[k] for k in ("lesion_center", "L2_body_center", "L3_pedicle_right_center",
                                               "canal_center_L1", "aorta_center_L2")]
    lookup = TissueLookup(labelled)
    many = tissues_at(labelled, points.reshape(10, 20, 3))
    assert many.shape == (10, 20)
    assert list(many.ravel()) == [lookup.name_at(p) for p in points]
