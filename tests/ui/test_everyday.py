"""Everyday use: shortcuts (unique, listed from the real actions), tooltips on every control, the
About box's versions, preferences that persist and reach the core, the first-run hint, the icon."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QSlider,
    QToolButton,
    QWidget,
)

from osteoplan.core.safety import structures as core_structures
from osteoplan.core.display.presets import display_presets
from osteoplan.ui import preferences, shortcuts
from osteoplan.ui.first_run import FIRST_RUN_KEY

pytestmark = pytest.mark.gui

CONTROL_TYPES = (QAbstractButton, QComboBox, QAbstractSpinBox, QSlider, QLineEdit)


@pytest.fixture(autouse=True)
def _fresh_preferences():
    """Each test starts and ends without user preferences (QSettings lives in a temporary folder)."""
    settings = QSettings()
    for key in (preferences.THRESHOLDS_KEY, preferences.WINDOW_LEVEL_KEY):
        settings.remove(key)
    core_structures.set_user_threshold_defaults({})
    yield
    for key in (preferences.THRESHOLDS_KEY, preferences.WINDOW_LEVEL_KEY):
        settings.remove(key)
    core_structures.set_user_threshold_defaults({})


def _is_part_of_a_control(widget: QWidget) -> bool:
    """Qt's own sub-widgets: a spin box's line edit, dock/toolbar/tab-bar buttons, a table's corner."""
    if widget.objectName().startswith("qt_"):
        return True
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, (QComboBox, QAbstractSpinBox)) or type(parent).__name__ in ("QTabBar", "QTableCornerButton"):
            return True
        parent = parent.parentWidget()
    return type(widget).__name__ in ("QTableCornerButton", "QDockWidgetTitleButton")


def controls_without_tooltip(window) -> list[str]:
    missing = []
    for widget in window.findChildren(QWidget):
        if not isinstance(widget, CONTROL_TYPES) or _is_part_of_a_control(widget):
            continue
        if isinstance(widget, QToolButton) and widget.defaultAction() is not None:
            continue  # a button showing an action: the action's tooltip is checked below
        if not widget.toolTip().strip():
            text = widget.text() if hasattr(widget, "text") else ""
            owners, parent = [], widget.parentWidget()
            while parent is not None and parent is not window:
                owners.append(parent.objectName() or type(parent).__name__)
                parent = parent.parentWidget()
            missing.append(f"{type(widget).__name__} {widget.objectName() or text!r} in {' < '.join(owners[:4])}")
    return missing


def actions_without_tooltip(window) -> list[str]:
    """Menu, toolbar and panel-button actions whose tooltip is only their text (Qt's fallback)."""
    actions = {id(a): (where, a) for where, a in shortcuts.window_actions(window)}
    for button in window.findChildren(QToolButton):
        if button.defaultAction() is not None and not button.defaultAction().isSeparator():
            actions.setdefault(id(button.defaultAction()), ("panel button", button.defaultAction()))
    return [f"{where} > {shortcuts.plain_text(a)!r}" for where, a in actions.values()
            if not a.toolTip().strip() or a.toolTip() == shortcuts.plain_text(a) or a.toolTip() == a.text()]


def _window_shortcuts(window) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for action in window.findChildren(QAction):
        for sequence in action.shortcuts():
            if not sequence.isEmpty():
                keys.setdefault(sequence.toString(QKeySequence.SequenceFormat.PortableText), []).append(
                    shortcuts.plain_text(action))
    return keys


# --- shortcuts ---------------------------------------------------------------------------------------
def test_no_two_actions_share_a_shortcut_and_none_takes_a_view_key(window):
    preferences.install_window_level_presets(window, preferences.user_window_level_presets(
        [{"name": f"Mine {n}", "width": 100 + n, "level": 10} for n in range(6)]))
    keys = _window_shortcuts(window)
    shared = {key: names for key, names in keys.items() if len(names) > 1}
    assert not shared, f"actions sharing a shortcut: {shared}"
    assert not set(shortcuts.VIEW_KEY_SEQUENCES) & set(keys), "a window shortcut would steal a key from the views"
    # the common actions have one
    for name in ("Preferences", "Keyboard shortcuts", "Open DICOM folder", "Save plan", "Reset views"):
        assert any(name in names for names in keys.values()), name


def test_shortcuts_dialog_lists_the_actual_actions(window, qtbot):
    dialog = shortcuts.ShortcutsDialog(window)
    qtbot.addWidget(dialog)
    listed = {(dialog.table.item(row, 0).text(), dialog.table.item(row, 1).text())
              for row in range(dialog.table.rowCount())}
    for action in window.findChildren(QAction):
        if action.shortcut().isEmpty() or not any(a is action for _, a in shortcuts.window_actions(window)):
            continue
        keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())
        assert (keys, shortcuts.plain_text(action)) in listed
    assert ("R", "reset the view under the mouse") in listed
    # generated, not written down: a new action appears in the next dialog
    window.menuBar().actions()[0].menu().addAction("Brand new thing", QKeySequence("Ctrl+Alt+J"), lambda: None)
    again = shortcuts.ShortcutsDialog(window)
    qtbot.addWidget(again)
    assert any(again.table.item(row, 1).text() == "Brand new thing" for row in range(again.table.rowCount()))


