"""An axial, sagittal or coronal slice view linked to the viewer's cursor.

Mouse and keys (also listed in Help > Mouse and keyboard):
- left click / drag: move the cursor (the other views follow) — unless a tool or a needle
  handle takes the press (see `pointer_handlers`);
- right drag: window (left-right) and level (up-down);
- middle drag or Shift + left drag: pan; Ctrl + wheel: zoom;
- wheel, Up/Down, Page Up/Page Down: previous / next slice;
- double click: maximise this view / back to four panes; R: reset the view.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from osteoplan.core.display.view_geometry import SliceOrientation, orientation_label, slice_step_mm, view_frame
from osteoplan.core.display.viewer import ViewerState
from osteoplan.render.overlays import CrosshairLine, EdgeLetters
from osteoplan.ui.reslice_view import ZOOM_STEP, ResliceView
from osteoplan.ui.style import VIEW_COLORS, VIEW_TITLES

PAGE_KEYS = {"Up": 1, "Down": -1, "Prior": 5, "Next": -5}


class PointerHandler(Protocol):
    """Something that may take a left-button gesture in a 2-D view (a tool, needle handles)."""

    def press(self, view: "ResliceView", world_lps: np.ndarray, display_xy: tuple[int, int]) -> bool: ...

    def move(self, view: "ResliceView", world_lps: np.ndarray, display_xy: tuple[int, int]) -> None: ...

    def release(self, view: "ResliceView") -> None: ...

    def hover(self, view: "ResliceView", world_lps: np.ndarray, display_xy: tuple[int, int]) -> None: ...


class SliceView(ResliceView):
    maximise_requested = Signal()
    hover_moved = Signal(object)  # LPS point under the mouse, or None

    def __init__(self, orientation: SliceOrientation, viewer: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(view_frame(orientation), viewer, parent)
        self.orientation = SliceOrientation(orientation)
        self.setObjectName(f"{self.orientation.value}_view")
        self.pointer_handlers: list[PointerHandler] = []
        self._drag: tuple | None = None
        self._letters = EdgeLetters(self.renderer)
        self._letters.set_letters(self.frame.edge_letters())
        self._corners.set_text("top_left", VIEW_TITLES[self.orientation], VIEW_COLORS[self.orientation])
        self._crosshair = {
            "horizontal": CrosshairLine(self.renderer, self._plane_color(self.frame.view_up)),
            "vertical": CrosshairLine(self.renderer, self._plane_color(self.frame.screen_right)),
        }
        for line in self._crosshair.values():
            line.actor.VisibilityOff()
        viewer.cursor_changed.connect(self._on_cursor_changed)
        self._wire_interaction()

    # --- content -----------------------------------------------------------------------
    def set_case(self, case) -> None:
        super().set_case(case)
        for line in self._crosshair.values():
            line.actor.SetVisibility(case is not None)
        self.reset_view()

    def reset_view(self) -> None:
        """Fit the whole image in the view, centred, at the cursor's slice."""
        if self.case is not None:
            low, high = self.case.ct.bounds_lps()
            self.look_at((low + high) / 2, half_height_mm=self.fit_half_height(low, high))
            self.move_plane_to(self.viewer.cursor_lps)
            self._update_cursor_graphics()
        self.render()

    def _on_cursor_changed(self, _cursor) -> None:
        if self.case is None:
            return
        self.move_plane_to(self.viewer.cursor_lps)
        self._update_cursor_graphics()
        self.render()

    def _update_cursor_graphics(self) -> None:
        cursor = self.viewer.cursor_lps
        low, high = self.case.ct.bounds_lps()
        reach = 2.0 * float(np.linalg.norm(high - low)) + 10.0
        towards_eye = -self.frame.view_direction
        self._crosshair["horizontal"].place(cursor, self.frame.screen_right, reach, towards_eye)
        self._crosshair["vertical"].place(cursor, self.frame.view_up, reach, towards_eye)
        self._corners.set_text("bottom_left", self._slice_position_text())

    def _slice_position_text(self) -> str:
        """Position of the slice along its page direction, e.g. "S 12.5 mm" or "L 3.0 mm"."""
        position = float(np.dot(self.viewer.cursor_lps, self.frame.page_direction))
        letter = orientation_label(self.frame.page_direction if position >= 0 else -self.frame.page_direction)
        return f"{letter} {abs(position):.1f} mm"

    @staticmethod
    def _plane_color(line_normal) -> tuple[float, float, float]:
        """Colour of the view whose plane a crosshair line shows (the line's in-plane normal)."""
        for orientation in SliceOrientation:
            if abs(abs(float(np.dot(view_frame(orientation).normal, line_normal))) - 1.0) < 1e-6:
                return VIEW_COLORS[orientation]
        return (0.8, 0.8, 0.8)

    # --- navigation --------------------------------------------------------------------
    def page(self, slices: int) -> None:
        if self.case is None:
            return
        step = slice_step_mm(self.case.ct.spacing, self.case.ct.direction, self.frame.normal)
        self.viewer.set_cursor(self._clamp(self.viewer.cursor_lps + self.frame.page_direction * step * slices))

    def _clamp(self, lps) -> np.ndarray:
        low, high = self.case.ct.bounds_lps()
        return np.clip(np.asarray(lps, dtype=float), low, high)

    # --- interaction -------------------------------------------------------------------
    def _wire_interaction(self) -> None:
        observe = self.interactor.AddObserver
        observe("LeftButtonPressEvent", lambda *_: self._press_left())
        observe("RightButtonPressEvent", lambda *_: self._press("window_level"))
        observe("MiddleButtonPressEvent", lambda *_: self._press("pan"))
        for event in ("LeftButtonReleaseEvent", "RightButtonReleaseEvent", "MiddleButtonReleaseEvent"):
            observe(event, lambda *_: self._release())
        observe("MouseMoveEvent", lambda *_: self._move())
        observe("MouseWheelForwardEvent", lambda *_: self._wheel(+1))
        observe("MouseWheelBackwardEvent", lambda *_: self._wheel(-1))
        observe("KeyPressEvent", lambda *_: self._key(self.interactor.GetKeySym() or ""))

    def _press_left(self) -> None:
        if self.case is None:
            return
        if self.interactor.GetShiftKey():
            self._press("pan")
            return
        position = self.interactor.GetEventPosition()
        world = self.world_at_display(*position)
        for handler in self.pointer_handlers:
            if handler.press(self, world, position):
                self._drag = ("handler", position, handler)
                return
        self._press("cursor")

    def _press(self, mode: str) -> None:
        if self.case is None:
            return
        position = self.interactor.GetEventPosition()
        self._drag = (mode, position, self.viewer.window_level)
        if mode == "cursor":
            self.viewer.set_cursor(self._clamp(self.world_at_display(*position)))

    def _release(self) -> None:
        if self._drag is not None and self._drag[0] == "handler":
            self._drag[2].release(self)
        self._drag = None

    def _move(self) -> None:
        if self.case is None:
            return
        x, y = self.interactor.GetEventPosition()
        world = self.world_at_display(x, y)
        if self._drag is None:
            self.hover_moved.emit(world)
            for handler in self.pointer_handlers:
                handler.hover(self, world, (x, y))
            return
        mode, (x0, y0), state = self._drag
        if mode == "handler":
            state.move(self, world, (x, y))
        elif mode == "cursor":
            self.viewer.set_cursor(self._clamp(world))
        elif mode == "window_level":
            width0, level0 = state
            self.viewer.set_window_level(width0 * math.exp((x - x0) / 200.0), level0 - (y - y0) * width0 / 300.0)
        elif mode == "pan":
            self.pan_pixels(x - x0, y - y0)
            self._drag = (mode, (x, y), state)

    def _wheel(self, direction: int) -> None:
        if self.interactor.GetControlKey():
            self.zoom(ZOOM_STEP if direction > 0 else 1 / ZOOM_STEP)
        else:
            self.page(direction)

    def _key(self, key: str) -> None:
        if key in PAGE_KEYS:
            self.page(PAGE_KEYS[key])
        elif key.lower() == "r":
            self.reset_view()

    def mouseDoubleClickEvent(self, event):  # noqa: N802 (Qt naming)
        self.maximise_requested.emit()
        event.accept()

    def resizeEvent(self, event):  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        if self.case is not None and event.oldSize().width() <= 0:
            self.reset_view()

    def close_pane(self) -> None:
        self.viewer.cursor_changed.disconnect(self._on_cursor_changed)
        super().close_pane()
