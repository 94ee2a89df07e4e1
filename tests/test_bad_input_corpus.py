"""The corpus of bad inputs (issue 14, items 8-14), made at test time and run through the command line: each is
exit code 2 with one clear line (or 0/1 with the expected warning), never a traceback, an internal error (3), a
signal or a hang, and no existing file is damaged."""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import nibabel
import numpy as np
import pytest
import SimpleITK as sitk

from osteoplan.cli import main
from tests.fixtures.images import body_phantom, make_image_file, write_dicom_series, write_image


def _retag(folder: Path, key: str, value: str) -> None:
    """Rewrite one DICOM tag in every file of a fixture series."""
    for path in sorted(folder.glob("*.dcm")):
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        image = reader.Execute()
        for k in reader.GetMetaDataKeys():
            image.SetMetaData(k, reader.GetMetaData(k))
        image.SetMetaData(key, value)
        writer = sitk.ImageFileWriter()
        writer.KeepOriginalImageUIDOn()
        writer.SetFileName(str(path))
        writer.Execute(image)


def _nifti_with_pixdim(path: Path, pixdim) -> Path:
    nibabel.save(nibabel.Nifti1Image(body_phantom((10, 32, 32)).T.astype(np.int16), np.eye(4)), str(path))
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[80:92] = struct.pack("<3f", *pixdim)
    raw[252:256] = struct.pack("<hh", 0, 0)  # no qform/sform: pixdim is the geometry
    path.write_bytes(gzip.compress(bytes(raw)))
    return path


def _plan(folder: Path, image: str, trajectories=()) -> Path:
    path = folder / "plan.json"
    path.write_text(json.dumps({"format": "osteoplan.plan", "version": 1, "image": {"path": image},
                                "trajectories": list(trajectories)}))
    return path


# --- the corpus: name -> (make(folder) -> argv, expected exit codes, words the output must hold) ----------------
def nan_position(folder):
    write_dicom_series(folder / "s", body_phantom((10, 32, 32)))
    _retag(folder / "s", "0020|0032", "nan\\nan\\nan")
    return ["info", str(folder / "s")]


def one_position(folder):
    write_dicom_series(folder / "s", body_phantom((10, 32, 32)), positions=np.zeros((10, 3)))
    return ["info", str(folder / "s")]


def too_deep(folder):
    write_dicom_series(folder / "a" / "b" / "c" / "d" / "e", body_phantom((10, 32, 32)))
    return ["info", str(folder / "a")]


def pixdim_zero(folder):
    return ["info", str(_nifti_with_pixdim(folder / "ct.nii.gz", (0.0, 0.7, 2.0)))]


def pixdim_nan(folder):
    return ["info", str(_nifti_with_pixdim(folder / "ct.nii.gz", (float("nan"), 1.0, 1.0)))]


