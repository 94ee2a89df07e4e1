"""A de-identified report holds none of the words of the folders and files named after the patient, nor the
patient's name, ID or dates, in its text or its metadata; a report on a CT that changed says so first."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from osteoplan.cli import main
from tests.fixtures.images import body_phantom, make_image_file, write_dicom_series

pypdf = pytest.importorskip("pypdf", reason="pypdf reads the report back (pip install -e '.[test]')")

PATIENT = {"patient_name": "DOE^JOHN^QUENTIN", "patient_id": "PID4471X", "birth_date": "19610203",
           "study_date": "20240131", "description": "CT Body 3.0"}
SECRETS = ("DOE", "JOHN", "QUENTIN", "PID4471X", "19610203", "1961", "20240131", "2024-01-31", "MRN88213",
           "smith_case")


def _plan(folder: Path, image: str) -> Path:
    plan = {"format": "osteoplan.plan", "version": 1, "image": {"path": image},
            "trajectories": [{"id": "t1", "name": "Test path", "kind": "free", "entry_lps": [11.0, 0.5, 9.0],
                              "target_lps": [11.0, 14.0, 9.0], "device": "trocar-11g-100"}]}
    path = folder / "DOE_JOHN_plan.json"
    path.write_text(json.dumps(plan))
    return path


def _text_and_metadata(pdf: Path) -> str:
    reader = pypdf.PdfReader(str(pdf))
    return "\n".join([*(page.extract_text() for page in reader.pages),
                      *(str(value) for value in (reader.metadata or {}).values())])


def _everything_in(pdf: Path) -> str:
    """The PDF's text and metadata, and its raw bytes read as Latin-1 and UTF-16 (titles are stored that way)."""
    raw = pdf.read_bytes()
    return "\n".join([_text_and_metadata(pdf), raw.decode("latin-1"), raw.decode("utf-16-be", errors="ignore"),
                      raw[1:].decode("utf-16-be", errors="ignore")])


def _assert_nothing_identifying(pdf: Path) -> None:
    text, raw = _text_and_metadata(pdf).upper(), _everything_in(pdf).upper()
    assert not [s for s in SECRETS if s.upper() in text]
    # the raw bytes hold numbers of their own (the cross-reference offsets): only words are looked for there
    assert not [s for s in SECRETS if not s.replace("-", "").isdigit() and s.upper() in raw]


def test_a_dicom_series_in_a_folder_named_after_the_patient_leaves_no_trace(tmp_path, capsys):
    folder = tmp_path / "DOE_JOHN_19610203" / "MRN88213" / "smith_case"
    array = body_phantom((10, 32, 32))
    positions = np.array([[0.0, 0.0, 2.0 * k] for k in range(10) if k != 4])  # a missing slice: a load warning
    write_dicom_series(folder, array[[k for k in range(10) if k != 4]], positions=positions, **PATIENT)
    plan = _plan(folder.parent, str(folder))
    out = tmp_path / "report.pdf"
    assert main(["report", str(plan), "--out", str(out)]) == 0
    _assert_nothing_identifying(out)
    text = " ".join(" ".join(page.extract_text().split()) for page in pypdf.PdfReader(str(out)).pages)
    assert "CT Body 3.0" in text and "Loaded with warnings" in text and "[withheld]" in text
    # identified on request: the same report names the patient
    assert main(["report", str(plan), "--out", str(tmp_path / "named.pdf"), "--identify"]) == 0
    assert "PID4471X" in _everything_in(tmp_path / "named.pdf")


def test_a_nifti_without_description_is_not_titled_by_its_path(tmp_path, capsys):
    folder = tmp_path / "DOE_JOHN_19610203"
    folder.mkdir()
    image = make_image_file(folder, "DOE_JOHN_ct.nii.gz", shape_kji=(10, 32, 32))
    out = tmp_path / "report.pdf"
    assert main(["report", str(_plan(folder, str(image))), "--out", str(out)]) == 0
    _assert_nothing_identifying(out)
    assert "CT (no description)" in " ".join(pypdf.PdfReader(str(out)).pages[0].extract_text().split())


def test_a_report_on_a_ct_that_changed_says_so_on_its_first_page(tmp_path, capsys):
    image = make_image_file(tmp_path, "ct.nii.gz", shape_kji=(10, 32, 32))
    plan = _plan(tmp_path, str(image))
    data = json.loads(plan.read_text())
    data["image"]["content_hash"] = "sha256:" + "0" * 64  # what the plan was made on: another CT
    plan.write_text(json.dumps(data))
    out = tmp_path / "report.pdf"
    assert main(["report", str(plan), "--out", str(out)]) == 0
    first = " ".join(pypdf.PdfReader(str(out)).pages[0].extract_text().split())
    assert "STOP: The CT is not the one this plan was made on" in first
    assert "NOT this CT" in first
