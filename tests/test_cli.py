"""The `osteoplan` command as scripts use it: output formats are contracts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from tests.conftest import shared_data_path
from osteoplan.cli import main

INFO_SERIES_KEYS = {"uid", "description", "modality", "size", "spacing", "origin", "direction", "hu_range"}


def _run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-m", "osteoplan", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_info_json_on_the_real_dicom_series(capsys):
    folder = shared_data_path("ct_thoracolumbar_dicom")
    assert main(["info", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"path", "series", "warnings"}
    assert len(report["series"]) == 1
    series = report["series"][0]
    assert set(series) == INFO_SERIES_KEYS
    assert series["modality"] == "CT"
    assert series["size"] == [512, 512, 20]
    assert [round(s, 3) for s in series["spacing"]] == [0.977, 0.977, 2.0]
    assert np.allclose(series["origin"], [-249.5, -437.5, -804.5], atol=0.5)
    assert len(series["direction"]) == 9
    assert series["hu_range"][0] <= -1000 and series["hu_range"][1] > 1500


def test_info_json_on_a_nifti_file(capsys):
    path = shared_data_path("ct_abdomen_3mm_labels", "ct.nii.gz")
    assert main(["info", str(path), "--json"]) == 0
    series = json.loads(capsys.readouterr().out)["series"][0]
    assert series["size"] == [122, 101, 30]
    assert series["direction"] == pytest.approx([-1, 0, 0, 0, -1, 0, 0, 0, 1])


@pytest.mark.parametrize(
    "args",
    [
        ["info", "/no/such/folder", "--json"],
        ["info"],
        ["screenshot", "--demo", "--out", "x.png", "--size", "huge"],
        ["--demo", "knee"],
    ],
)
def test_bad_input_gives_exit_code_2_and_one_line(args, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("osteoplan: error:") and err.count("\n") == 1
    assert "Traceback" not in err


def test_info_on_a_corrupt_file_in_a_real_process(tmp_path):
    broken = tmp_path / "scan.nii.gz"
    broken.write_bytes(b"\x1f\x8b" + os.urandom(200))
    result = _run_cli("info", str(broken), "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "scan.nii.gz" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_phantom_command_writes_a_readable_case(tmp_path, capsys):
    assert main(["phantom", str(tmp_path / "demo"), "--case", "spine"]) == 0
    written = {p.split("/")[-1] for p in capsys.readouterr().out.split()}
    assert written == {"ct.nii.gz", "labels.nii.gz", "labels.json"}
    ct = sitk.ReadImage(str(tmp_path / "demo" / "ct.nii.gz"))
    labels = sitk.ReadImage(str(tmp_path / "demo" / "labels.nii.gz"))
    assert ct.GetSize() == labels.GetSize()
    assert np.allclose(ct.GetSpacing(), 0.8, atol=0.05)
    names = json.loads((tmp_path / "demo" / "labels.json").read_text())
    assert "lesion" in names.values() and "aorta" in names.values()


@pytest.mark.gui
def test_screenshot_of_the_demo_in_a_real_process(tmp_path):
    out = tmp_path / "four-up.png"
    result = _run_cli("screenshot", "--demo", "--out", str(out), "--size", "900x700", timeout=300)
    assert result.returncode == 0, result.stderr
    image = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    assert image.shape[:2] == (700, 900)
    # four panes of real content: each quadrant of the central area has structure, not one colour
    body = image[60:-30]
    h, w = body.shape[0] // 2, body.shape[1] // 2
    for quadrant in (body[:h, :w], body[:h, w:], body[h:, :w], body[h:, w:]):
        assert quadrant.std() > 10
