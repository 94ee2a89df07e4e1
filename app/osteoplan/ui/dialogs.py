"""Dialogs: the DICOM series picker, the mouse/keyboard help and the About box (with versions)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

SERIES_COLUMNS = ("Description", "Modality", "Slices", "Size (x × y × z)", "Spacing (mm)", "Series UID")


def series_row(summary) -> tuple[str, ...]:
    return (
        summary.description or "(no description)",
        summary.modality or "?",
        str(summary.n_slices),
        " × ".join(str(n) for n in summary.size),
        " × ".join(f"{s:.3g}" for s in summary.spacing),
        summary.uid or "",
    )


class SeriesPickerDialog(QDialog):
    """Lists every series of a DICOM folder; the user picks the one to load."""

    def __init__(self, folder: str, series: list, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose a DICOM series")
        self.series = list(series)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"<b>{folder}</b> holds {len(self.series)} series. Choose the CT to plan on:"))
        self.table = QTableWidget(len(self.series), len(SERIES_COLUMNS))
        self.table.setHorizontalHeaderLabels(SERIES_COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        for row, summary in enumerate(self.series):
            for column, text in enumerate(series_row(summary)):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        # Pre-select the CT with the most slices: usually the one to plan on.
        best = max(range(len(self.series)), key=lambda i: (self.series[i].modality == "CT", self.series[i].n_slices))
        self.table.selectRow(best)
        self.table.doubleClicked.connect(self.accept)
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(820, 320)

    def selected_uid(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.series[rows[0].row()].uid if rows else None


MOUSE_HELP = """
<h3>Slice views (axial, sagittal, coronal)</h3>
<table cellspacing=4>
<tr><td><b>Left click / drag</b></td><td>move the cursor; the other views follow</td></tr>
<tr><td><b>Right drag</b></td><td>window (left–right) and level (up–down)</td></tr>
<tr><td><b>Middle drag</b>, <b>Shift + left drag</b></td><td>pan</td></tr>
<tr><td><b>Wheel</b>, <b>Up / Down</b>, <b>Page Up / Page Down</b></td><td>next / previous slice (5 at a time with Page keys)</td></tr>
<tr><td><b>Ctrl + wheel</b></td><td>zoom</td></tr>
<tr><td><b>Double click</b></td><td>maximise the view; again to return to four panes</td></tr>
<tr><td><b>R</b></td><td>reset the view</td></tr>
</table>
<h3>3D view</h3>
<table cellspacing=4>
<tr><td><b>Left drag</b></td><td>rotate</td></tr>
<tr><td><b>Middle drag</b>, <b>Shift + left drag</b></td><td>pan</td></tr>
<tr><td><b>Wheel</b>, <b>right drag</b></td><td>zoom</td></tr>
</table>
<h3>Needle paths and structures</h3>
<table cellspacing=4>
<tr><td><b>T</b>, <b>P</b>, <b>C</b>, <b>F</b></td><td>new transpedicular / parapedicular / transcortical / free path: click the entry, then the target (Esc cancels)</td></tr>
<tr><td><b>Drag an end</b> / <b>the needle</b></td><td>move that end / the whole needle (also ends in 3D); one undo step</td></tr>
<tr><td><b>Ctrl+B</b></td><td>bilateral transpedicular paths for the vertebra under the cursor</td></tr>
<tr><td><b>Ctrl+Shift+A</b>, <b>Ctrl+E</b></td><td>align the selected path with its pedicle; centre the views on it</td></tr>
<tr><td><b>Delete</b>, <b>Ctrl+Z</b>, <b>Ctrl+Shift+Z</b></td><td>delete the selected path; undo; redo</td></tr>
<tr><td><b>Brush / Eraser</b> (Structures panel)</td><td>left drag in a slice view paints / erases the selected structure</td></tr>
</table>
<p>Needle colours: green no warning, orange a warning, red a stop. Ablation zones: red lethal,
orange 45 °C line (cryo: blue, cyan 0 °C).</p>
<p>Window/level presets: {presets} (yours: Edit &gt; Preferences). Every key: Help &gt; Keyboard shortcuts.
Axial and coronal views are shown radiologically: the patient's left is on the screen's right.</p>
"""


def show_mouse_help(parent: QWidget) -> None:
    from osteoplan.core.display.presets import display_presets

    presets = ", ".join(f"key {p.shortcut} {p.name.lower()} {p.width:g}/{p.level:g}"
                        for p in display_presets().window_level if p.shortcut)
    QMessageBox.information(parent, "Mouse and keyboard", MOUSE_HELP.format(presets=presets))


def component_versions(render_window=None) -> list[tuple[str, str]]:
    """(component, version) of what this OsteoPlan runs on; the OpenGL renderer when a render window
    has drawn (a software renderer explains a slow 3D view)."""
    import platform

    import numpy
    import PySide6
    import scipy
    import SimpleITK
    from PySide6.QtCore import qVersion
    from vtkmodules.vtkCommonCore import vtkVersion

    from osteoplan import __version__

    rows = [
        ("OsteoPlan", __version__),
        ("Python", platform.python_version()),
        ("Qt", qVersion()),
        ("PySide6", PySide6.__version__),
        ("VTK", vtkVersion.GetVTKVersion()),
        ("SimpleITK", SimpleITK.Version.VersionString()),
        ("NumPy", numpy.__version__),
        ("SciPy", scipy.__version__),
        ("System", platform.platform(terse=True)),
    ]
    if render_window is not None:
        from osteoplan.render.volume_rendering import renderer_string

        try:
            renderer = renderer_string(render_window)
        except Exception:  # noqa: BLE001  (no OpenGL context yet: leave the row out)
            renderer = ""
        if renderer:
            rows.append(("OpenGL renderer", renderer))
    return rows


def about_html(render_window=None) -> str:
    from osteoplan import __version__

    table = "".join(f"<tr><td>{name}</td><td><b>{version}</b></td></tr>"
                    for name, version in component_versions(render_window))
    return (f"<h3>OsteoPlan {__version__}</h3><p>Rehearse percutaneous treatment of bone metastases on the "
            "patient's CT: needle paths, cement and ablation, with safety margins to critical structures.</p>"
            "<p>Planning aid only: every number is an estimate to be checked by the operator.</p>"
            f"<table cellspacing=2>{table}</table>")


def show_about(parent: QWidget) -> None:
    view = getattr(parent, "views", {}).get("3d")
    render_window = view.GetRenderWindow() if view is not None and getattr(parent, "case", None) is not None else None
    QMessageBox.about(parent, "About OsteoPlan", about_html(render_window))