def corrupt_gzip(folder):
    rng = np.random.default_rng(0)
    path = write_image(folder / "ct.nii.gz", rng.integers(-1000, 1000, (40, 64, 64)).astype(np.int16))
    data = bytearray(path.read_bytes())
    for i in range(64):
        data[len(data) // 2 + i] ^= 0xFF
    path.write_bytes(bytes(data))
    return ["info", str(path)]


def nan_in_nifti(folder):
    array = body_phantom((10, 32, 32)).astype(np.float32)
    array[0, 0, :5], array[1, 1, :3] = np.nan, np.inf
    nibabel.save(nibabel.Nifti1Image(array.T, np.eye(4)), str(folder / "ct.nii.gz"))
    return ["info", str(folder / "ct.nii.gz")]


def one_voxel(folder):
    return ["info", str(write_image(folder / "ct.nii.gz", np.zeros((1, 1, 1), np.int16)))]


def data_file_elsewhere(folder):
    (folder / "ct.mhd").write_text("ObjectType = Image\nNDims = 3\nDimSize = 4 4 4\nElementType = MET_UCHAR\n"
                                   "ElementDataFile = /etc/passwd\n")
    return ["info", str(folder / "ct.mhd")]


def fifo(folder):
    os.mkfifo(folder / "ct.nii.gz")
    return ["info", str(folder / "ct.nii.gz")]


def symlink_loop(folder):
    os.symlink(folder / "b", folder / "a")
    os.symlink(folder / "a", folder / "b")
    return ["info", str(folder / "a")]


def unknown_demo(folder):
    return ["check", str(_plan(folder, "demo:nothing"))]


def tip_outside_the_ct(folder):
    make_image_file(folder, "ct.nii.gz")
    return ["check", str(_plan(folder, "ct.nii.gz", [
        {"id": "t1", "kind": "transpedicular", "entry_lps": [500, 500, 500], "target_lps": [560, 500, 500],
         "device": "trocar-11g-150"}]))]


def absurd_coordinates(folder):
    make_image_file(folder, "ct.nii.gz")
    return ["check", str(_plan(folder, "ct.nii.gz", [
        {"id": "t1", "kind": "free", "entry_lps": [1e308, 0, 0], "target_lps": [0, 0, 0], "device": "trocar-11g-150"}]))]


def tiny_ct(folder):
    make_image_file(folder, "ct.nii.gz", shape_kji=(2, 2, 2))
    return ["check", str(_plan(folder, "ct.nii.gz"))]


def float_ct(folder):
    write_image(folder / "ct.nii.gz", body_phantom((10, 32, 32)).astype(np.float32) + 0.5)
    return ["check", str(_plan(folder, "ct.nii.gz"))]


def two_labels_one_name(folder):
    make_image_file(folder, "ct.nii.gz")
    labels = np.zeros((10, 32, 32), np.uint8)
    labels[2:4, 5:10, 5:10], labels[5:7, 5:10, 5:10] = 1, 2
    write_image(folder / "labels.nii.gz", labels)
    (folder / "labels.json").write_text(json.dumps({"1": "aorta", "2": "aorta"}))
    plan = _plan(folder, "ct.nii.gz")
    data = json.loads(plan.read_text())
    data["labels"] = {"path": "labels.nii.gz"}
    plan.write_text(json.dumps(data))
    return ["check", "--json", str(plan)]


def screenshot_into_a_folder(folder):
    return ["screenshot", "--demo", "--out", str(folder)]


CORPUS = {  # name: (maker, accepted exit codes, a phrase the output must hold)
    "DICOM ImagePositionPatient 'nan'": (nan_position, {0}, "no ImagePositionPatient"),
    "DICOM: all slices at one position": (one_position, {2}, "lie at one position"),
    "DICOM series 5 folders deep": (too_deep, {2}, "goes deeper"),
    "NIfTI pixdim 0": (pixdim_zero, {0}, "no valid voxel size"),
    "NIfTI pixdim NaN": (pixdim_nan, {0}, "no valid voxel size"),
    ".nii.gz with 64 flipped bytes": (corrupt_gzip, {2}, "integrity check"),
    "NaN/Inf voxels in a NIfTI": (nan_in_nifti, {0}, "not finite"),
    "a 1 x 1 x 1 image": (one_voxel, {2}, "2-D image (1 pixels)"),
    ".mhd whose data file is /etc/passwd": (data_file_elsewhere, {2}, "outside its own folder"),
    "a FIFO named like an image": (fifo, {2}, "not a regular file"),
    "a symlink loop": (symlink_loop, {2}, "Nothing found"),
    "plan image demo:nothing": (unknown_demo, {2}, "no built-in demo case"),
    "a transpedicular path outside the CT": (tip_outside_the_ct, {1}, "tip lies outside the CT"),
    "coordinates of 1e308": (absurd_coordinates, {2}, "within 10000 mm"),
    "a 2 x 2 x 2 CT": (tiny_ct, {0, 2}, ""),
    "a float CT": (float_ct, {0}, ""),
    "screenshot --out a folder": (screenshot_into_a_folder, {2}, "is a folder"),
    "two labels with one name": (two_labels_one_name, {0}, '"vascular"'),
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_each_bad_input_is_a_clear_line_never_a_crash(name, tmp_path, capsys):
    make, codes, phrase = CORPUS[name]
    folder = tmp_path / "case"
    folder.mkdir()
    witness = tmp_path / "keep.txt"  # an existing file nothing may damage
    witness.write_text("untouched")
    argv = make(folder)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code in codes, (name, code, err)
    assert "Traceback" not in out + err and "internal error" not in err, err
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and err.startswith("osteoplan: error:"), err
    assert phrase in out + err, (name, out, err)
    assert witness.read_text() == "untouched"


def test_a_nan_position_series_renders_without_a_signal(tmp_path):
    """The GUI once segfaulted on it: a real offscreen process renders it."""
    nan_position(tmp_path)
    run = subprocess.run([sys.executable, "-m", "osteoplan", "screenshot", str(tmp_path / "s"), "--out",
                          str(tmp_path / "shot.png")], capture_output=True, text=True, timeout=180,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "shot.png").stat().st_size > 1000


def test_a_closed_pipe_is_not_an_error(monkeypatch, capsys):
    """`osteoplan devices | head -1`: the reader closed the pipe; no error, no traceback."""
    import io

    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["devices"]) == 0
    assert capsys.readouterr().err == ""


def test_ctrl_c_during_a_report_exits_130_with_one_line_and_no_partial_file(tmp_path):
    import signal
    import time

    from tests.core.report.test_report import dicom_plan

    plan = dicom_plan(tmp_path)
    out = tmp_path / "report.pdf"
    run = subprocess.Popen([sys.executable, "-m", "osteoplan", "report", str(plan), "--out", str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ,
                                                                                 "QT_QPA_PLATFORM": "offscreen"})
    time.sleep(2.5)  # inside the rendering
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    if run.returncode == 0:
        pytest.skip("the report was finished before the interrupt arrived")
    assert run.returncode == 130 and err.decode().strip() == "osteoplan: interrupted"
    assert not out.exists() and not list(tmp_path.glob(".report.pdf.*"))