# --- tooltips ---------------------------------------------------------------------------------------
def _plan_with_every_panel_filled(window) -> None:
    """A trocar with an injection and an ablation probe with its zone: every panel shows its controls."""
    from osteoplan.core.planning.trajectory import TrajectoryKind

    session = window.session
    lesion = window.case.ct.index_to_lps((24, 40, 20))
    trocar = session.new_trajectory(lesion + [0, 25, 0], lesion, TrajectoryKind.FREE, device_id="trocar-11g-150")
    session.editor.add_trajectory(trocar)
    window.controller.select(trocar.id)
    window.viewer.set_cursor(lesion)
    window.cement_panel.add_to_selected_trocar()
    probe = session.new_trajectory(lesion + [0, 25, 6], lesion, TrajectoryKind.FREE, device_id="rf-bipolar-bone-10")
    session.editor.add_trajectory(probe)
    window.controller.select(probe.id)
    window.ablation_panel.add_to_selected_path()
    assert session.plan.injections and session.plan.ablations


def test_every_control_and_action_has_a_tooltip(window, qtbot):
    _plan_with_every_panel_filled(window)
    for dock in (window.paths_dock, window.structures_dock, window.ablation_dock, window.cement_dock,
                 window.needle_dock, window.warnings_dock):
        dock.show()
    assert not controls_without_tooltip(window), controls_without_tooltip(window)
    assert not actions_without_tooltip(window), actions_without_tooltip(window)


def test_the_empty_window_has_tooltips_too(qtbot):
    from osteoplan.ui.main_window import MainWindow

    main = MainWindow()
    qtbot.addWidget(main)
    main.show()
    assert not controls_without_tooltip(main), controls_without_tooltip(main)


# --- About ----------------------------------------------------------------------------------------
def test_about_lists_the_versions_it_runs_on(window):
    import numpy
    import SimpleITK
    from PySide6.QtCore import qVersion
    from vtkmodules.vtkCommonCore import vtkVersion

    from osteoplan import __version__
    from osteoplan.ui.dialogs import about_html

    window.views["3d"].render()
    text = about_html(window.views["3d"].GetRenderWindow())
    for version in (__version__, qVersion(), vtkVersion.GetVTKVersion(), SimpleITK.Version.VersionString(),
                    numpy.__version__):
        assert version in text
    assert "OpenGL renderer" in text


# --- preferences ------------------------------------------------------------------------------------
def test_default_thresholds_persist_reach_the_core_and_show_their_origin(window, qtbot):
    from osteoplan.core.safety.structures import Structure

    mask = window.session.structures["lesion"].mask  # any mask: made a neural structure below
    structure = Structure.from_mask("spinal_cord", mask, category="neural", source="user")
    window.session.set_structures(window.session.structures.with_structure(structure))
    assert window.session.structures["spinal_cord"].needle_thresholds().warn_mm == 5.0

    dialog = preferences.PreferencesDialog(window)
    qtbot.addWidget(dialog)
    row = dialog.categories.index("neural")
    dialog.thresholds_table.item(row, 0).setText("8")  # needle warn
    assert dialog.thresholds_table.item(row, 0).font().bold()  # differs from the built-in value
    dialog.accept()

    saved = QSettings().value(preferences.THRESHOLDS_KEY)
    assert "neural" in saved
    rule = window.session.structures["spinal_cord"].needle_thresholds()
    assert (rule.warn_mm, rule.stop_mm) == (8.0, 0.0)
    assert rule.origin.startswith("your settings")
    qtbot.waitUntil(lambda: "spinal_cord" in window.structures_panel._names)  # the panel redraws on a timer
    names = window.structures_panel._names
    in_force = window.structures_panel.table.item(names.index("spinal_cord"), 6)
    assert "8" in in_force.text() and in_force.toolTip().startswith("your settings")

    # a needle whose surface is ~6 mm from the structure: no warning at 5 mm, a warning at 8 mm, marked as yours
    from osteoplan.core.planning.trajectory import TrajectoryKind

    centre = window.case.ct.index_to_lps((24, 40, 20))
    path = window.session.new_trajectory(centre + [13.5, 25, 0], centre + [13.5, -5, 0], TrajectoryKind.FREE,
                                         device_id="trocar-11g-150")
    window.session.editor.add_trajectory(path)
    (warning,) = [w for w in window.session.warnings(path.id) if w.structure == "spinal_cord"]
    assert 5.0 < warning.distance_mm < 8.0 and warning.message.endswith("[your settings]")
    core_structures.set_user_threshold_defaults({})
    window.session.set_structures(window.session.structures)
    assert not [w for w in window.session.warnings(path.id) if w.structure == "spinal_cord"]

    # a restart: the core forgets, the saved preferences bring the value back
    core_structures.set_user_threshold_defaults({})
    assert core_structures.default_threshold_rule("neural", "needle").warn_mm == 5.0
    preferences.apply_preferences(window)
    assert core_structures.default_threshold_rule("neural", "needle").warn_mm == 8.0

    # restoring the built-in values clears the setting
    again = preferences.PreferencesDialog(window)
    qtbot.addWidget(again)
    assert again.thresholds_table.item(row, 0).text() == "8"
    again._fill_thresholds({})
    again.accept()
    assert core_structures.user_threshold_defaults() == {}
    assert window.session.structures["spinal_cord"].needle_thresholds().origin.startswith("category neural")


