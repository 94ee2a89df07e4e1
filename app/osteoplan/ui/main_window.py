"""The main window: four linked panes, menus, presets toolbar and the cursor readout."""

from __future__ import annotations


import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QGridLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QVBoxLayout,
    QWidget,
)

from osteoplan.core.display.view_geometry import SliceOrientation
from osteoplan.core.display.viewer import ViewerState
from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.demo import DEMO_IMAGE_PREFIX
from osteoplan.core.imaging.identity import person_name
from osteoplan.core.session import PlanSession
from osteoplan.ui import first_run, loading, menus, plugin_panels, preferences, shortcuts
from osteoplan.ui.ablation_panel import AblationPanel
from osteoplan.ui.cement_panel import CementPanel
from osteoplan.ui.drr_view import FluoroPane
from osteoplan.ui.menus import RECENT_FILES_KEY
from osteoplan.ui.needle_views import NeedleViewsPanel
from osteoplan.ui.plan_controller import PlanController
from osteoplan.ui.plan_files import PlanFiles
from osteoplan.ui.patient_banner import PatientBanner
from osteoplan.ui.presets_toolbar import PresetsToolBar
from osteoplan.ui.proposals_panel import ProposalsPanel
from osteoplan.ui.slice_view import SliceView
from osteoplan.ui.structure_display import structure_display
from osteoplan.ui.structures_panel import StructuresPanel, StructureTool
from osteoplan.ui.tasks import BackgroundTask
from osteoplan.ui.trajectory_panel import TrajectoryPanel
from osteoplan.ui.volume_view import VolumeView
from osteoplan.ui.warnings_panel import WarningsPanel

