"""Dialogs: the DICOM series picker, the mouse/keyboard help and the About box (with versions)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from osteoplan.core.imaging.identity import dicom_date

SERIES_COLUMNS = ("Series", "Description", "Modality", "Slices", "Thickness", "Kernel", "Range (mm)", "Size",
                  "Spacing (mm)", "Series UID")
THUMBNAIL_PX = 64
MAX_THUMBNAILS = 40  # read one slice each, on the UI thread: a folder of hundreds of series stays quick


def _date(text: str) -> str:
    return dicom_date(text) or "no date"


def _time(text: str) -> str:
    return f"{text[:2]}:{text[2:4]}" if len(text) >= 4 and text[:4].isdigit() else ""


def patient_line(summary) -> str:
    """Who a series belongs to, as its headers say: the line a radiologist checks before planning."""
    name = " ".join(p for p in summary.patient_name.replace("^", " ").split()) or "(no name)"
    return (f"{name} — ID {summary.patient_id or '(none)'} — born "
            f"{_date(summary.birth_date) if summary.birth_date else '(unknown)'}")


def study_line(summary) -> str:
    return f"Study {_date(summary.study_date)} — {summary.study_description or '(no study description)'}"


def series_row(summary) -> tuple[str, ...]:
    start, end = summary.extent_mm
    thickness = summary.slice_thickness
    return (
        " ".join(filter(None, (summary.series_number and f"#{summary.series_number}", _time(summary.series_time)))),
        summary.description or "(no description)",
        summary.modality or "?",
        str(summary.n_slices),
        f"{float(thickness):.3g} mm" if thickness.replace(".", "", 1).isdigit() else "?",
        summary.kernel or "",
        f"{start:.0f} to {end:.0f}",
        " × ".join(str(n) for n in summary.size),
        " × ".join(f"{s:.3g}" for s in summary.spacing),
        summary.uid or "",
    )


def _thumbnail(summary) -> QIcon | None:
    from osteoplan.core.imaging.io.dicom_scan import series_thumbnail

    pixels = series_thumbnail(summary, THUMBNAIL_PX)
    if pixels is None:
        return None
    pixels = np.ascontiguousarray(pixels)
    image = QImage(pixels.data, pixels.shape[1], pixels.shape[0], pixels.strides[0], QImage.Format.Format_Grayscale8)
    return QIcon(QPixmap.fromImage(image.copy()))


class SeriesPickerDialog(QDialog):
    """Every series of a DICOM folder, grouped by patient, then study: the user picks the one to load.

    With series of more than one patient nothing is pre-selected and a warning says so (the wrong-patient
    risk); otherwise the CT with the most slices is."""

    def __init__(self, folder: str, series: list, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose a DICOM series")
        self.series = list(series)
        patients: dict[tuple, dict[tuple, list[int]]] = {}
        for index, summary in enumerate(self.series):
            study = (summary.study_uid, summary.study_date, summary.study_description)
            patients.setdefault(summary.patient_key, {}).setdefault(study, []).append(index)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"<b>{folder}</b> holds {len(self.series)} series of {len(patients)} patient(s). "
                                "Check the patient, then choose the CT to plan on:"))
        if len(patients) > 1:
            warning = QLabel("<b>This folder holds more than one patient.</b> Make sure the series you open is the "
                             "patient you are planning for.")
            warning.setStyleSheet("color: #b35900")
            warning.setWordWrap(True)
            layout.addWidget(warning)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(SERIES_COLUMNS))
        self.tree.setHeaderLabels(SERIES_COLUMNS)
        self.tree.setIconSize(QSize(THUMBNAIL_PX, THUMBNAIL_PX))
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._items: dict[int, QTreeWidgetItem] = {}
        for patient, studies in patients.items():
            first = self.series[next(iter(studies.values()))[0]]
            patient_item = QTreeWidgetItem([patient_line(first)])
            font = patient_item.font(0)
            font.setBold(True)
            patient_item.setFont(0, font)
            patient_item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.tree.addTopLevelItem(patient_item)
            patient_item.setFirstColumnSpanned(True)
            for indices in studies.values():
                study_item = QTreeWidgetItem([study_line(self.series[indices[0]])])
                study_item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                patient_item.addChild(study_item)
                study_item.setFirstColumnSpanned(True)
                for index in indices:
                    item = QTreeWidgetItem(list(series_row(self.series[index])))
                    if len(self._items) < MAX_THUMBNAILS and self.series[index].file_names:
                        icon = _thumbnail(self.series[index])
                        if icon is not None:
                            item.setIcon(0, icon)
                    study_item.addChild(item)
                    self._items[index] = item
        self.tree.expandAll()
        for column in range(len(SERIES_COLUMNS)):
            self.tree.resizeColumnToContents(column)
        if len(patients) == 1:  # usually the one to plan on; never guessed across patients
            best = max(range(len(self.series)), key=lambda i: (self.series[i].modality == "CT", self.series[i].n_slices))
            self.tree.setCurrentItem(self._items[best])
        self.tree.itemDoubleClicked.connect(lambda item, _column: self.selected_uid() and self.accept())
        layout.addWidget(self.tree)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        open_button = self.buttons.button(QDialogButtonBox.StandardButton.Open)
        open_button.setEnabled(self.selected_uid() is not None)
        self.tree.itemSelectionChanged.connect(lambda: open_button.setEnabled(self.selected_uid() is not None))
        layout.addWidget(self.buttons)
        self.resize(1000, 420)

    def select(self, index: int) -> None:
        """Select the series at `index` of the list (tests, keyboard users)."""
        self.tree.setCurrentItem(self._items[index])

    def selected_uid(self) -> str | None:
        chosen = [i for i, item in self._items.items() if item.isSelected()]
        return self.series[chosen[0]].uid if chosen else None


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