def test_bad_thresholds_are_refused_with_a_message(window, qtbot):
    dialog = preferences.PreferencesDialog(window)
    qtbot.addWidget(dialog)
    row = dialog.categories.index("vascular")
    dialog.thresholds_table.item(row, 0).setText("2")
    dialog.thresholds_table.item(row, 1).setText("3")  # stop above warn
    dialog.show()
    dialog.accept()
    assert dialog.isVisible() and "must not exceed" in dialog.error.text()
    dialog.thresholds_table.item(row, 1).setText("abc")
    dialog.accept()
    assert "not a number" in dialog.error.text()
    assert not QSettings().value(preferences.THRESHOLDS_KEY)
    assert core_structures.user_threshold_defaults() == {}


def test_damaged_settings_are_ignored_with_a_message(window):
    QSettings().setValue(preferences.THRESHOLDS_KEY, '{"neural": {"needle": [2, 9]}}')  # stop above warn
    QSettings().setValue(preferences.WINDOW_LEVEL_KEY, "not json")
    preferences.apply_preferences(window)
    assert core_structures.user_threshold_defaults() == {}
    assert "ignored" in window.statusBar().currentMessage()
    assert window.user_window_level_actions == []


def test_user_window_level_presets_persist_and_apply(window, qtbot):
    from osteoplan.ui.main_window import MainWindow

    window.viewer.set_window_level(600, 120)
    dialog = preferences.PreferencesDialog(window)
    qtbot.addWidget(dialog)
    dialog.add_current_window()
    dialog.presets_table.item(dialog.presets_table.rowCount() - 1, 0).setText("Sclerotic")
    dialog.accept()

    builtin_keys = {p.shortcut for p in display_presets().window_level}
    action = next(a for a in window.presets_toolbar.window_level_actions.actions() if a.text().startswith("Sclerotic"))
    assert action.shortcut().toString() not in builtin_keys and action.shortcut().toString() == "5"
    assert action.isChecked()  # the window on screen is this preset
    window.viewer.set_window_level(1800, 400)
    assert not action.isChecked()
    action.trigger()
    assert window.viewer.window_level == (600.0, 120.0)
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    assert action in view_menu.actions()

    restarted = MainWindow()  # a new window reads the settings again
    qtbot.addWidget(restarted)
    assert any(a.text() == "Sclerotic (600/120)" for a in restarted.presets_toolbar.window_level_actions.actions())

    again = preferences.PreferencesDialog(window)
    qtbot.addWidget(again)
    again.presets_table.selectRow(again.presets_table.rowCount() - 1)
    again.remove_selected_preset()
    again.accept()
    assert not any(a.text().startswith("Sclerotic") for a in window.presets_toolbar.window_level_actions.actions())
    assert preferences.saved_window_level_presets() == []


# --- first run, icon, version -------------------------------------------------------------------
def test_the_window_without_a_case_points_at_the_demo(qtbot, synthetic_case):
    from osteoplan.ui.main_window import MainWindow

    main = MainWindow()
    main.plan_files.confirm_discard = lambda: True
    qtbot.addWidget(main)
    main.show()
    stack = main.views_or_hint
    assert stack.hint_shown and stack.hint.isVisible()
    assert not main.views["axial"].isVisible()
    assert stack.minimumSizeHint().width() < 100  # the hint never keeps the window from being made small
    opened = []
    main.open_demo = lambda name="spine": opened.append(name)
    stack.hint.demo_button.click()
    assert opened == ["spine"]
    main.set_case(synthetic_case)
    assert not stack.hint_shown and main.views["axial"].isVisible()
    assert QSettings().value(FIRST_RUN_KEY, type=bool)
    main.set_case(None)
    assert stack.hint_shown
    assert "No image open" in stack.hint.title.text()  # the welcome is for the first run only
    main.close()


def test_the_application_has_its_icon():
    icon = QApplication.instance().windowIcon()
    assert not icon.isNull()
    assert not icon.pixmap(64, 64).isNull()