LAYOUTS = ("four-up", "axial", "sagittal", "coronal", "3d")
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
        views = QWidget()
        views.setStyleSheet("background: #202020;")
        views.setLayout(grid)
        self.patient_banner = PatientBanner()
        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.patient_banner)
        column.addWidget(views, 1)
        central = QWidget()
        central.setLayout(column)
        self.setCentralWidget(central)
        for view in self.slice_views():
            view.hover_moved.connect(self._show_hover)

        self.controller = PlanController(self)
        self.plan_files = PlanFiles(self)
        self.paths_panel = TrajectoryPanel(self.controller)
        self.needle_panel = NeedleViewsPanel(self.viewer)
        for view in (self.needle_panel.in_plane, self.needle_panel.probe_eye):
            self.controller.attach_2d_view(view)
        self.needle_panel.advance_changed.connect(self.controller.set_virtual_tip)
        self.controller.selection_changed.connect(self._on_selection_changed)
        self.controller.plan_edited.connect(self._on_plan_edited)
        self.controller.status_message.connect(lambda text: self.statusBar().showMessage(text, 15000))
        self.paths_panel.trajectory_activated.connect(self.centre_on_trajectory)
        self.paths_dock = self._dock("Paths", self.paths_panel, "paths_dock")
        self.needle_dock = self._dock("Needle views", self.needle_panel, "needle_dock")
        self.splitDockWidget(self.paths_dock, self.needle_dock, Qt.Orientation.Vertical)
        self.needle_dock.hide()  # appears when a path is selected
        self.structures_panel = StructuresPanel(self)
        self.structures_dock = self._dock("Structures", self.structures_panel, "structures_dock")
        self.tabifyDockWidget(self.paths_dock, self.structures_dock)
        self.ablation_panel = AblationPanel(self)
        self.ablation_dock = self._dock("Ablation", self.ablation_panel, "ablation_dock")
        self.tabifyDockWidget(self.paths_dock, self.ablation_dock)
        self.cement_panel = CementPanel(self)
        self.cement_dock = self._dock("Cement", self.cement_panel, "cement_dock")
        self.tabifyDockWidget(self.paths_dock, self.cement_dock)
        self.proposals_panel = ProposalsPanel(self)
        self.proposals_dock = self._dock("Proposals", self.proposals_panel, "proposals_dock")
        self.tabifyDockWidget(self.paths_dock, self.proposals_dock)
        self.proposals_dock.visibilityChanged.connect(self.proposals_panel.set_shown)
        self.proposals_dock.hide()  # Plan > Propose paths… opens it
        self.plugin_docks = plugin_panels.add_plugin_panels(self, beside=self.paths_dock)
        self.paths_dock.raise_()
        self.structure_tool = StructureTool(self)
        for view in self.slice_views():
            view.pointer_handlers.insert(0, self.structure_tool)  # an active brush takes the press first
        self._structures_timer = QTimer(self)
        self._structures_timer.setSingleShot(True)
        self._structures_timer.timeout.connect(self.show_structures)
        self._watched_session: PlanSession | None = None
        self.warnings_panel = WarningsPanel(self)
        self.warnings_dock = self._dock("Warnings", self.warnings_panel, "warnings_dock",
                                        Qt.DockWidgetArea.BottomDockWidgetArea)

        self.presets_toolbar = PresetsToolBar(self.viewer, self)
        self.addToolBar(self.presets_toolbar)
        self.fluoro = FluoroPane(self)  # the DRR pane, shown in place of a view on request
        menus.build_menus(self)
        self.views_or_hint = first_run.install(self)  # how to open a case, until one is shown
        preferences.apply_preferences(self)
        shortcuts.show_menu_tooltips(self)
        self._cursor_label = QLabel()
        self._hover_label = QLabel()
        self._cursor_label.setObjectName("cursor_readout")
        self.statusBar().addPermanentWidget(self._hover_label)
        self.statusBar().addPermanentWidget(self._cursor_label)
        self.viewer.cursor_changed.connect(self._show_cursor)
        self.setAcceptDrops(True)
        self.resize(1280, 860)
        self.resizeDocks([self.paths_dock], [360], Qt.Orientation.Horizontal)
        self.resizeDocks([self.warnings_dock], [130], Qt.Orientation.Vertical)
        self._show_cursor(self.viewer.cursor_lps)

    def slice_views(self) -> list[SliceView]:
        return [view for view in self.views.values() if isinstance(view, SliceView)]

    def _dock(self, title: str, widget: QWidget, name: str,
              area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.toggleViewAction().setToolTip(f"Show or hide the {title} panel")
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    @property
    def session(self) -> PlanSession | None:
        return self.controller.session

    # --- case ----------------------------------------------------------------------------
    def set_case(self, case: Case | None, session: PlanSession | None = None) -> None:
        """Show a case with its plan (a new, empty plan unless `session` is given)."""
        self.case = case
        self.patient_banner.set_info(case.ct.info if case is not None else None,
                                     demo=case is not None and case.source.startswith(DEMO_IMAGE_PREFIX))
        if case is not None:
            self.viewer.set_cursor(case.initial_cursor_lps)
        for view in self.views.values():
            view.set_case(case)
        self.needle_panel.set_case(case)
        if case is not None and session is None:
            session = PlanSession(case)
        if self._watched_session is not None:
            self._watched_session.structures_changed.disconnect(self._on_structures_changed)
        self._watched_session = session
        if session is not None:
            session.structures_changed.connect(self._on_structures_changed)
            self.plan_files.watch(session)
            # the readouts' own naming (osteoporotic marrow is cancellous bone), without building masks here
            self.needle_panel.set_tissue_lookup(lambda lps, s=session: s.engine.tissue_at(lps, prepared_only=True))
        self.controller.set_session(session)
        self.show_structures()
        if session is not None:
            # Distance fields etc. are built in the background once the first frame is up, so
            # the case appears at once and the first drag is smooth.
            QTimer.singleShot(0, lambda s=session: self._prepare_in_background(s))
        self.update_title()
        self._show_cursor(self.viewer.cursor_lps)
        self.case_shown.emit(case)

    def _prepare_in_background(self, session: PlanSession) -> None:
        if session is self.session:
            self.run_task("Preparing safety distances", lambda progress: session.prepare(progress),
                          lambda _result: self.controller.refresh_views(), quiet=True)

    def show_structures(self) -> None:
        """Draw the session's structures in every view and list them (after a case opens or an edit)."""
        display = structure_display(self.session)
        for view in [*self.views.values(), self.needle_panel.in_plane, self.needle_panel.probe_eye]:
            view.set_structures(display)
            view.request_render()
        self.structures_panel.refresh()

    def _on_structures_changed(self, _name: str) -> None:
        # a brush stroke changes the structures many times a second: redraw at most ~6 times a second
        if not self._structures_timer.isActive():
            self._structures_timer.start(150)
        self.controller.refresh_views()

    def update_title(self) -> None:
        title = "OsteoPlan"
        if self.case is not None:
            name = person_name(self.case.ct.info.patient_name)
            title += f" — {name}" if name else ""
            title += f" — {self.case.title}"
        if self.session is not None and self.session.plan_path is not None:
            title += f" — {self.session.plan_path.name}"
        self.setWindowTitle(title)

    def _on_selection_changed(self, trajectory_id) -> None:
        trajectory = None
        if trajectory_id is not None and self.session is not None:
            trajectory = self.session.plan.trajectory(trajectory_id)
            self.needle_dock.show()
        self.needle_panel.show_trajectory(trajectory)

    def _on_plan_edited(self) -> None:
        trajectory_id = self.controller.selected_id
        if trajectory_id is not None and self.session is not None and trajectory_id in self.session.plan:
            self.needle_panel.show_trajectory(self.session.plan.trajectory(trajectory_id))

    def centre_on_trajectory(self, trajectory_id: str | None = None) -> None:
        """Move the cursor to the needle's tip and fit the needle in the slice views."""
        trajectory_id = trajectory_id or self.controller.selected_id
        if self.session is None or trajectory_id is None:
            return
        trajectory = self.session.plan.trajectory(trajectory_id)
        self.controller.select(trajectory_id)
        self.viewer.set_cursor(trajectory.target)
        # the needle with a margin, and never closer than a 10 cm field of view
        low = np.minimum(trajectory.entry, trajectory.target) - 15.0
        high = np.maximum(trajectory.entry, trajectory.target) + 15.0
        for view in self.slice_views():
            view.look_at((low + high) / 2, half_height_mm=max(view.fit_half_height(low, high), 50.0))
            view.move_plane_to(trajectory.target)
            view.render()
        self.views["3d"].look_at_needle(trajectory.entry, trajectory.target)
        self.needle_dock.show()

    # --- background work -------------------------------------------------------------------
    def run_task(self, title: str, work, on_success, quiet: bool = False, cancel=None) -> BackgroundTask:
        """Run `work(progress)` off the UI thread; a progress dialog unless `quiet` (with Cancel when
        a `cancel` threading.Event is given); errors become messages."""
        return loading.run_task(self, title, work, on_success, quiet, cancel)

    def ask(self, title: str, question: str) -> bool:
        answer = QMessageBox.question(self, title, question)
        return answer == QMessageBox.StandardButton.Yes

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
        for action in self.layout_actions.actions():
            action.setChecked(action.data() == name)
        self.fluoro.apply_layout(name)

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
        # A label map is one file, or a folder of one mask per structure (TotalSegmentator's default output).
        ask = QMessageBox(QMessageBox.Icon.Question, "Open a label map",
                          "Open a label map file, or a folder of one mask file per structure "
                          "(TotalSegmentator's default output)?", QMessageBox.StandardButton.Cancel, self)
        file_button = ask.addButton("File…", QMessageBox.ButtonRole.AcceptRole)
        folder_button = ask.addButton("Folder of masks…", QMessageBox.ButtonRole.AcceptRole)
        ask.setDefaultButton(file_button)
        ask.exec()
        if ask.clickedButton() is file_button:
            path, _ = QFileDialog.getOpenFileName(self, "Open a label map", "", loading.IMAGE_FILE_FILTER)
        elif ask.clickedButton() is folder_button:
            path = QFileDialog.getExistingDirectory(self, "Open a folder of masks")
        else:
            path = ""
        if path:
            loading.open_label_map(self, path)

    def segment_with_totalsegmentator_dialog(self) -> None:
        """Structures > Segment with TotalSegmentator: how to install it, or the choice of model, then the run."""
        from osteoplan.core.imaging.io.totalsegmentator_run import INSTALL_HINT, totalsegmentator_command

        if self.case is None:
            self.show_message("No image", "Open a CT before segmenting it.")
            return
        if totalsegmentator_command() is None:
            self.show_message("TotalSegmentator is not installed", INSTALL_HINT, QMessageBox.Icon.Information)
            return
        ask = QMessageBox(QMessageBox.Icon.Question, "Segment with TotalSegmentator",
                          "Run TotalSegmentator on this CT? Its structures are added as a label map (they win over "
                          "the automatic ones). The fast model (3 mm) takes minutes on a CPU; the full model is more "
                          "precise and much slower without a GPU. TotalSegmentator downloads its model weights "
                          "the first time it runs.", QMessageBox.StandardButton.Cancel, self)
        fast_button = ask.addButton("Fast (--fast)", QMessageBox.ButtonRole.AcceptRole)
        full_button = ask.addButton("Full model", QMessageBox.ButtonRole.AcceptRole)
        ask.setDefaultButton(fast_button)
        ask.exec()
        if ask.clickedButton() in (fast_button, full_button):
            loading.segment_with_totalsegmentator(self, fast=ask.clickedButton() is fast_button)

    def open_path(self, path: str, series_uid: str | None = None) -> None:
        """Open a CT (DICOM folder or image file), or a plan file (.json)."""
        if not self.plan_files.confirm_discard():
            return
        if str(path).lower().endswith(".json"):
            self.plan_files.open(path)
        else:
            loading.open_image(self, path, series_uid)

    def open_demo(self, name: str = "spine") -> None:
        if self.plan_files.confirm_discard():
            loading.open_demo(self, name)

    def remember_recent(self, path: str) -> None:
        settings = QSettings()
        recent = [p for p in (settings.value(RECENT_FILES_KEY) or []) if p != path]
        settings.setValue(RECENT_FILES_KEY, [path, *recent][:MAX_RECENT_FILES])
        self._refresh_recent_menu()

    def _refresh_recent_menu(self) -> None:
        menus.refresh_recent_menu(self)

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
        if not self.plan_files.confirm_discard():
            event.ignore()
            return
        self.plan_files.close()
        for view in [*self.views.values(), self.needle_panel.in_plane, self.needle_panel.probe_eye]:
            view.close_pane()
        super().closeEvent(event)
