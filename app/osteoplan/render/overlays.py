"""2-D annotations drawn over views: crosshair lines, orientation letters, corner text."""

from __future__ import annotations

import numpy as np
from vtkmodules.vtkFiltersSources import vtkLineSource
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer, vtkTextActor

import vtkmodules.vtkRenderingFreeType  # noqa: F401  (text rendering)


class CrosshairLine:
    """A line through the cursor in the slice plane, drawn a hair in front of the image."""

    def __init__(self, renderer: vtkRenderer, rgb: tuple[float, float, float]) -> None:
        self._source = vtkLineSource()
        mapper = vtkPolyDataMapper()
        mapper.SetInputConnection(self._source.GetOutputPort())
        self.actor = vtkActor()
        self.actor.SetMapper(mapper)
        prop = self.actor.GetProperty()
        prop.SetColor(*rgb)
        prop.SetOpacity(0.85)
        prop.SetLineWidth(1.0)
        prop.LightingOff()
        self.actor.PickableOff()
        renderer.AddActor(self.actor)

    def place(self, center, direction, half_length_mm: float, towards_eye) -> None:
        center = np.asarray(center, dtype=float) + 0.05 * np.asarray(towards_eye, dtype=float)
        direction = np.asarray(direction, dtype=float)
        self._source.SetPoint1(*(center - direction * half_length_mm))
        self._source.SetPoint2(*(center + direction * half_length_mm))


def _text_actor(renderer: vtkRenderer, x: float, y: float, halign: str, valign: str, size: int,
                rgb=(0.92, 0.92, 0.92), bold: bool = False) -> vtkTextActor:
    actor = vtkTextActor()
    actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
    actor.GetPositionCoordinate().SetValue(x, y)
    prop = actor.GetTextProperty()
    prop.SetFontSize(size)
    prop.SetColor(*rgb)
    prop.SetBold(bold)
    prop.ShadowOn()
    getattr(prop, f"SetJustificationTo{halign.capitalize()}")()
    getattr(prop, f"SetVerticalJustificationTo{valign.capitalize()}")()
    actor.PickableOff()
    renderer.AddViewProp(actor)
    return actor


class EdgeLetters:
    """Patient-orientation letters at the middle of each edge of a view."""

    _PLACES = {
        "left": (0.012, 0.5, "left", "centered"),
        "right": (0.988, 0.5, "right", "centered"),
        "top": (0.5, 0.985, "centered", "top"),
        "bottom": (0.5, 0.015, "centered", "bottom"),
    }

    def __init__(self, renderer: vtkRenderer) -> None:
        self._actors = {edge: _text_actor(renderer, *place, size=16, rgb=(1.0, 0.85, 0.3), bold=True)
                        for edge, place in self._PLACES.items()}

    def set_letters(self, letters: dict[str, str]) -> None:
        for edge, actor in self._actors.items():
            actor.SetInput(letters.get(edge, ""))

    def text(self, edge: str) -> str:
        return self._actors[edge].GetInput() or ""


class CornerText:
    """Text in the corners of a view (title, slice position, window/level...)."""

    _PLACES = {
        "top_left": (0.012, 0.985, "left", "top"),
        "bottom_left": (0.012, 0.015, "left", "bottom"),
        "bottom_right": (0.988, 0.015, "right", "bottom"),
        "top_right": (0.988, 0.985, "right", "top"),
    }

    def __init__(self, renderer: vtkRenderer) -> None:
        self._actors = {corner: _text_actor(renderer, *place, size=13) for corner, place in self._PLACES.items()}

    def set_text(self, corner: str, text: str, rgb: tuple[float, float, float] | None = None) -> None:
        actor = self._actors[corner]
        actor.SetInput(text)
        if rgb is not None:
            actor.GetTextProperty().SetColor(*rgb)

    def text(self, corner: str) -> str:
        return self._actors[corner].GetInput() or ""
