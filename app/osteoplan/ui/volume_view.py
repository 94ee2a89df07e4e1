"""The 3-D view: volume rendering of the CT with a bone or soft-tissue preset.

Mouse: left drag rotates, middle drag (or Shift + left) pans, wheel or right drag zooms;
double click maximises; R resets to the anterior view.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
from vtkmodules.vtkInteractionWidgets import vtkOrientationMarkerWidget
from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor

from osteoplan.core.display.presets import display_presets
from osteoplan.core.display.viewer import ViewerState
from osteoplan.core.imaging.case import Case
from osteoplan.render.overlays import CornerText
from osteoplan.render.structure_surfaces import StructureSurfaces
from osteoplan.render.volume_rendering import VolumeRenderingLayer, use_gpu_mapper
from osteoplan.ui.style import VOLUME_BACKGROUND_BOTTOM, VOLUME_BACKGROUND_TOP
from osteoplan.ui.vtk_pane import VtkPane

INTERACTIVE_UPDATE_RATE = 15.0  # frames/s the mappers aim for while the user rotates


def _orientation_cube() -> vtkAnnotatedCubeActor:
    cube = vtkAnnotatedCubeActor()
    # LPS: +x is the patient's left, +y posterior, +z superior.
    for face, text in (("XPlus", "L"), ("XMinus", "R"), ("YPlus", "P"), ("YMinus", "A"), ("ZPlus", "S"), ("ZMinus", "I")):
        getattr(cube, f"Set{face}FaceText")(text)
    cube.SetFaceTextScale(0.65)
    cube.GetCubeProperty().SetColor(0.25, 0.30, 0.40)
    cube.GetTextEdgesProperty().SetColor(0.9, 0.9, 0.9)
    for getter in ("GetXPlusFaceProperty", "GetXMinusFaceProperty"):
        getattr(cube, getter)().SetColor(0.95, 0.85, 0.35)
    for getter in ("GetYPlusFaceProperty", "GetYMinusFaceProperty"):
        getattr(cube, getter)().SetColor(0.45, 0.85, 0.45)
    for getter in ("GetZPlusFaceProperty", "GetZMinusFaceProperty"):
        getattr(cube, getter)().SetColor(0.95, 0.40, 0.40)
    return cube


class VolumeView(VtkPane):
    maximise_requested = Signal()

    def __init__(self, viewer: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("3d_view")
        self.viewer = viewer
        self.case: Case | None = None
        self.layer: VolumeRenderingLayer | None = None
        self.renderer.GradientBackgroundOn()
        self.renderer.SetBackground(*VOLUME_BACKGROUND_BOTTOM)
        self.renderer.SetBackground2(*VOLUME_BACKGROUND_TOP)
        self.interactor.SetInteractorStyle(vtkInteractorStyleTrackballCamera())
        self.interactor.SetDesiredUpdateRate(INTERACTIVE_UPDATE_RATE)
        self.interactor.AddObserver("KeyPressEvent", self._key, 1.0)
        # Needle handles can be dragged in 3-D too: these observers run before the camera style
        # and stop it when a handler takes the gesture.
        self.pointer_handlers: list = []
        self._dragging = None
        self._observer_tags = {event: self.interactor.AddObserver(event, self._pointer_event, 10.0)
                               for event in ("LeftButtonPressEvent", "MouseMoveEvent", "LeftButtonReleaseEvent")}
        self._corners = CornerText(self.renderer)
        self._corners.set_text("top_left", "3D", (0.75, 0.80, 0.95))
        self._marker = vtkOrientationMarkerWidget()
        self._marker.SetOrientationMarker(_orientation_cube())
        self._marker.SetInteractor(self.interactor)
        self._marker.SetViewport(0.0, 0.0, 0.16, 0.16)
        self.surfaces = StructureSurfaces(self.renderer)
        viewer.volume_preset_changed.connect(self._on_preset_changed)
        viewer.labels_visible_changed.connect(self._on_labels_visible_changed)

    def set_case(self, case: Case | None) -> None:
        if self.layer is not None:
            self.renderer.RemoveVolume(self.layer.prop)
            self.layer = None
        self.case = case
        if case is not None:
            self.ensure_initialized()
            self.GetRenderWindow().Render()  # the OpenGL context must exist to know the renderer
            preset = display_presets().volume_preset(self.viewer.volume_preset)
            self.layer = VolumeRenderingLayer(case.ct, self.renderer, preset, gpu=use_gpu_mapper(self.GetRenderWindow()))
            self._marker.SetEnabled(True)
            self._marker.InteractiveOff()
            self._update_preset_text()
        self.set_structures(None)
        self.reset_view()

    def set_structures(self, display) -> None:
        """Critical structures (a `StructureDisplay`, or None) as translucent surfaces."""
        self.surfaces.set_labels(display.labels if display else None, display.surface_colors if display else {})
        self.surfaces.set_visible(self.viewer.labels_visible)

    def _on_labels_visible_changed(self, visible: bool) -> None:
        self.surfaces.set_visible(visible)
        self.render()

    def reset_view(self) -> None:
        """Anterior view turned slightly to the patient's left and from above (depth reads better
        than face-on); the patient's left stays on the screen's right; whole volume in view."""
        camera = self.renderer.GetActiveCamera()
        if self.case is not None:
            # Frame what the preset shows (the bone), not the air around it.
            preset = display_presets().volume_preset(self.viewer.volume_preset)
            visible_from = next((hu for hu, opacity in preset.opacity if opacity >= 0.1), preset.opacity[-1][0])
            low, high = self.case.ct.bounds_above(visible_from)
            center = (low + high) / 2
            camera.SetFocalPoint(*center)
            camera.SetPosition(*(center - np.array([0.0, 1.0, 0.0]) * 4.0 * float(np.linalg.norm(high - low))))
            camera.SetViewUp(0.0, 0.0, 1.0)
            camera.Azimuth(-25.0)
            camera.Elevation(15.0)
            camera.OrthogonalizeViewUp()
            self.renderer.ResetCamera(*np.ravel(np.column_stack([low, high])))
            camera.Zoom(1.1)
        self.render()

    def look_at_needle(self, entry_lps, target_lps) -> None:
        """See a needle whole, obliquely from behind its entry and from its lateral side, a little from above."""
        entry, target = np.asarray(entry_lps, dtype=float), np.asarray(target_lps, dtype=float)
        axis = (target - entry) / max(np.linalg.norm(target - entry), 1e-9)
        side = np.cross(axis, [0.0, 0.0, 1.0])
        if np.linalg.norm(side) < 1e-6:
            side = np.array([1.0, 0.0, 0.0])
        side /= np.linalg.norm(side)
        if np.dot(side, entry - target) < 0:  # the entry's side
            side = -side
        towards_camera = side + (-axis) + np.array([0.0, 0.0, 0.5])
        towards_camera /= np.linalg.norm(towards_camera)
        center = (entry + target) / 2
        distance = 4.0 * max(np.linalg.norm(target - entry), 50.0)
        camera = self.renderer.GetActiveCamera()
        camera.SetFocalPoint(*center)
        camera.SetPosition(*(center + towards_camera * distance))
        camera.SetViewUp(0.0, 0.0, 1.0)
        camera.OrthogonalizeViewUp()
        camera.SetViewAngle(30.0)
        camera.Dolly(distance / (2.2 * max(np.linalg.norm(target - entry), 50.0)))
        self.renderer.ResetCameraClippingRange()
        self.render()

    # --- handle dragging -------------------------------------------------------------------
    def display_of_world(self, lps) -> tuple[float, float]:
        self.renderer.SetWorldPoint(*np.asarray(lps, dtype=float), 1.0)
        self.renderer.WorldToDisplay()
        x, y, _ = self.renderer.GetDisplayPoint()
        return x, y

    def world_at_display_near(self, x: float, y: float, reference_lps) -> np.ndarray:
        """The point under the mouse at the depth of `reference_lps` (a drag moves it parallel to the screen)."""
        self.renderer.SetWorldPoint(*np.asarray(reference_lps, dtype=float), 1.0)
        self.renderer.WorldToDisplay()
        depth = self.renderer.GetDisplayPoint()[2]
        self.renderer.SetDisplayPoint(x, y, depth)
        self.renderer.DisplayToWorld()
        world = np.asarray(self.renderer.GetWorldPoint(), dtype=float)
        return world[:3] / world[3]

    def _pointer_event(self, _caller, event: str) -> None:
        position = self.interactor.GetEventPosition()
        taken = False
        if event == "LeftButtonPressEvent" and not self.interactor.GetShiftKey():
            for handler in self.pointer_handlers:
                if handler.press(self, None, position):
                    self._dragging = handler
                    taken = True
                    break
        elif event == "MouseMoveEvent" and self._dragging is not None:
            self._dragging.move(self, None, position)
            taken = True
        elif event == "LeftButtonReleaseEvent" and self._dragging is not None:
            self._dragging.release(self)
            self._dragging = None
            taken = True
        if taken:
            self.interactor.GetCommand(self._observer_tags[event]).SetAbortFlag(1)

    def _on_preset_changed(self, preset_id: str) -> None:
        if self.layer is not None:
            self.layer.set_preset(display_presets().volume_preset(preset_id))
            self._update_preset_text()
            self.render()

    def _update_preset_text(self) -> None:
        preset = display_presets().volume_preset(self.viewer.volume_preset)
        self._corners.set_text("bottom_right", preset.name)

    def _key(self, *_args) -> None:
        if (self.interactor.GetKeySym() or "").lower() == "r":
            self.reset_view()

    def mouseDoubleClickEvent(self, event):  # noqa: N802 (Qt naming)
        self.maximise_requested.emit()
        event.accept()
