"""The main window's menus and their shortcuts (one place, also listed in Help)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction, QActionGroup, QKeySequence

from osteoplan.core.imaging.demo import DEMO_CASES, DEMO_DESCRIPTIONS
from osteoplan.core.planning.trajectory import TrajectoryKind
from osteoplan.ui import dialogs, preferences, shortcuts

if TYPE_CHECKING:
    from osteoplan.ui.window_api import PlanningWindow

LAYOUT_LABELS = {"four-up": "Four panes", "axial": "Axial only", "sagittal": "Sagittal only",
                 "coronal": "Coronal only", "3d": "3D only"}
RECENT_FILES_KEY = "recent_files"


def build_menus(window: "PlanningWindow") -> None:
    _file_menu(window)
    _edit_menu(window)
    _plan_menu(window)
    _structures_menu(window)
    _view_menu(window)
    help_menu = window.menuBar().addMenu("&Help")
    help_menu.addAction("&Keyboard shortcuts", QKeySequence("Ctrl+/"), lambda: shortcuts.show_shortcuts(window))
    help_menu.addAction("&Mouse and keyboard", QKeySequence.StandardKey.HelpContents, lambda: dialogs.show_mouse_help(window))
    help_menu.addAction("&About OsteoPlan", lambda: dialogs.show_about(window))
    tips = ("Every keyboard shortcut of the menus and the views", "What the mouse buttons and keys do in each view",
            "Version of OsteoPlan and of the libraries it runs on")
    for action, tip in zip(help_menu.actions(), tips):
        action.setToolTip(tip)


def _file_menu(window: "PlanningWindow") -> None:
    menu = window.menuBar().addMenu("&File")
    menu.addAction("Open &DICOM folder…", QKeySequence("Ctrl+D"), window.open_dicom_folder_dialog).setToolTip(
        "Open a CT from a folder of DICOM files (every series is listed)")
    menu.addAction("&Open image file…", QKeySequence.StandardKey.Open, window.open_image_file_dialog).setToolTip(
        "Open a CT stored as NIfTI, NRRD or MetaImage")
    menu.addAction("Open &label map…", QKeySequence("Ctrl+L"), window.open_label_map_dialog).setToolTip(
        "Add a label map on the CT's grid (with labels.json beside it): one critical structure per label")
    demo_menu = menu.addMenu("Open d&emo case")
    demo_menu.menuAction().setToolTip("A built-in synthetic CT with its labels, to try OsteoPlan")
    for name in DEMO_CASES:
        demo_menu.addAction(f"{name.capitalize()} ({DEMO_DESCRIPTIONS[name]})", lambda name=name: window.open_demo(name)
                            ).setToolTip(f"Open the synthetic {name} demo case")
    window._recent_menu = menu.addMenu("&Recent files")
    refresh_recent_menu(window)
    menu.addSeparator()
    menu.addAction("Open &plan…", QKeySequence("Ctrl+Shift+O"), window.plan_files.open_dialog).setToolTip(
        "Open a plan file (.json) with its image, paths, structures and simulations")
    menu.addAction("&Save plan", QKeySequence.StandardKey.Save, window.plan_files.save).setToolTip(
        "Save the plan to its file")
    menu.addAction("Save plan &as…", QKeySequence.StandardKey.SaveAs, window.plan_files.save_as).setToolTip(
        "Save the plan to a new file")
    menu.addSeparator()
    from osteoplan.ui.markups_actions import add_file_actions

    add_file_actions(window, menu)  # 3D Slicer: markups in/out, structures as a segmentation
    from osteoplan.ui.report_dialog import export_report_dialog

    menu.addAction("Export &report…", lambda: export_report_dialog(window)).setToolTip(
        "Write the plan as a PDF report: readouts, simulations, warnings and views (de-identified by default)")
    menu.addSeparator()
    menu.addAction("&Quit", QKeySequence.StandardKey.Quit, window.close).setToolTip(
        "Close OsteoPlan (asks before losing unsaved changes)")


def refresh_recent_menu(window: "PlanningWindow") -> None:
    window._recent_menu.clear()
    recent = QSettings().value(RECENT_FILES_KEY) or []
    for path in recent:
        window._recent_menu.addAction(path, lambda path=path: window.open_path(path)).setToolTip(f"Open {path} again")
    window._recent_menu.setEnabled(bool(recent))


def _structures_menu(window: "PlanningWindow") -> None:
    menu = window.menuBar().addMenu("&Structures")
    menu.addAction("Open &label map…", window.open_label_map_dialog).setToolTip(
        "Add a label map on the CT's grid, or a folder of one mask per structure (TotalSegmentator's outputs are read "
        "natively)")
    menu.addAction("Segment with &TotalSegmentator…", window.segment_with_totalsegmentator_dialog).setToolTip(
        "Run the TotalSegmentator installed on this computer on the CT (in the background) and add its structures; "
        "says how to install it when it is not")


def _edit_menu(window: "PlanningWindow") -> None:
    menu = window.menuBar().addMenu("&Edit")
    window.undo_action = menu.addAction("&Undo", QKeySequence.StandardKey.Undo, lambda: _history_step(window, "undo"))
    window.redo_action = menu.addAction("&Redo", QKeySequence.StandardKey.Redo, lambda: _history_step(window, "redo"))
    menu.aboutToShow.connect(lambda: _update_undo_labels(window))
    window.undo_action.setToolTip("Undo the last edit of the plan or of a structure")
    window.redo_action.setToolTip("Redo the last undone edit")
    menu.addSeparator()
    menu.addAction("&Preferences…", QKeySequence("Ctrl+,"), lambda: preferences.show_preferences(window)).setToolTip(
        "Your default safety thresholds and window/level presets")


def _history_step(window: "PlanningWindow", step: str) -> None:
    if window.session is not None:
        getattr(window.session.history, step)()


def _update_undo_labels(window: "PlanningWindow") -> None:
    history = window.session.history if window.session else None
    window.undo_action.setEnabled(bool(history and history.can_undo))
    window.redo_action.setEnabled(bool(history and history.can_redo))
    window.undo_action.setText(f"&Undo {history.undo_label}" if history and history.can_undo else "&Undo")
    window.redo_action.setText(f"&Redo {history.redo_label}" if history and history.can_redo else "&Redo")


def _plan_menu(window: "PlanningWindow") -> None:
    controller = window.controller
    menu = window.menuBar().addMenu("&Plan")
    new_path = menu.addMenu("&New path (click entry, then target)")
    new_path.setToolTipsVisible(True)
    shortcuts = {TrajectoryKind.TRANSPEDICULAR: "T", TrajectoryKind.TRANSCORTICAL: "C",
                 TrajectoryKind.PARAPEDICULAR: "P", TrajectoryKind.FREE: "F"}
    for kind in TrajectoryKind:
        action = new_path.addAction(kind.value.capitalize(), lambda kind=kind: controller.start_placement(kind))
        action.setToolTip(f"A new {kind.value} path: click the entry, then the target, in any slice view (Esc cancels)")
        if kind in shortcuts:
            action.setShortcut(QKeySequence(shortcuts[kind]))
    actions = {
        "bilateral": menu.addAction("&Bilateral transpedicular at the cursor", QKeySequence("Ctrl+B"),
                                    controller.add_bilateral_transpedicular_at_cursor),
        "femoral": menu.addAction("&Femoral neck paths at the cursor", QKeySequence("Ctrl+Shift+F"),
                                  controller.add_femoral_neck_at_cursor),
    }
    menu.addAction("&Propose paths…", QKeySequence("Ctrl+Shift+P"), window.proposals_panel.open_panel).setToolTip(
        "The safest straight paths from the skin to the cursor or a lesion, ranked, with a risk map on the skin")
    menu.addSeparator()
    actions["align"] = menu.addAction("&Align the selected path with its pedicle", QKeySequence("Ctrl+Shift+A"),
                                      controller.align_selected)
    actions["centre"] = menu.addAction("&Centre views on the selected needle", QKeySequence("Ctrl+E"),
                                       window.centre_on_trajectory)
    actions["delete"] = menu.addAction("&Delete the selected path", QKeySequence.StandardKey.Delete,
                                       controller.delete_selected)
    menu.addAction("Cancel the tool", QKeySequence("Esc"), controller.cancel_placement).setToolTip(
        "Stop placing a path (or the active tool)")
    tips = {
        "bilateral": "Two paths through the left and right pedicles of the vertebra under the cursor, aligned with them",
        "femoral": "A trocar along the femoral neck axis and one through the greater trochanter, into the lesion at the cursor",
        "align": "Re-aim the selected transpedicular path along its pedicle, as far as possible from the cortex",
        "centre": "Cursor on the needle's tip, slice views framed on it, 3D view along it",
        "delete": "Delete the selected path (undoable)",
    }
    for key, action in actions.items():
        action.setToolTip(tips[key])
    new_path.menuAction().setToolTip("Click the entry, then the target, in any slice view")
    window.paths_panel.add_tools([new_path.menuAction(), actions["bilateral"], actions["femoral"], actions["align"],
                                  actions["centre"], actions["delete"]],
                                 short_names={new_path.menuAction(): "New path", actions["bilateral"]: "Bilateral",
                                              actions["femoral"]: "Femoral neck", actions["align"]: "Align",
                                              actions["centre"]: "Centre", actions["delete"]: "Delete"})


def _view_menu(window: "PlanningWindow") -> None:
    menu = window.menuBar().addMenu("&View")
    window.layout_actions = QActionGroup(window)
    for index, (name, label) in enumerate(LAYOUT_LABELS.items()):
        action = QAction(label, window, checkable=True, checked=name == "four-up")
        action.setData(name)
        action.setShortcut(QKeySequence(f"Ctrl+{index + 1}"))
        action.setToolTip("The four views" if name == "four-up" else f"The {label.split()[0]} view alone "
                          "(double click a view to toggle)")
        action.triggered.connect(lambda _=False, name=name: window.set_layout(name))
        window.layout_actions.addAction(action)
        menu.addAction(action)
    menu.addSeparator()
    menu.addActions(window.presets_toolbar.window_level_actions.actions())
    menu.addSeparator()
    menu.addAction(window.presets_toolbar.labels_action)
    menu.addAction(window.paths_dock.toggleViewAction())
    menu.addAction(window.needle_dock.toggleViewAction())
    menu.addAction(window.warnings_dock.toggleViewAction())
    menu.addAction(window.structures_dock.toggleViewAction())
    menu.addAction(window.ablation_dock.toggleViewAction())
    menu.addAction(window.cement_dock.toggleViewAction())
    menu.addAction(window.proposals_dock.toggleViewAction())
    window.fluoro.add_menu(menu)
    menu.addAction("&Reset views", QKeySequence("Ctrl+R"), window.reset_views).setToolTip(
        "Every view back to its whole-image framing")
