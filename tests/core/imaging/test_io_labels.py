"""Label maps: integer labels, names from labels.json, grid checked against the CT."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures import images as fx
from osteoplan.core.errors import LoadError
from osteoplan.core.imaging.io import LabelMap, load_image, load_label_map, read_label_names


def test_label_map_loads_on_the_ct_grid_with_names(tmp_path):
    ct_path, label_path = fx.make_label_case(tmp_path)
    ct = load_image(ct_path).volume
    labels = load_label_map(label_path, reference=ct)
    assert isinstance(labels, LabelMap)
    assert labels.volume.array.dtype == np.uint8
    assert labels.volume.same_grid(ct)
    assert labels.names == {1: "body", 2: "vertebra"}
    assert ct.array[labels.volume.array == 2].mean() == pytest.approx(700)


def test_names_default_to_label_n_without_json(tmp_path):
    _, label_path = fx.make_label_case(tmp_path)
    (tmp_path / "labels.json").unlink()
    assert load_label_map(label_path).names == {1: "label_1", 2: "label_2"}


def test_explicit_names_file_and_missing_names(tmp_path):
    _, label_path = fx.make_label_case(tmp_path, names={"2": "T12"})
    other = tmp_path / "names.json"
    other.write_text('{"1": "skin", "2": "L1", "9": "absent"}')
    assert load_label_map(label_path).names == {1: "label_1", 2: "T12"}
    assert load_label_map(label_path, names_path=other).names == {1: "skin", 2: "L1"}
    with pytest.raises(LoadError, match="Nothing found"):
        load_label_map(label_path, names_path=tmp_path / "nope.json")


def test_label_map_on_another_grid_is_refused_naming_both(tmp_path):
    ct_path, label_path = fx.make_label_case(tmp_path, shifted=True)
    ct = load_image(ct_path).volume
    with pytest.raises(LoadError) as caught:
        load_label_map(label_path, reference=ct)
    message = str(caught.value)
    assert str(label_path) in message and "does not lie on the CT's grid" in message
    assert "origin (-10.50, -12.00, 40.00)" in message and "origin (-12.00, -12.00, 40.00)" in message
    assert "label map:" in message and "CT:" in message


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"1": "body", 2: "bone"}', "not valid JSON (line 1, column "),
        ('{"one": "body"}', "key 'one', which is not an integer"),
        ('["body", "bone"]', "holds a JSON list"),
        ('{"1": 5}', "label 1 has the name 5"),
    ],
)
def test_bad_names_file(tmp_path, text, expected):
    _, label_path = fx.make_label_case(tmp_path, names_text=text)
    with pytest.raises(LoadError) as caught:
        load_label_map(label_path)
    assert expected in str(caught.value) and "labels.json" in str(caught.value)
    with pytest.raises(LoadError):
        read_label_names(tmp_path / "labels.json")


def test_an_image_is_not_a_label_map(tmp_path):
    path = fx.make_float64_image(tmp_path, fractional=True)
    with pytest.raises(LoadError, match="non-integer values"):
        load_label_map(path)


def test_float_label_file_with_integer_values_is_accepted(tmp_path):
    array = np.zeros((4, 8, 8), dtype=np.float32)
    array[1:3, 2:5, 2:5] = 300.0
    labels = load_label_map(fx.write_image(tmp_path / "seg.nrrd", array))
    assert labels.volume.array.dtype == np.uint16 and labels.names == {300: "label_300"}


def test_label_map_bad_inputs(tmp_path):
    with pytest.raises(LoadError, match="is a folder"):
        load_label_map(tmp_path)
    with pytest.raises(LoadError, match="not a label map file"):
        load_label_map(fx.make_unsupported_file(tmp_path))
    with pytest.raises(LoadError, match="2-D"):
        load_label_map(fx.make_2d_image(tmp_path))
