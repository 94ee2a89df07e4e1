"""The main window: four linked panes, menus, presets toolbar and the cursor readout."""

from __future__ import annotations


import numpy as np
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QWidget,
)

from osteoplan.core.case import Case
from osteoplan.core.demo import DEMO_CASES, DEMO_DESCRIPTIONS
from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.view_geometry import SliceOrientation
from osteoplan.core.viewer import ViewerState
from osteoplan.ui import dialogs, loading
from osteoplan.ui.presets_toolbar import PresetsToolBar
from osteoplan.ui.slice_view import SliceView
from osteoplan.ui.volume_view import VolumeView

LAYOUTS = ("four-up", "axial", "sagittal", "coronal", "3d")
RECENT_FILES_KEY = "recent_files"
MAX_RECENT_FILES = 10


class MainWindow(QMainWindow):
    case_shown = Signal(object)  # the Case now on screen (None when closed)

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("OsteoPlan")
        self.viewer = ViewerState()
        self.case: Case | None = None
        self.last_message: tuple[str, str] | None = None  # (title, text) of the last message shown
        self.layout_name = "four-up"
        self._progress: QProgressDialog | None = None
        self._tasks: set = set()

        self.views: dict[str, QWidget] = {
            "axial": SliceView(SliceOrientation.AXIAL, self.viewer),
            "sagittal": SliceView(SliceOrientation.SAGITTAL, self.viewer),
            "coronal": SliceView(SliceOrientation.CORONAL, self.viewer),
            "3d": VolumeView(self.viewer),
        }
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(2)
        # 3D Slicer's four-up arrangement: axial | 3D over sagittal | coronal.
        for name, (row, column) in {"axial": (0, 0), "3d": (0, 1), "sagittal": (1, 0), "coronal": (1, 1)}.items():
            grid.addWidget(self.views[name], row, column)
            self.views[name].maximise_requested.connect(lambda name=name: self.toggle_maximised(name))
        central = QWidget()
        central.setStyleSheet("background: #202020;")
        central.setLayout(grid)
        self.setCentralWidget(central)
        for view in self.slice_views():
            view.hover_moved.connect(self._show_hover)

        self.presets_toolbar = PresetsToolBar(self.viewer, self)
        self.addToolBar(self.presets_toolbar)
        self._build_menus()
        self._cursor_label = QLabel()
        self._hover_label = QLabel()
        self._cursor_label.setObjectName("cursor_readout")
        self.statusBar().addPermanentWidget(self._hover_label)
        self.statusBar().addPermanentWidget(self._cursor_label)
        self.viewer.cursor_changed.connect(self._show_cursor)
        self.setAcceptDrops(True)
        self.resize(1280, 860)
        self._show_cursor(self.viewer.cursor_lps)

    def slice_views(self) -> list[SliceView]:
        return [view for view in self.views.values() if isinstance(view, SliceView)]

    # --- case ----------------------------------------------------------------------------
    def set_case(self, case: Case | None) -> None:
        self.case = case
        if case is not None:
            self.viewer.set_cursor(case.initial_cursor_lps)
        for view in self.views.values():
            view.set_case(case)
        self.setWindowTitle(f"OsteoPlan — {case.title}" if case else "OsteoPlan")
        self._show_cursor(self.viewer.cursor_lps)
        self.case_shown.emit(case)

    def show_load_warnings(self, case: Case) -> None:
        if case.warnings:
            self.show_message("Loaded with warnings", "\n\n".join(case.warnings), QMessageBox.Icon.Warning)

    # --- layout --------------------------------------------------------------------------
    def set_layout(self, name: str) -> None:
        if name not in LAYOUTS:
            raise ValueError(f"unknown layout {name!r}; choose one of {', '.join(LAYOUTS)}")
        self.layout_name = name
        for view_name, view in self.views.items():
            view.setVisible(name == "four-up" or name == view_name)
        for action in self._layout_actions.actions():
            action.setChecked(action.data() == name)

    def toggle_maximised(self, name: str) -> None:
        self.set_layout("four-up" if self.layout_name == name else name)

    # --- messages --------------------------------------------------------------------------
    def show_message(self, title: str, text: str, icon=QMessageBox.Icon.Warning) -> None:
        """A non-blocking message box (the window stays usable; tests read `last_message`)."""
        self.last_message = (title, text)
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def show_error(self, error: BaseException) -> None:
        if isinstance(error, OsteoPlanError):
            self.show_message("Could not open", str(error), QMessageBox.Icon.Warning)
        else:
            self.show_message("Unexpected error", f"{type(error).__name__}: {error}\n\nYour work is not affected.",
                              QMessageBox.Icon.Critical)

    # --- file actions ----------------------------------------------------------------------
    def open_dicom_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a DICOM folder")
        if folder:
            self.open_path(folder)

    def open_image_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a CT image", "", loading.IMAGE_FILE_FILTER)
        if path:
            self.open_path(path)

    def open_label_map_dialog(self) -> None:
        if self.case is None:
            self.show_message("No image", "Open a CT before its label map.")
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open a label map", "", loading.IMAGE_FILE_FILTER)
        if path:
            loading.open_label_map(self, path)

    def open_path(self, path: str, series_uid: str | None = None) -> None:
        loading.open_image(self, path, series_uid)

    def open_demo(self, name: str = "spine") -> None:
        loading.open_demo(self, name)

    def remember_recent(self, path: str) -> None:
        settings = QSettings()
        recent = [p for p in (settings.value(RECENT_FILES_KEY) or []) if p != path]
        settings.setValue(RECENT_FILES_KEY, [path, *recent][:MAX_RECENT_FILES])
        self._refresh_recent_menu()

    def _refresh_recent_menu(self) -> None:
        self._recent_menu.clear()
        recent = QSettings().value(RECENT_FILES_KEY) or []
        for path in recent:
            self._recent_menu.addAction(path, lambda path=path: self.open_path(path))
        self._recent_menu.setEnabled(bool(recent))

    # --- menus -----------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction("Open &DICOM folder…", QKeySequence("Ctrl+D"), self.open_dicom_folder_dialog)
        file_menu.addAction("&Open image file…", QKeySequence.StandardKey.Open, self.open_image_file_dialog)
        file_menu.addAction("Open &label map…", QKeySequence("Ctrl+L"), self.open_label_map_dialog)
        demo_menu = file_menu.addMenu("Open d&emo case")
        for name in DEMO_CASES:
            demo_menu.addAction(f"{name.capitalize()} ({DEMO_DESCRIPTIONS[name]})",
                                lambda name=name: self.open_demo(name))
        self._recent_menu = file_menu.addMenu("&Recent files")
        self._refresh_recent_menu()
        file_menu.addSeparator()
        file_menu.addAction("&Quit", QKeySequence.StandardKey.Quit, self.close)

        view_menu = self.menuBar().addMenu("&View")
        self._layout_actions = QActionGroup(self)
        for index, name in enumerate(LAYOUTS):
            label = "Four panes" if name == "four-up" else f"{'3D' if name == '3d' else name.capitalize()} only"
            action = QAction(label, self, checkable=True, checked=name == "four-up")
            action.setData(name)
            action.setShortcut(QKeySequence(f"Ctrl+{index + 1}"))
            action.triggered.connect(lambda _=False, name=name: self.set_layout(name))
            self._layout_actions.addAction(action)
            view_menu.addAction(action)
        view_menu.addSeparator()
        view_menu.addActions(self.presets_toolbar.window_level_actions.actions())
        view_menu.addSeparator()
        view_menu.addAction(self.presets_toolbar.labels_action)
        view_menu.addAction("&Reset views", QKeySequence("Ctrl+R"), self.reset_views)

        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("&Mouse and keyboard", lambda: dialogs.show_mouse_help(self))
        help_menu.addAction("&About OsteoPlan", lambda: dialogs.show_about(self))

    def reset_views(self) -> None:
        for view in self.views.values():
            view.reset_view()

    # --- status bar ------------------------------------------------------------------------
    def _readout_text(self, prefix: str, lps) -> str:
        x, y, z = np.asarray(lps, dtype=float)
        text = f"{prefix} LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm"
        if self.case is not None:
            readout = self.case.readout(lps)
            if readout.value is not None:
                text += f"   {readout.value:.0f} HU"
            if readout.structure:
                text += f"   {readout.structure}"
        return text

    def _show_cursor(self, lps) -> None:
        self._cursor_label.setText(self._readout_text("Cursor", lps))

    def _show_hover(self, lps) -> None:
        self._hover_label.setText(self._readout_text("Mouse", lps) if lps is not None else "")

    # --- drag and drop: a DICOM folder or an image file dropped on the window opens it ------------
    def dragEnterEvent(self, event):  # noqa: N802 (Qt naming)
        if event.mimeData().hasUrls() and event.mimeData().urls()[0].isLocalFile():
            event.acceptProposedAction()

    def dropEvent(self, event):  # noqa: N802 (Qt naming)
        self.open_path(event.mimeData().urls()[0].toLocalFile())
        event.acceptProposedAction()

    def closeEvent(self, event):  # noqa: N802 (Qt naming)
        for view in self.views.values():
            view.close_pane()
        super().closeEvent(event)
