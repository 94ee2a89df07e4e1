"""`osteoplan report`: the PDF (read back with pypdf), de-identification, and exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from osteoplan.cli import main
from tests.core.report.test_report import SCREENSHOT_PLANS, dicom_plan

pypdf = pytest.importorskip("pypdf", reason="pypdf reads the report back (pip install -e '.[test]')")


def pdf_text(path: Path) -> tuple[list[str], int]:
    """The text of each page (words one space apart: table cells wrap), and the number of embedded images."""
    reader = pypdf.PdfReader(str(path))
    return ([" ".join(page.extract_text().split()) for page in reader.pages],
            sum(len(page.images) for page in reader.pages))


def test_report_is_deidentified_unless_asked(tmp_path, capsys):
    plan = dicom_plan(tmp_path)
    assert main(["report", str(plan), "--out", str(tmp_path / "plain.pdf")]) == 0
    assert main(["report", str(plan), "--out", str(tmp_path / "named.pdf"), "--identify"]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "plain.pdf"), str(tmp_path / "named.pdf")]
    plain = "\n".join(pdf_text(tmp_path / "plain.pdf")[0])
    named = "\n".join(pdf_text(tmp_path / "named.pdf")[0])
    for secret in ("Quixby", "Zorblatt", "ZX-99317", "1947", str(tmp_path)):
        assert secret not in plain
    assert "De-identified" in plain and "Test path" in plain
    assert "Quixby, Zorblatt" in named and "ZX-99317" in named and "1947-03-12" in named
    assert "IDENTIFIED" in named


def test_report_of_a_bilateral_plan_with_cement(tmp_path, capsys):
    data = json.loads((SCREENSHOT_PLANS / "bilateral-L2.plan.json").read_text())
    data["injections"] = [{"id": "c1", "trocar": "t1", "volume_ml": 4.0}]
    plan = tmp_path / "cement.plan.json"
    plan.write_text(json.dumps(data))
    main(["check", str(plan), "--json"])
    check = json.loads(capsys.readouterr().out)
    main(["simulate", "cement", str(plan), "--json"])
    cement = json.loads(capsys.readouterr().out)

    out = tmp_path / "report.pdf"
    assert main(["report", str(plan), "--out", str(out)]) == 0
    pages, images = pdf_text(out)
    text = "\n".join(pages)
    assert len(pages) >= 4 and all(f"Page {n} of {len(pages)}" in page for n, page in enumerate(pages, start=1))
    assert all("De-identified" in page for page in pages)
    for item in check["trajectories"]:
        assert f"Path {item['id']}:" in text
    for warning in check["warnings"]:
        assert warning["message"][:60] in text
        if warning["threshold_mm"] is not None:
            assert f"{warning['threshold_mm']:g} mm" in text
    (injection,) = cement["injections"]
    assert f"{injection['filled_ml']:.2f} mL" in text and f"{injection['lesion_fill']:.1f} %" in text
    # the four-pane view, the 3D overview and two needle views per path
    assert images >= 2 + 2 * len(check["trajectories"])


def test_report_bad_input_is_exit_code_2(tmp_path, capsys):
    plan = tmp_path / "plan.json"
    shutil.copy(SCREENSHOT_PLANS / "bilateral-L2.plan.json", plan)
    cases = [
        [str(tmp_path / "missing.json"), "--out", str(tmp_path / "r.pdf")],
        [str(plan), "--out", str(tmp_path / "no-such-folder" / "r.pdf")],
        [str(plan), "--out", str(tmp_path)],
        [str(plan), "--out", str(tmp_path / "r.png")],
        [str(plan)],
    ]
    for args in cases:
        assert main(["report", *args]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("osteoplan: error:"), err
    assert not (tmp_path / "r.pdf").exists()
