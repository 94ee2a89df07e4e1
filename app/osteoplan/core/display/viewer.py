"""The viewer's state (Qt-free): cursor, window/level, presets, label visibility.

Views observe these events and draw; user gestures call the setters. Nothing here
knows about widgets, so tests and scripts drive the viewer without a screen.
"""

from __future__ import annotations

import numpy as np
from psygnal import Signal

from osteoplan.core.display.presets import display_presets


class ViewerState:
    cursor_changed = Signal(object)  # np.ndarray, LPS mm
    window_level_changed = Signal(float, float)  # width, level
    volume_preset_changed = Signal(str)
    labels_visible_changed = Signal(bool)

    def __init__(self) -> None:
        presets = display_presets()
        default = presets.window_level_preset(presets.default_window_level)
        self._cursor_lps = np.zeros(3)
        self._window = default.width
        self._level = default.level
        self._volume_preset = presets.default_volume_rendering
        self._labels_visible = True

    # cursor ---------------------------------------------------------------------------
    @property
    def cursor_lps(self) -> np.ndarray:
        return self._cursor_lps.copy()

    def set_cursor(self, lps) -> None:
        lps = np.asarray(lps, dtype=float).reshape(3)
        if not np.all(np.isfinite(lps)) or np.allclose(lps, self._cursor_lps, atol=1e-9):
            return
        self._cursor_lps = lps
        self.cursor_changed.emit(self.cursor_lps)

    # window / level ---------------------------------------------------------------------
    @property
    def window_level(self) -> tuple[float, float]:
        return self._window, self._level

    def set_window_level(self, width: float, level: float) -> None:
        width = max(float(width), 1.0)
        if (width, float(level)) == (self._window, self._level):
            return
        self._window, self._level = width, float(level)
        self.window_level_changed.emit(self._window, self._level)

    def apply_window_level_preset(self, preset_id: str) -> None:
        preset = display_presets().window_level_preset(preset_id)
        self.set_window_level(preset.width, preset.level)

    # 3-D rendering preset -----------------------------------------------------------------
    @property
    def volume_preset(self) -> str:
        return self._volume_preset

    def set_volume_preset(self, preset_id: str) -> None:
        display_presets().volume_preset(preset_id)  # raises StopIteration for an unknown id
        if preset_id != self._volume_preset:
            self._volume_preset = preset_id
            self.volume_preset_changed.emit(preset_id)

    # label overlay ------------------------------------------------------------------------
    @property
    def labels_visible(self) -> bool:
        return self._labels_visible

    def set_labels_visible(self, visible: bool) -> None:
        if bool(visible) != self._labels_visible:
            self._labels_visible = bool(visible)
            self.labels_visible_changed.emit(self._labels_visible)
