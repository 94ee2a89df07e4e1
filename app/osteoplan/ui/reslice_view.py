"""Base of every 2-D view: the CT (and label overlay) resliced on the plane the camera looks at.

Subclasses choose the plane: the axial/sagittal/coronal views follow the cursor, the needle
views follow a trajectory. Zoom, pan, window/level and pixel<->LPS conversion live here.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QWidget

from osteoplan.core.display.view_geometry import ViewFrame, display_to_world, move_point_onto_plane
from osteoplan.core.display.viewer import ViewerState
from osteoplan.core.imaging.case import Case
from osteoplan.render.label_outlines import LabelOutlines
from osteoplan.render.overlays import CornerText
from osteoplan.render.slices import CtSliceLayer, LabelSliceLayer
from osteoplan.ui.vtk_pane import VtkPane

ZOOM_STEP = 1.15


class ResliceView(VtkPane):
    def __init__(self, frame: ViewFrame, viewer: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.frame = frame
        self.viewer = viewer
        self.case: Case | None = None
        self._ct_layer: CtSliceLayer | None = None
        self._label_layer: LabelSliceLayer | None = None
        self._outlines: LabelOutlines | None = None
        self.renderer.GetActiveCamera().ParallelProjectionOn()
        self._corners = CornerText(self.renderer)
        viewer.window_level_changed.connect(self._on_window_level_changed)
        viewer.labels_visible_changed.connect(self._on_labels_visible_changed)

    # --- content -----------------------------------------------------------------------
    def set_case(self, case: Case | None) -> None:
        if self._ct_layer is not None:
            self.renderer.RemoveViewProp(self._ct_layer.prop)
        self._ct_layer = None
        self.set_structures(None)
        self.case = case
        if case is not None:
            self._ct_layer = CtSliceLayer(case.ct, self.renderer)
            self._ct_layer.set_window_level(*self.viewer.window_level)
        self._update_window_level_text()

    def set_structures(self, display) -> None:
        """Draw the critical structures (a `StructureDisplay`, or None) filled and outlined."""
        if self._label_layer is not None:
            self.renderer.RemoveViewProp(self._label_layer.prop)
        if self._outlines is not None:
            self.renderer.RemoveActor(self._outlines.actor)
        self._label_layer = self._outlines = None
        if display is not None:
            self._label_layer = LabelSliceLayer(display.labels, display.styles, self.renderer)
            self._label_layer.set_visible(self.viewer.labels_visible)
            self._outlines = LabelOutlines(display.labels, display.outline_colors, self.renderer)
            self._outlines.set_visible(self.viewer.labels_visible)

    def prepare_frame(self) -> None:
        if self._outlines is not None and self.viewer.labels_visible:
            self._outlines.update(self.plane_point, self.frame)
        if self.case is not None:
            self.renderer.ResetCameraClippingRange()

    # --- camera ------------------------------------------------------------------------
    @property
    def plane_point(self) -> np.ndarray:
        return np.asarray(self.renderer.GetActiveCamera().GetFocalPoint(), dtype=float)

    def look_at(self, center, frame: ViewFrame | None = None, half_height_mm: float | None = None) -> None:
        """Put the view's plane through `center`, centred there, optionally with a new frame/zoom."""
        if frame is not None:
            self.frame = frame
        camera = self.renderer.GetActiveCamera()
        center = np.asarray(center, dtype=float)
        camera.SetFocalPoint(*center)
        camera.SetPosition(*(center - self.frame.view_direction * 1000.0))
        camera.SetViewUp(*self.frame.view_up)
        if half_height_mm is not None:
            camera.SetParallelScale(max(half_height_mm, 1.0))

    def move_plane_to(self, point) -> None:
        """Shift the plane along its normal so it passes through `point` (in-plane position kept)."""
        camera = self.renderer.GetActiveCamera()
        focal = np.asarray(camera.GetFocalPoint())
        shift = move_point_onto_plane(focal, point, self.frame.normal) - focal
        camera.SetFocalPoint(*(focal + shift))
        camera.SetPosition(*(np.asarray(camera.GetPosition()) + shift))

    def fit_half_height(self, low, high) -> float:
        """Parallel scale that shows the LPS box [low, high] whole in this view."""
        extent = np.asarray(high, dtype=float) - np.asarray(low, dtype=float)
        half_height = abs(np.dot(extent, self.frame.view_up)) / 2
        half_width = abs(np.dot(extent, self.frame.screen_right)) / 2
        aspect = max(self.width(), 1) / max(self.height(), 1)
        return 1.04 * max(half_height, half_width / aspect, 1.0)

    @property
    def mm_per_pixel(self) -> float:
        return 2.0 * self.renderer.GetActiveCamera().GetParallelScale() / max(self.GetRenderWindow().GetSize()[1], 1)

    def world_at_display(self, x: float, y: float) -> np.ndarray:
        """LPS point in the view's plane under VTK display coordinates (origin bottom-left)."""
        camera = self.renderer.GetActiveCamera()
        return display_to_world((x, y), self.GetRenderWindow().GetSize(), camera.GetFocalPoint(), self.frame,
                                camera.GetParallelScale())

    def world_at_display_near(self, x: float, y: float, reference_lps) -> np.ndarray:
        """The point under the mouse used to drag `reference_lps`: here, in the view's plane
        (a drag then moves the point within the plane, keeping its depth)."""
        return self.world_at_display(x, y)

    def display_of_world(self, lps) -> tuple[float, float]:
        """VTK display coordinates of an LPS point (its projection onto the view)."""
        width, height = self.GetRenderWindow().GetSize()
        offset = np.asarray(lps, dtype=float) - self.plane_point
        return ((width - 1) / 2 + np.dot(offset, self.frame.screen_right) / self.mm_per_pixel,
                (height - 1) / 2 + np.dot(offset, self.frame.view_up) / self.mm_per_pixel)

    def zoom(self, factor: float) -> None:
        camera = self.renderer.GetActiveCamera()
        camera.SetParallelScale(camera.GetParallelScale() / factor)
        self.render()

    def pan_pixels(self, dx: float, dy: float) -> None:
        shift = -(self.frame.screen_right * dx + self.frame.view_up * dy) * self.mm_per_pixel
        camera = self.renderer.GetActiveCamera()
        camera.SetFocalPoint(*(np.asarray(camera.GetFocalPoint()) + shift))
        camera.SetPosition(*(np.asarray(camera.GetPosition()) + shift))
        self.render()

    # --- viewer events -----------------------------------------------------------------
    def _on_window_level_changed(self, width: float, level: float) -> None:
        if self._ct_layer is not None:
            self._ct_layer.set_window_level(width, level)
            self._update_window_level_text()
            self.render()

    def _on_labels_visible_changed(self, visible: bool) -> None:
        if self._label_layer is not None:
            self._label_layer.set_visible(visible)
            self._outlines.set_visible(visible)
        self.render()

    def _update_window_level_text(self) -> None:
        width, level = self.viewer.window_level
        self._corners.set_text("bottom_right", f"W {width:.0f}  L {level:.0f}")

    def close_pane(self) -> None:
        for signal, slot in ((self.viewer.window_level_changed, self._on_window_level_changed),
                             (self.viewer.labels_visible_changed, self._on_labels_visible_changed)):
            signal.disconnect(slot)
        super().close_pane()
