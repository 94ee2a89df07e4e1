"""What the menus, loaders, plan-file actions and dialogs use of the main window. `MainWindow`
(`main_window`) composes them and hands itself in; they rely on this interface only and never
import `main_window` (no import cycles in the ui)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    from PySide6.QtGui import QAction, QActionGroup
    from PySide6.QtWidgets import QDockWidget, QMenu, QMenuBar, QStatusBar

    from osteoplan.core.display.viewer import ViewerState
    from osteoplan.core.imaging.case import Case
    from osteoplan.core.session import PlanSession


class PlanningWindow(Protocol):
    session: PlanSession | None
    case: Case | None
    viewer: ViewerState
    # the window's parts (ui types, kept loose here so that this module imports none of them)
    controller: Any  # plan_controller.PlanController
    plan_files: Any  # plan_files.PlanFiles
    paths_panel: Any
    proposals_panel: Any
    presets_toolbar: Any
    fluoro: Any  # drr_view.FluoroPane
    landmarks_dialog: Any
    undo_action: QAction
    redo_action: QAction
    layout_actions: QActionGroup
    _recent_menu: QMenu
    _tasks: set
    paths_dock: QDockWidget
    needle_dock: QDockWidget
    structures_dock: QDockWidget
    ablation_dock: QDockWidget
    cement_dock: QDockWidget
    proposals_dock: QDockWidget
    warnings_dock: QDockWidget

    def menuBar(self) -> QMenuBar: ...  # noqa: N802 - Qt's name
    def statusBar(self) -> QStatusBar: ...  # noqa: N802 - Qt's name
    def close(self) -> bool: ...
    def set_case(self, case: Case | None, session: PlanSession | None = None) -> None: ...
    def update_title(self) -> None: ...
    def show_message(self, title: str, text: str, icon: Any = ...) -> None: ...
    def show_error(self, error: BaseException) -> None: ...
    def show_load_warnings(self, case: Case) -> None: ...
    def ask(self, title: str, question: str) -> bool: ...
    def run_task(self, title: str, work: Callable, on_success: Callable, quiet: bool = False,
                 cancel: Callable | None = None) -> Any: ...
    def set_layout(self, name: str) -> None: ...
    def reset_views(self) -> None: ...
    def centre_on_trajectory(self, trajectory_id: str | None = None) -> None: ...
    def remember_recent(self, path: str) -> None: ...
    def open_path(self, path: str, series_uid: str | None = None) -> None: ...
    def open_demo(self, name: str = "spine") -> None: ...
    def open_dicom_folder_dialog(self) -> None: ...
    def open_image_file_dialog(self) -> None: ...
    def open_label_map_dialog(self) -> None: ...
    def segment_with_totalsegmentator_dialog(self) -> None: ...
