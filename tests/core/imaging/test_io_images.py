"""Image files: formats, dtypes, NaN, modality, dispatch and describe_image."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.fixtures import images as fx
from osteoplan.core.errors import LoadError
from osteoplan.core.imaging.io import describe_image, load_image, load_image_file

OBLIQUE = (0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0)


@pytest.mark.parametrize("name", ["ct.nii", "ct.nii.gz", "ct.nrrd", "ct.nhdr", "ct.mha", "ct.mhd"])
def test_every_format_round_trips_geometry_and_hu(tmp_path, name):
    path = fx.make_image_file(tmp_path, name, spacing=(0.8, 0.9, 2.5), origin=(-10.0, 20.0, -30.0), direction=OBLIQUE)
    loaded = load_image_file(path)
    volume = loaded.volume
    assert loaded.warnings == ()
    assert volume.size == (32, 32, 10)
    assert volume.spacing == pytest.approx((0.8, 0.9, 2.5))
    assert volume.origin == pytest.approx((-10.0, 20.0, -30.0), abs=1e-4)
    np.testing.assert_allclose(volume.direction.ravel(), OBLIQUE, atol=1e-6)
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, fx.body_phantom((10, 32, 32)))
    assert (volume.info.path, volume.info.modality) == (str(path), "CT")


@pytest.mark.parametrize(
    "dtype, expected", [(np.float32, np.int16), (np.float64, np.int16), (np.uint16, np.int16), (np.int32, np.int16),
                        (np.uint8, np.int16)],
)
def test_integral_values_become_int16(tmp_path, dtype, expected):
    array = np.clip(fx.body_phantom((4, 8, 8)), 0, 255) if dtype == np.uint8 else fx.body_phantom((4, 8, 8))
    if np.dtype(dtype).kind == "u":
        array = np.clip(array, 0, None)
    path = fx.write_image(tmp_path / "ct.nrrd", array.astype(dtype))
    assert load_image(path).volume.array.dtype == expected


def test_fractional_float64_becomes_float32_never_float64(tmp_path):
    volume = load_image(fx.make_float64_image(tmp_path, fractional=True)).volume
    assert volume.array.dtype == np.float32
    assert volume.array[0, 0, 0] == pytest.approx(-999.5)


def test_nan_and_inf_are_replaced_and_counted(tmp_path):
    loaded = load_image(fx.make_nan_image(tmp_path, n_nan=5, n_inf=3))
    array = loaded.volume.array
    assert np.isfinite(array).all() and array.min() == -1000
    (warning,) = loaded.warnings
    assert "8 voxel(s)" in warning and "5 NaN" in warning and "3 infinite" in warning and "-1000" in warning


def test_mr_file_loads_with_warning(tmp_path):
    loaded = load_image(fx.make_mr_image_file(tmp_path))
    assert loaded.volume.modality == "MR"
    assert "Hounsfield" in loaded.warnings[0]


def test_load_image_dispatches_folder_and_file(tmp_path):
    fx.make_ct_series(tmp_path / "dicom")
    path = fx.make_image_file(tmp_path, "ct.mha")
    assert load_image(tmp_path / "dicom").volume.info.uid is not None
    assert load_image(path).volume.info.uid is None
    assert load_image(str(path)).volume.size == (32, 32, 10)


def test_describe_file_has_exactly_the_documented_keys(tmp_path):
    path = fx.make_image_file(tmp_path, "ct.nii.gz")
    info = describe_image(path)
    assert set(info) == {"path", "series", "warnings"}
    (entry,) = info["series"]
    assert set(entry) == {"uid", "description", "modality", "size", "spacing", "origin", "direction", "hu_range"}
    assert entry["size"] == [32, 32, 10] and entry["hu_range"] == [-1000.0, 700.0]
    assert len(entry["direction"]) == 9 and entry["uid"] is None
    assert json.loads(json.dumps(info)) == info


def test_describe_dicom_folder(tmp_path):
    fx.make_mr_series(tmp_path)
    info = describe_image(tmp_path)
    (entry,) = info["series"]
    assert entry["modality"] == "MR" and entry["size"] == [32, 32, 8]
    assert entry["origin"] == [0.0, 0.0, 0.0] and entry["spacing"] == pytest.approx([0.7, 0.7, 2.0])
    assert any("MR" in w for w in info["warnings"])


def test_describe_skips_a_2d_series_beside_a_good_one(tmp_path):
    fx.make_ct_series(tmp_path)
    fx.write_dicom_series(tmp_path, fx.body_phantom((1, 32, 32)), series_uid="1.2.826.0.1.3680043.2.1125.7",
                          description="Scout", prefix="S")
    info = describe_image(tmp_path)
    assert len(info["series"]) == 1
    assert any("Scout" in w and "2-D" in w for w in info["warnings"])


def test_describe_raises_load_error_on_bad_input(tmp_path):
    with pytest.raises(LoadError):
        describe_image(fx.make_corrupt_file(tmp_path, "x.mha"))
