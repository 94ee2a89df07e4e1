"""A full disk loses nothing: the report, the screenshot and the demo case are verified before they replace the
old files, and the command says so in one line with exit code 2. The disk is made full by writing the temporary
file to /dev/full (every write fails with ENOSPC, as on a full disk; Qt's writers do not report it)."""

from __future__ import annotations

import os
import tempfile

import pytest

from osteoplan.cli import main
from osteoplan.core import atomic
from tests.core.report.test_report import dicom_plan

OLD = b"%PDF-1.4 the previous report, which must survive\n%%EOF\n"


@pytest.fixture
def full_disk(monkeypatch):
    if not os.path.exists("/dev/full"):
        pytest.skip("this system has no /dev/full to stand for a full disk")
    real = tempfile.mkstemp

    def mkstemp(suffix=None, prefix=None, dir=None, text=False):
        fd, name = real(suffix=suffix, prefix=prefix, dir=dir, text=text)
        if suffix and suffix.startswith(atomic.TEMP_SUFFIX):  # only OsteoPlan's atomic writes hit the full disk
            os.close(fd)
            os.unlink(name)
            os.symlink("/dev/full", name)
            fd = os.open(name, os.O_WRONLY)
        return fd, name

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("osteoplan: error:") and "Traceback" not in err[0], err
    return err[0]


def test_a_report_on_a_full_disk_fails_with_one_line_and_keeps_the_old_pdf(tmp_path, capsys, full_disk):
    plan = dicom_plan(tmp_path)
    old = tmp_path / "old.pdf"
    old.write_bytes(OLD)
    assert main(["report", str(plan), "--out", str(old)]) == 2
    line = _one_error_line(capsys)
    assert "old.pdf" in line and "unchanged" in line
    assert old.read_bytes() == OLD
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".old.pdf")], "no temporary file left"


def test_a_screenshot_and_the_demo_case_on_a_full_disk_keep_the_old_files(tmp_path, capsys, full_disk):
    shot = tmp_path / "shot.png"
    shot.write_bytes(b"old png")
    assert main(["screenshot", "--demo", "--out", str(shot)]) == 2
    _one_error_line(capsys)
    assert shot.read_bytes() == b"old png"
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "ct.nii.gz").write_bytes(b"old ct")
    assert main(["phantom", str(tmp_path / "demo")]) == 2
    _one_error_line(capsys)
    assert (tmp_path / "demo" / "ct.nii.gz").read_bytes() == b"old ct"
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == ["ct.nii.gz"]
