"""Bad input: every case gives a LoadError naming the path, the problem and what to do."""

from __future__ import annotations

import resource
import time

import pytest

from tests.fixtures import images as fx
from osteoplan.core.errors import LoadError
from osteoplan.core.imaging.io import MAX_DIMENSION, describe_image, load_dicom_series, load_image, load_image_file


def _error(path, loader=load_image) -> LoadError:
    with pytest.raises(LoadError) as caught:
        loader(path)
    error = caught.value
    assert type(error).__name__ in ("LoadError", "SeveralSeriesError")
    assert str(path) in str(error), "the message names the file or folder"
    return error


def test_missing_path(tmp_path):
    path = fx.make_missing_path(tmp_path)
    message = str(_error(path))
    assert "Nothing found" in message and "check the name" in message
    _error(path, load_dicom_series)
    _error(path, describe_image)


def test_missing_path_and_folder(tmp_path):
    assert "disconnected" in str(_error(tmp_path / "gone" / "ct.nii.gz"))


def test_empty_folder(tmp_path):
    message = str(_error(fx.make_empty_folder(tmp_path)))
    assert "is empty" in message and "DICOM" in message


def test_folder_without_dicom(tmp_path):
    folder = fx.make_folder_without_dicom(tmp_path)
    message = str(_error(folder))
    assert "3 file(s) but no DICOM image" in message and "notes.txt" in message


def test_folder_without_dicom_points_at_image_files(tmp_path):
    folder = fx.make_folder_without_dicom(tmp_path)
    fx.make_image_file(folder, "ct.nii.gz")
    assert "open one of those files" in str(_error(folder)) and "ct.nii.gz" in str(_error(folder))


@pytest.mark.parametrize("name", ["ct.nii.gz", "ct.mha", "ct.nrrd", "slice.dcm"])
def test_corrupt_file(tmp_path, name):
    message = str(_error(fx.make_corrupt_file(tmp_path, name)))
    assert "could not be read as a" in message and ("corrupt" in message)


@pytest.mark.parametrize("name", ["ct.mha", "ct.mhd", "ct.nii.gz", "ct.nii", "ct.nrrd"])
def test_truncated_file(tmp_path, name):
    message = str(_error(fx.make_truncated_file(tmp_path, name)))
    assert "truncated" in message and "again" in message


def test_bad_files_print_nothing_on_the_console(tmp_path, capfd):
    paths = [fx.make_truncated_file(tmp_path / "t", name) for name in ("a.mha", "b.mhd", "c.nii.gz", "d.nrrd")]
    paths += [fx.make_corrupt_file(tmp_path / "c", name) for name in ("a.mha", "b.nii.gz", "c.dcm", "d.nrrd")]
    paths += [fx.make_2d_image(tmp_path), fx.make_absurd_header(tmp_path / "h")]
    for path in paths:
        with pytest.raises(LoadError):
            load_image(path)
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("name", ["scan.png", "scan.stl", "notes"])
def test_unsupported_extension(tmp_path, name):
    message = str(_error(fx.make_unsupported_file(tmp_path, name)))
    assert "does not read" in message and ".nii.gz" in message and "DICOM folder" in message


def test_raw_half_of_a_metaimage_points_at_its_header(tmp_path):
    path = fx.make_image_file(tmp_path, "ct.mhd")
    assert "open its header file (.mhd)" in str(_error(path.with_suffix(".raw")))


@pytest.mark.parametrize("name", ["slice.mha", "slice.nii", "slice.nrrd"])
def test_2d_image_file_refused(tmp_path, name):
    message = str(_error(fx.make_2d_image(tmp_path, name)))
    assert "2-D image (32 x 32 pixels)" in message and "3-D" in message


def test_absurd_header_refused_before_allocating(tmp_path):
    path = fx.make_absurd_header(tmp_path)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    message = str(_error(path))
    assert time.perf_counter() - start < 2.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB: nothing big was allocated
    assert "100000 x 100000 x 100000" in message and "GiB" in message


def test_one_overlong_axis_refused(tmp_path):
    path = fx.make_absurd_header(tmp_path, "long.mhd", dims=(MAX_DIMENSION + 1, 2, 2))
    assert f"{MAX_DIMENSION + 1} x 2 x 2" in str(_error(path))


def test_dicom_loader_refuses_an_image_file_folder_clearly(tmp_path):
    path = fx.make_image_file(tmp_path, "ct.nii.gz")
    with pytest.raises(LoadError, match="no DICOM image"):
        load_dicom_series(tmp_path)
    assert load_image_file(path).volume.size == (32, 32, 10)


def test_no_other_exception_type_escapes(tmp_path):
    bad = [
        fx.make_missing_path(tmp_path), fx.make_empty_folder(tmp_path), fx.make_folder_without_dicom(tmp_path),
        fx.make_corrupt_file(tmp_path, "a.nii.gz"), fx.make_corrupt_file(tmp_path, "a.dcm"),
        fx.make_truncated_file(tmp_path / "t", "a.mha"), fx.make_unsupported_file(tmp_path),
        fx.make_2d_image(tmp_path), fx.make_absurd_header(tmp_path / "h"),
    ]
    for path in bad:
        for loader in (load_image, describe_image):
            with pytest.raises(LoadError):
                loader(path)


def test_native_noise_on_stderr_is_dropped_and_the_rest_kept(capfd):
    import os

    from osteoplan.core.imaging.io.common import quiet_sitk

    with quiet_sitk():
        os.write(2, b"Unsupported JPEG data precision 12\n" * 3)  # GDCM on every slice of a 12-bit JPEG series
        os.write(2, b"a real problem from a library\n")
    err = capfd.readouterr().err
    assert "JPEG data precision" not in err and err.count("a real problem from a library") == 1


def test_a_rescale_slope_beyond_any_ct_number_is_refused():
    from osteoplan.core.imaging.io.dicom import _check_rescale

    class Header:  # the tags of a DICOM header, as a SimpleITK reader gives them
        def __init__(self, tags):
            self.tags = tags

        def HasMetaDataKey(self, key):  # noqa: N802 - SimpleITK's spelling
            return key in self.tags

        def GetMetaData(self, key):  # noqa: N802
            return self.tags[key]

    with pytest.raises(LoadError, match="RescaleSlope 1e\\+38"):
        _check_rescale(Header({"0028|1053": "1e38", "0028|1052": "0", "0028|0101": "16"}), "the series")
    _check_rescale(Header({"0028|1053": "1", "0028|1052": "-1024", "0028|0101": "16"}), "the series")
    _check_rescale(Header({"0028|1053": "0.5", "0028|1052": "-1024", "0028|0101": "12"}), "the series")
