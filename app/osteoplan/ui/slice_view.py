"""An axial, sagittal or coronal slice view linked to the viewer's cursor.

Mouse and keys (also listed in Help > Mouse and keyboard):
- left click / drag: move the cursor (the other views follow);
- right drag: window (left-right) and level (up-down);
- middle drag or Shift + left drag: pan; Ctrl + wheel: zoom;
- wheel, Up/Down, Page Up/Page Down: previous / next slice;
- double click: maximise this view / back to four panes; R: reset the view.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from osteoplan.core.case import Case
from osteoplan.core.view_geometry import (
    SliceOrientation,
    display_to_world,
    move_point_onto_plane,
    orientation_label,
    slice_step_mm,
    view_frame,
)
from osteoplan.core.viewer import ViewerState
from osteoplan.render.overlays import CornerText, CrosshairLine, EdgeLetters
from osteoplan.render.slices import CtSliceLayer, LabelSliceLayer
from osteoplan.ui.style import VIEW_COLORS, VIEW_TITLES
from osteoplan.ui.vtk_pane import VtkPane

ZOOM_STEP = 1.15
PAGE_KEYS = {"Up": 1, "Down": -1, "Prior": 5, "Next": -5}


class SliceView(VtkPane):
    maximise_requested = Signal()
    hover_moved = Signal(object)  # LPS point under the mouse, or None

    def __init__(self, orientation: SliceOrientation, viewer: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.orientation = SliceOrientation(orientation)
        self.frame = view_frame(self.orientation)
        self.viewer = viewer
        self.case: Case | None = None
        self._ct_layer: CtSliceLayer | None = None
        self._label_layer: LabelSliceLayer | None = None
        self._drag: tuple[str, tuple[int, int], tuple] | None = None
        self.setObjectName(f"{self.orientation.value}_view")

        camera = self.renderer.GetActiveCamera()
        camera.ParallelProjectionOn()
        self._letters = EdgeLetters(self.renderer)
        self._letters.set_letters(self.frame.edge_letters())
        self._corners = CornerText(self.renderer)
        self._corners.set_text("top_left", VIEW_TITLES[self.orientation], VIEW_COLORS[self.orientation])
        self._crosshair = {
            "horizontal": CrosshairLine(self.renderer, self._plane_color(self.frame.view_up)),
            "vertical": CrosshairLine(self.renderer, self._plane_color(self.frame.screen_right)),
        }
        for line in self._crosshair.values():
            line.actor.VisibilityOff()

        viewer.cursor_changed.connect(self._on_cursor_changed)
        viewer.window_level_changed.connect(self._on_window_level_changed)
        viewer.labels_visible_changed.connect(self._on_labels_visible_changed)
        self._wire_interaction()

    # --- content -----------------------------------------------------------------------
    def set_case(self, case: Case | None) -> None:
        for layer in (self._ct_layer, self._label_layer):
            if layer is not None:
                self.renderer.RemoveViewProp(layer.prop)
        self._ct_layer = self._label_layer = None
        self.case = case
        if case is not None:
            self._ct_layer = CtSliceLayer(case.ct, self.renderer)
            self._ct_layer.set_window_level(*self.viewer.window_level)
            if case.labels is not None:
                self._label_layer = LabelSliceLayer(case.labels.volume, case.labels.names, self.renderer)
                self._label_layer.set_visible(self.viewer.labels_visible)
        for line in self._crosshair.values():
            line.actor.SetVisibility(case is not None)
        self.reset_view()

    def reset_view(self) -> None:
        """Fit the whole image in the view, centred, at the cursor's slice."""
        camera = self.renderer.GetActiveCamera()
        if self.case is None:
            self.render()
            return
        low, high = self.case.ct.bounds_lps()
        center = move_point_onto_plane((low + high) / 2, self.viewer.cursor_lps, self.frame.normal)
        extent = high - low
        half_height = abs(np.dot(extent, self.frame.view_up)) / 2
        half_width = abs(np.dot(extent, self.frame.screen_right)) / 2
        aspect = max(self.width(), 1) / max(self.height(), 1)
        camera.SetFocalPoint(*center)
        camera.SetPosition(*(center - self.frame.view_direction * (np.linalg.norm(extent) + 100.0)))
        camera.SetViewUp(*self.frame.view_up)
        camera.SetParallelScale(1.04 * max(half_height, half_width / aspect, 1.0))
        self._update_cursor_graphics()
        self._update_window_level_text()
        self.render()

    def render(self) -> None:
        if self.case is not None:
            self.renderer.ResetCameraClippingRange()
        super().render()

    # --- viewer events -----------------------------------------------------------------
    def _on_cursor_changed(self, _cursor) -> None:
        if self.case is None:
            return
        camera = self.renderer.GetActiveCamera()
        focal = np.asarray(camera.GetFocalPoint())
        shift = move_point_onto_plane(focal, self.viewer.cursor_lps, self.frame.normal) - focal
        camera.SetFocalPoint(*(focal + shift))
        camera.SetPosition(*(np.asarray(camera.GetPosition()) + shift))
        self._update_cursor_graphics()
        self.render()

    def _on_window_level_changed(self, width: float, level: float) -> None:
        if self._ct_layer is not None:
            self._ct_layer.set_window_level(width, level)
            self._update_window_level_text()
            self.render()

    def _on_labels_visible_changed(self, visible: bool) -> None:
        if self._label_layer is not None:
            self._label_layer.set_visible(visible)
            self.render()

    def _update_cursor_graphics(self) -> None:
        if self.case is None:
            return
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

    def _update_window_level_text(self) -> None:
        width, level = self.viewer.window_level
        self._corners.set_text("bottom_right", f"W {width:.0f}  L {level:.0f}")

    @staticmethod
    def _plane_color(line_normal) -> tuple[float, float, float]:
        """Colour of the view whose plane a crosshair line shows (the line's in-plane normal)."""
        for orientation in SliceOrientation:
            if abs(abs(float(np.dot(view_frame(orientation).normal, line_normal))) - 1.0) < 1e-6:
                return VIEW_COLORS[orientation]
        return (0.8, 0.8, 0.8)

    # --- geometry helpers --------------------------------------------------------------
    def world_at_display(self, x: float, y: float) -> np.ndarray:
        """LPS point in the current slice under VTK display coordinates (origin bottom-left)."""
        camera = self.renderer.GetActiveCamera()
        return display_to_world((x, y), self.GetRenderWindow().GetSize(), camera.GetFocalPoint(), self.frame,
                                camera.GetParallelScale())

    def display_of_world(self, lps) -> tuple[float, float]:
        """VTK display coordinates of an LPS point (its projection onto the view)."""
        camera = self.renderer.GetActiveCamera()
        width, height = self.GetRenderWindow().GetSize()
        mm_per_pixel = 2.0 * camera.GetParallelScale() / height
        offset = np.asarray(lps, dtype=float) - np.asarray(camera.GetFocalPoint())
        return ((width - 1) / 2 + np.dot(offset, self.frame.screen_right) / mm_per_pixel,
                (height - 1) / 2 + np.dot(offset, self.frame.view_up) / mm_per_pixel)

    def page(self, slices: int) -> None:
        if self.case is None:
            return
        step = slice_step_mm(self.case.ct.spacing, self.case.ct.direction, self.frame.normal)
        self.viewer.set_cursor(self._clamp(self.viewer.cursor_lps + self.frame.page_direction * step * slices))

    def zoom(self, factor: float) -> None:
        camera = self.renderer.GetActiveCamera()
        camera.SetParallelScale(camera.GetParallelScale() / factor)
        self.render()

    def pan_pixels(self, dx: float, dy: float) -> None:
        camera = self.renderer.GetActiveCamera()
        mm_per_pixel = 2.0 * camera.GetParallelScale() / self.GetRenderWindow().GetSize()[1]
        shift = -(self.frame.screen_right * dx + self.frame.view_up * dy) * mm_per_pixel
        camera.SetFocalPoint(*(np.asarray(camera.GetFocalPoint()) + shift))
        camera.SetPosition(*(np.asarray(camera.GetPosition()) + shift))
        self.render()

    def _clamp(self, lps) -> np.ndarray:
        low, high = self.case.ct.bounds_lps()
        return np.clip(np.asarray(lps, dtype=float), low, high)

    # --- interaction -------------------------------------------------------------------
    def _wire_interaction(self) -> None:
        observe = self.interactor.AddObserver
        observe("LeftButtonPressEvent", lambda *_: self._press("pan" if self.interactor.GetShiftKey() else "cursor"))
        observe("RightButtonPressEvent", lambda *_: self._press("window_level"))
        observe("MiddleButtonPressEvent", lambda *_: self._press("pan"))
        for event in ("LeftButtonReleaseEvent", "RightButtonReleaseEvent", "MiddleButtonReleaseEvent"):
            observe(event, lambda *_: self._release())
        observe("MouseMoveEvent", lambda *_: self._move())
        observe("MouseWheelForwardEvent", lambda *_: self._wheel(+1))
        observe("MouseWheelBackwardEvent", lambda *_: self._wheel(-1))
        observe("KeyPressEvent", lambda *_: self._key(self.interactor.GetKeySym() or ""))

    def _press(self, mode: str) -> None:
        if self.case is None:
            return
        position = self.interactor.GetEventPosition()
        self._drag = (mode, position, self.viewer.window_level)
        if mode == "cursor":
            self.viewer.set_cursor(self._clamp(self.world_at_display(*position)))

    def _release(self) -> None:
        self._drag = None

    def _move(self) -> None:
        if self.case is None:
            return
        x, y = self.interactor.GetEventPosition()
        if self._drag is None:
            self.hover_moved.emit(self.world_at_display(x, y))
            return
        mode, (x0, y0), (width0, level0) = self._drag
        if mode == "cursor":
            self.viewer.set_cursor(self._clamp(self.world_at_display(x, y)))
        elif mode == "window_level":
            self.viewer.set_window_level(width0 * math.exp((x - x0) / 200.0), level0 - (y - y0) * width0 / 300.0)
        elif mode == "pan":
            self.pan_pixels(x - x0, y - y0)
            self._drag = (mode, (x, y), (width0, level0))

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
