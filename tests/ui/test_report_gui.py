"""File > Export report…: the dialog, the export of the plan as it is on screen, and its errors."""

from __future__ import annotations

import pytest

from osteoplan.core.session import open_plan_session
from osteoplan.ui.report_dialog import ExportReportDialog, default_report_path, export_report_in_background
from tests.core.report.test_report import dicom_plan

pypdf = pytest.importorskip("pypdf", reason="pypdf reads the report back (pip install -e '.[test]')")


def _file_action(window, text: str):
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    return next((a for a in file_menu.actions() if a.text() == text), None)


def test_file_menu_offers_a_deidentified_export(window, tmp_path, qtbot):
    assert _file_action(window, "Export &report…") is not None
    dialog = ExportReportDialog(str(tmp_path / "r.pdf"), window)
    qtbot.addWidget(dialog)
    assert not dialog.identify and dialog.out_path == str(tmp_path / "r.pdf")
    dialog.identify_box.setChecked(True)
    assert dialog.identify


def test_export_writes_the_plan_on_screen_with_unsaved_edits(window, tmp_path, qtbot):
    session, _ = open_plan_session(dicom_plan(tmp_path))
    window.set_case(session.case, session)
    assert default_report_path(window) == str(tmp_path / "plan-report.pdf")
    session.editor.rename("t1", "Renamed but not saved")
    out = tmp_path / "out" / "report.pdf"
    out.parent.mkdir()
    assert export_report_in_background(window, str(out), identify=True) is not None
    qtbot.waitUntil(lambda: "Report written" in window.statusBar().currentMessage(), timeout=240_000)
    text = " ".join(" ".join(p.extract_text().split()) for p in pypdf.PdfReader(str(out)).pages)
    assert "Renamed but not saved" in text and "Quixby, Zorblatt" in text
    assert f"{tmp_path / 'plan.json'} (with unsaved changes)" in text  # the plan named, not its temporary copy
    assert session.plan.trajectory("t1").name == "Renamed but not saved"  # the window's plan is untouched


def test_export_to_a_missing_folder_says_so(window, tmp_path):
    assert export_report_in_background(window, str(tmp_path / "missing" / "r.pdf"), identify=False) is None
    title, text = window.last_message
    assert title == "Report not written" and "does not exist" in text


def test_the_report_warns_with_the_preferences_in_force(window, tmp_path, qtbot):
    """The child process that writes the report gets the user's default thresholds (Preferences)."""
    from osteoplan.core.safety.structures import set_user_threshold_defaults

    session, _ = open_plan_session(dicom_plan(tmp_path))
    window.set_case(session.case, session)
    set_user_threshold_defaults({"skin": {"needle": (1000.0, None)}})  # every needle crosses the skin: a warning
    try:
        out = tmp_path / "report.pdf"
        assert export_report_in_background(window, str(out), identify=False) is not None
        qtbot.waitUntil(lambda: "Report written" in window.statusBar().currentMessage(), timeout=240_000)
    finally:
        set_user_threshold_defaults({})
    text = " ".join(" ".join(p.extract_text().split()) for p in pypdf.PdfReader(str(out)).pages)
    assert "[your settings]" in text and "skin (auto)" in text  # the needle crosses the skin: by the user's rule
