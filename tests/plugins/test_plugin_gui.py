"""Plugins in the GUI: the example plugin's device in the Paths panel's device chooser, and docks from
``osteoplan.ui_panels`` (a broken panel is reported once and skipped; the window still opens)."""

from __future__ import annotations

import logging

import pytest

from osteoplan import plugin_api
from osteoplan.core.planning.trajectory import TrajectoryKind
from tests.plugins.conftest import EXAMPLE_PLUGIN, example_entry_points

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def _settings_in_tmp(qapp, tmp_path):
    """Keep QSettings (recent files, layout) out of the user's folder, as tests/ui does."""
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))


def _window(qtbot):
    from osteoplan.ui.main_window import MainWindow
    from tests.ui.conftest import make_synthetic_case

    window = MainWindow()
    window.plan_files.confirm_discard = lambda: True
    qtbot.addWidget(window)
    window.resize(1000, 760)
    window.show()
    qtbot.waitExposed(window)
    window.set_case(make_synthetic_case())
    return window


def test_the_example_plugin_device_is_in_the_device_chooser(qtbot, add_entry_points):
    add_entry_points(example_entry_points(), path=EXAMPLE_PLUGIN)
    window = _window(qtbot)
    session = window.session
    lesion = window.case.ct.index_to_lps((24, 40, 20))
    path = session.new_trajectory(lesion + [0, 25, 0], lesion, TrajectoryKind.FREE)
    session.editor.add_trajectory(path)
    combo = window.paths_panel.table.cellWidget(0, 2)
    index = combo.findData("example-mw-sphere-13g")
    assert index >= 0, [combo.itemData(i) for i in range(combo.count())]
    assert combo.itemText(index) == "Example spherical-zone microwave antenna 13G (illustrative)"

    combo.setCurrentIndex(index)  # choose it as the user would, then ablate with it
    assert session.plan.trajectory(path.id).device == "example-mw-sphere-13g"
    window.controller.select(path.id)
    window.ablation_panel.add_to_selected_path()
    (ablation,) = session.plan.ablations
    assert window.ablation_panel.summary(ablation.id)["model"] == "example-sphere"
    window.close()


PANELS = '''
from PySide6.QtWidgets import QLabel

class Good:
    title = "Dose log"
    def create_panel(self, window):
        label = QLabel("dose log of " + type(window).__name__)
        label.setObjectName("dose_log")
        return label

class Raises:
    title = "Raises"
    def create_panel(self, window):
        raise RuntimeError("no licence server")

class NotAWidget:
    title = "Not a widget"
    def create_panel(self, window):
        return "a string"

class NoTitle:
    title = ""
    def create_panel(self, window):
        return QLabel("x")
'''


def test_plugin_panels_become_docks_and_broken_ones_are_skipped(qtbot, tmp_path, add_entry_points, caplog):
    (tmp_path / "fake_gui_panels.py").write_text(PANELS)
    (tmp_path / "fake_gui_broken_import.py").write_text("raise ImportError('needs PyQt5')\n")
    add_entry_points([(plugin_api.UI_PANELS, name, value) for name, value in [
        ("dose-log", "fake_gui_panels:Good"), ("raises", "fake_gui_panels:Raises"),
        ("not-a-widget", "fake_gui_panels:NotAWidget"), ("no-title", "fake_gui_panels:NoTitle"),
        ("import-fails", "fake_gui_broken_import:Panel")]], path=tmp_path)
    with caplog.at_level(logging.WARNING, logger="osteoplan.plugin_api"):
        window = _window(qtbot)
        second = _window(qtbot)  # a second window: the same docks, nothing logged twice
    assert set(window.plugin_docks) == {"dose-log"}
    dock = window.plugin_docks["dose-log"]
    assert dock.windowTitle() == "Dose log" and dock.widget().text() == "dose log of MainWindow"
    assert window.tabifiedDockWidgets(window.paths_dock).count(dock) == 1
    assert "4 plugin panel(s) could not be loaded" in window.statusBar().currentMessage()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == len(set(messages)) == 4
    for name, why in [("raises", "no licence server"), ("not-a-widget", "not a QWidget"), ("no-title", "title"),
                      ("import-fails", "needs PyQt5")]:
        assert any(f"'{name}'" in m and why in m for m in messages), (name, messages)
    assert set(second.plugin_docks) == {"dose-log"}
    window.close()
    second.close()
