"""File menu actions for 3D Slicer: import/export markups, export the structures as a segmentation.

The work is done by `core.io.slicer_markups` and `core.io.slicer_segmentation`; this module
asks for the files, puts the imported paths into the plan as one undo step, and shows the
landmarks (point lists) in a small window whose entries put the cursor on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QLabel, QListWidget, QListWidgetItem,
                               QMessageBox, QVBoxLayout)

from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.files.slicer_markups import ImportedMarkups, Landmark, add_imported, export_markups, import_markups

if TYPE_CHECKING:
    from osteoplan.ui.window_api import PlanningWindow

MARKUPS_FILTER = "3D Slicer markups (*.mrk.json *.json);;All files (*)"
SEGMENTATION_FILTER = "3D Slicer segmentation (*.seg.nrrd);;Label map (*.nii.gz *.nrrd)"


def add_file_actions(window: "PlanningWindow", menu) -> None:
    """The Slicer entries of the File menu."""
    actions = [
        menu.addAction("Import &markups (3D Slicer)…", lambda: import_markups_dialog(window)),
        menu.addAction("E&xport markups (3D Slicer)…", lambda: export_markups_dialog(window)),
        menu.addAction("Export s&tructures as segmentation (3D Slicer)…", lambda: export_segmentation_dialog(window)),
    ]
    tips = ["Add the lines of Slicer .mrk.json files as needle paths (entry = first point, target = second; "
            "undoable); point lists become landmarks the cursor can jump to",
            "Write one Slicer markups line (.mrk.json, LPS) per needle path into a folder, with its device",
            "Write the structures as a Slicer .seg.nrrd (names and colours for the Segment Editor) and a colour table"]
    for action, tip in zip(actions, tips):
        action.setToolTip(tip)
        action.setStatusTip(tip)


# --- import -------------------------------------------------------------------------------------
def import_markups_dialog(window: "PlanningWindow") -> None:
    if _require_session(window, "Import markups"):
        paths, _ = QFileDialog.getOpenFileNames(window, "Import 3D Slicer markups", "", MARKUPS_FILTER)
        if paths:
            import_markups_files(window, paths)


def import_markups_files(window: "PlanningWindow", paths) -> ImportedMarkups | None:
    """Add the files' lines to the plan (one undo step) and show their landmarks; None if refused."""
    session = window.session
    if not _require_session(window, "Import markups"):
        return None
    try:
        imported = import_markups(paths, session.plan, session.catalog)
    except OsteoPlanError as exc:
        window.show_message("Could not import markups", str(exc))
        return None
    notes = list(imported.notes)
    ct = session.case.ct
    for trajectory in imported.trajectories:
        if ct.value_at_lps(trajectory.entry) is None and ct.value_at_lps(trajectory.target) is None:
            notes.append(f"{trajectory.label} lies outside this CT: was it planned on this patient's image?")
    if imported.trajectories:
        add_imported(session.editor, imported)
        window.controller.select(imported.trajectories[0].id)
    if imported.landmarks:
        show_landmarks(window, imported.landmarks)
    window.statusBar().showMessage(f"Imported {len(imported.trajectories)} path(s) and "
                                   f"{len(imported.landmarks)} landmark(s) from {len(paths)} file(s)", 8000)
    if notes:
        window.show_message("Markups imported, with notes", "\n".join(notes), QMessageBox.Icon.Information)
    return imported


class LandmarksDialog(QDialog):
    """The points of imported point lists; choosing one puts the cursor on it (the window stays usable)."""

    def __init__(self, window: "PlanningWindow", landmarks: list[Landmark]) -> None:
        super().__init__(window)
        self.setWindowTitle("Landmarks from 3D Slicer")
        self._window = window
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Click a point (or move with the arrow keys) to put the cursor on it:"))
        self.list = QListWidget()
        for landmark in landmarks:
            x, y, z = landmark.position_lps
            item = QListWidgetItem(f"{landmark.label}   ({x:.1f}, {y:.1f}, {z:.1f}) mm LPS")
            item.setToolTip(f"From {landmark.source}")
            item.setData(Qt.ItemDataRole.UserRole, landmark.position_lps)
            self.list.addItem(item)
        self.list.currentItemChanged.connect(lambda item, _previous: item and self.go_to(item))
        self.list.itemActivated.connect(self.go_to)  # again after the cursor was moved elsewhere
        layout.addWidget(self.list)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        self.resize(420, 300)

    def go_to(self, item: QListWidgetItem) -> None:
        self._window.viewer.set_cursor(item.data(Qt.ItemDataRole.UserRole))


def show_landmarks(window: "PlanningWindow", landmarks: list[Landmark]) -> LandmarksDialog:
    dialog = LandmarksDialog(window, landmarks)
    window.landmarks_dialog = dialog  # kept alive while open; a new import replaces it
    dialog.list.setCurrentRow(0)  # the cursor goes to the first point
    dialog.show()
    return dialog


# --- export -------------------------------------------------------------------------------------
def export_markups_dialog(window: "PlanningWindow") -> None:
    if not _require_session(window, "Export markups"):
        return
    if not window.session.plan.trajectories:
        window.show_message("Export markups", "The plan has no needle paths to export.", QMessageBox.Icon.Information)
        return
    start = str(window.session.plan_path.parent) if window.session.plan_path else ""
    folder = QFileDialog.getExistingDirectory(window, "Export markups into folder", start)
    if folder:
        export_markups_to(window, folder)


def export_markups_to(window: "PlanningWindow", folder) -> list[Path]:
    try:
        written = export_markups(window.session.plan, folder, window.session.catalog)
    except OsteoPlanError as exc:
        window.show_message("Could not export markups", str(exc))
        return []
    window.statusBar().showMessage(f"Wrote {len(written)} markups file(s) to {folder}", 8000)
    return written


def export_segmentation_dialog(window: "PlanningWindow") -> None:
    if not _require_session(window, "Export segmentation"):
        return
    plan_path = window.session.plan_path
    start = plan_path.with_suffix("").with_suffix(".seg.nrrd") if plan_path else "structures.seg.nrrd"
    path, _ = QFileDialog.getSaveFileName(window, "Export structures for 3D Slicer", str(start), SEGMENTATION_FILTER)
    if path:
        export_segmentation_to(window, path)


def export_segmentation_to(window: "PlanningWindow", path) -> list[Path]:
    from osteoplan.core.files.slicer_segmentation import export_segmentation

    session = window.session
    try:
        written = export_segmentation(session.structures, session.case.ct, path)
    except OsteoPlanError as exc:
        window.show_message("Could not export the segmentation", str(exc))
        return []
    window.statusBar().showMessage(f"Wrote {', '.join(p.name for p in written)}", 8000)
    return written


def _require_session(window: "PlanningWindow", title: str) -> bool:
    if window.session is None:
        window.show_message(title, "Open a case or a plan first.", QMessageBox.Icon.Information)
        return False
    return True
