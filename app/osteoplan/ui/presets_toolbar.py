"""Toolbar: window/level presets (with their shortcuts), 3-D preset, label overlay toggle."""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QComboBox, QLabel, QToolBar, QWidget

from osteoplan.core.display.presets import display_presets
from osteoplan.core.display.viewer import ViewerState

CUSTOM = "Custom"


class PresetsToolBar(QToolBar):
    def __init__(self, viewer: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__("Display", parent)
        self.setObjectName("display_toolbar")
        self.viewer = viewer
        presets = display_presets()

        self.window_level_actions = QActionGroup(self)
        self.window_level_actions.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        self.addWidget(QLabel(" Window: "))
        for preset in presets.window_level:
            action = QAction(f"{preset.name} ({preset.width:g}/{preset.level:g})", self, checkable=True)
            action.setData(preset.id)
            action.setProperty("window_level", (preset.width, preset.level))  # user presets too (preferences.py)
            if preset.shortcut:
                action.setShortcut(QKeySequence(preset.shortcut))
            action.setToolTip(f"Window {preset.width:g}, level {preset.level:g} HU")
            action.triggered.connect(lambda _=False, pid=preset.id: viewer.apply_window_level_preset(pid))
            self.window_level_actions.addAction(action)
            self.addAction(action)
        self.addSeparator()

        self.addWidget(QLabel(" 3D: "))
        self.volume_combo = QComboBox()
        self.volume_combo.setToolTip("How the 3D view renders the CT (colours and opacities by HU)")
        for preset in presets.volume_rendering:
            self.volume_combo.addItem(preset.name, preset.id)
        self.volume_combo.setCurrentIndex(self.volume_combo.findData(viewer.volume_preset))
        self.volume_combo.currentIndexChanged.connect(
            lambda index: viewer.set_volume_preset(self.volume_combo.itemData(index)))
        self.addWidget(self.volume_combo)
        self.addSeparator()

        self.labels_action = QAction("Show labels", self, checkable=True, checked=viewer.labels_visible)
        self.labels_action.setShortcut(QKeySequence("L"))
        self.labels_action.setToolTip("Show or hide the critical structures (filled and outlined) in every view")
        self.labels_action.toggled.connect(viewer.set_labels_visible)
        self.addAction(self.labels_action)

        viewer.window_level_changed.connect(self._sync_window_level)
        viewer.volume_preset_changed.connect(
            lambda pid: self.volume_combo.setCurrentIndex(self.volume_combo.findData(pid)))
        self._sync_window_level(*viewer.window_level)

    def _sync_window_level(self, width: float, level: float) -> None:
        """Check the preset that matches the current window/level, none after a manual drag."""
        for action in self.window_level_actions.actions():
            preset_width, preset_level = action.property("window_level")
            action.setChecked(abs(preset_width - width) < 0.5 and abs(preset_level - level) < 0.5)
