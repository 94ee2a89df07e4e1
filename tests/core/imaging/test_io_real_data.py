"""The real CT cases in ../shared/data (skipped when that folder is absent)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from tests.conftest import shared_data_path
from tests.fixtures.images import read_position
from osteoplan.core.imaging.io import describe_image, list_dicom_series, load_image, load_label_map

pytestmark = pytest.mark.shared_data


def test_thoracolumbar_dicom_describe():
    folder = shared_data_path("ct_thoracolumbar_dicom")
    info = describe_image(folder)
    assert info["warnings"] == []
    (entry,) = info["series"]
    assert entry["modality"] == "CT" and entry["size"] == [512, 512, 20]
    assert [round(s, 3) for s in entry["spacing"]] == [0.977, 0.977, 2.0]
    assert entry["origin"] == pytest.approx([-249.5, -437.5, -804.5], abs=0.05)
    assert entry["direction"] == pytest.approx([1, 0, 0, 0, 1, 0, 0, 0, 1])
    low, high = entry["hu_range"]
    assert low == pytest.approx(-1024, abs=1) and high > 1500


def test_thoracolumbar_dicom_every_slice_at_its_image_position():
    folder = shared_data_path("ct_thoracolumbar_dicom")
    loaded = load_image(folder)
    volume = loaded.volume
    assert volume.array.dtype == np.int16 and loaded.warnings == ()
    assert volume.info.description == "CT Body 3.0" and volume.info.study_date == "20221208"
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder))
    for k, name in enumerate(files):
        np.testing.assert_allclose(volume.index_to_lps((0, 0, k)), read_position(name), atol=1e-3)
    (summary,) = list_dicom_series(folder)
    assert summary.size == volume.size and summary.n_slices == 20


def test_abdomen_nifti_and_labels():
    folder = shared_data_path("ct_abdomen_3mm_labels")
    ct = load_image(folder / "ct.nii.gz").volume
    assert ct.size == (122, 101, 30) and ct.spacing == pytest.approx((3, 3, 3))
    np.testing.assert_allclose(ct.direction, np.diag([-1.0, -1.0, 1.0]), atol=1e-6)
    assert ct.array.dtype == np.int16
    labels = load_label_map(folder / "labels.nii.gz", reference=ct)
    assert labels.names[79] == "spinal_cord" and labels.names[52] == "aorta"
    assert labels.volume.same_grid(ct)
    aorta = ct.array[labels.volume.array == 52]
    assert aorta.size > 100 and 0 < aorta.mean() < 400  # blood, with or without contrast
    vertebra = ct.array[np.isin(labels.volume.array, [30, 31, 32, 33])]
    assert vertebra.mean() > 150  # bone
    info = describe_image(folder / "ct.nii.gz")
    assert info["series"][0]["size"] == [122, 101, 30]
    assert info["series"][0]["direction"] == pytest.approx([-1, 0, 0, 0, -1, 0, 0, 0, 1])
