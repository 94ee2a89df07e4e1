"""File > Export report…: where to write the PDF and whether to include the patient's identity.

The report is written by `osteoplan report` in a child process, on a copy of the plan as it
is now (unsaved edits included): the same code as the command line, images rendered
offscreen at print size, and the planning window stays usable and unchanged meanwhile.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QVBoxLayout)

from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.safety.structures import user_threshold_defaults
from osteoplan.ui.report_pdf import PROGRESS_PREFIX, ReportError, check_output_path

if TYPE_CHECKING:
    from osteoplan.ui.window_api import PlanningWindow

LAST_FOLDER_KEY = "report/last_folder"


class ExportReportDialog(QDialog):
    def __init__(self, default_path: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export report")
        self.path_edit = QLineEdit(default_path)
        self.path_edit.setToolTip("The PDF file to write")
        self.path_edit.setMinimumWidth(420)
        browse = QPushButton("Browse…")
        browse.setToolTip("Choose where to write the PDF")
        browse.clicked.connect(self._browse)
        self.identify_box = QCheckBox("Include patient identity (name, ID, birth and study dates, file paths)")
        self.identify_box.setToolTip("Off: a de-identified report, safe to share. On: for the patient's record only.")
        note = QLabel("The report holds the case summary, every path with its readouts and warnings, the cement and "
                      "ablation simulations, and the views. It is de-identified unless you tick the box.")
        note.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Save the report as:"))
        layout.addLayout(row)
        layout.addWidget(self.identify_box)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export report", self.path_edit.text(), "PDF (*.pdf)")
        if path:
            self.path_edit.setText(path if path.lower().endswith(".pdf") else path + ".pdf")

    @property
    def out_path(self) -> str:
        return self.path_edit.text().strip()

    @property
    def identify(self) -> bool:
        return self.identify_box.isChecked()


def default_report_path(window: "PlanningWindow") -> str:
    session = window.session
    if session is not None and session.plan_path is not None:
        stem = Path(session.plan_path).name.split(".")[0]
        return str(Path(session.plan_path).with_name(f"{stem}-report.pdf"))
    folder = QSettings().value(LAST_FOLDER_KEY) or str(Path.home())
    return str(Path(folder) / "osteoplan-report.pdf")


def export_report_dialog(window: "PlanningWindow") -> None:
    if window.session is None:
        window.show_message("No plan", "Open a case (and plan its paths) before exporting a report.")
        return
    dialog = ExportReportDialog(default_report_path(window), window)
    if dialog.exec() == QDialog.DialogCode.Accepted:
        export_report_in_background(window, dialog.out_path, dialog.identify)


def _osteoplan_command() -> list[str]:
    """How to run `osteoplan` from here: the bundle's own executable, else this Python's module."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "osteoplan"]


def export_report_in_background(window: "PlanningWindow", out_path: str, identify: bool):
    """Write the report of the window's plan to `out_path` in a child process, with progress; a status-bar
    message when done, a message box on failure. Returns the task (None when the input is refused)."""
    from osteoplan.core.files.plan_file import save_plan
    from osteoplan.ui import loading

    session = window.session
    try:
        out = check_output_path(out_path)
        folder = Path(tempfile.mkdtemp(prefix="osteoplan-report-"))
        plan_copy = folder / "plan.json"
        save_plan(session.plan, plan_copy)  # as it is now, unsaved edits included
    except OsteoPlanError as exc:
        window.show_message("Report not written", str(exc))
        return None
    QSettings().setValue(LAST_FOLDER_KEY, str(out.parent.resolve()))
    unsaved = window.plan_files.has_unsaved_changes or session.plan_path is None
    label = "(unsaved plan)" if session.plan_path is None else str(session.plan_path) + (
        " (with unsaved changes)" if unsaved else "")
    command = [*_osteoplan_command(), "report", str(plan_copy), "--out", str(out), "--progress",
               "--plan-label", label, *(["--identify"] if identify else [])]
    if user_threshold_defaults():  # the Preferences in force here, so that the report warns as the window does
        defaults_file = folder / "threshold-defaults.json"
        defaults_file.write_text(json.dumps(user_threshold_defaults()), encoding="utf-8")
        command += ["--threshold-defaults", str(defaults_file)]

    def work(progress):
        # offscreen whatever this process runs on: the child never shows a window
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "VTK_DEFAULT_OPENGL_WINDOW": "vtkEGLRenderWindow",
               "PYTHONIOENCODING": "utf-8"}
        try:
            # stderr into a file: a pipe nobody reads until the end could fill up and stall the child
            with tempfile.TemporaryFile("w+", encoding="utf-8") as stderr:
                child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, env=env,
                                         encoding="utf-8", errors="replace")
                for line in child.stdout:
                    if line.startswith(PROGRESS_PREFIX):
                        fraction, _, message = line[len(PROGRESS_PREFIX):].strip().partition(" ")
                        progress(float(fraction), message)
                child.wait()
                stderr.seek(0)
                errors = stderr.read()
            if child.returncode != 0:
                problem = next((e for e in reversed(errors.splitlines()) if "error" in e), errors.strip())
                return ReportError(problem.removeprefix("osteoplan: ").removeprefix("error: ")
                                   or f"the report command ended with code {child.returncode}")
            return out
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def done(result) -> None:
        if isinstance(result, ReportError):
            window.show_message("Report not written", str(result))
            return
        window.statusBar().showMessage(f"Report written: {result}" + ("" if identify else " (de-identified)"), 15000)

    return loading.run_task(window, "Writing the report…", work, done)
