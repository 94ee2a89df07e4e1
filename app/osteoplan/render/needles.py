"""Needles drawn in the views: real-diameter tubes in 3-D; in 2-D views the part near the slice
solid, the rest faint, both handles always visible, and a ring of the needle's real diameter
where it crosses the slice (so a path never vanishes from a resliced view)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkFiltersCore import vtkTubeFilter
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer

from osteoplan.core.display.view_geometry import ViewFrame, segment_part_near_plane, segment_plane_crossing, signed_distance_to_plane
from osteoplan.render.polydata import ColoredActor, circles_polydata, points_polydata, segments_polydata

TOWARDS_EYE_MM = 0.2  # overlays sit a hair in front of the resliced image


@dataclass(frozen=True)
class NeedleGraphic:
    """What to draw for one needle (the UI builds these from the plan and its readouts)."""

    id: str
    entry: np.ndarray
    tip: np.ndarray
    radius_mm: float
    rgb: tuple[float, float, float]
    selected: bool = False
    spindles: tuple[tuple[np.ndarray, np.ndarray, float], ...] = field(default_factory=tuple)  # start, tip, radius

    def segments(self) -> list[tuple[np.ndarray, np.ndarray, float]]:
        return [(self.entry, self.tip, self.radius_mm), *self.spindles]


def _brighter(rgb, amount: float = 0.35) -> tuple[float, float, float]:
    return tuple(min(1.0, c + (1 - c) * amount) for c in rgb)  # type: ignore[return-value]


class NeedleOverlay2D:
    def __init__(self, renderer: vtkRenderer) -> None:
        self._faint = ColoredActor(renderer, line_width=1.5, opacity=0.45)
        self._solid = ColoredActor(renderer, line_width=3.5)
        self._selected = ColoredActor(renderer, line_width=5.5)
        self._rings = ColoredActor(renderer, line_width=2.0)
        self._near_handles = ColoredActor(renderer, point_size=11, spheres=True)
        self._far_handles = ColoredActor(renderer, point_size=8, spheres=True, opacity=0.5)
        self._markers = ColoredActor(renderer, point_size=14, spheres=True)

    def update(self, needles: list[NeedleGraphic], plane_point, frame: ViewFrame, slab_half_mm: float,
               markers: list[tuple[np.ndarray, tuple[float, float, float]]] = ()) -> None:
        """Redraw for a view plane; `markers` are extra points (e.g. the virtual tip)."""
        normal = np.asarray(frame.normal, dtype=float)
        plane_point = np.asarray(plane_point, dtype=float)

        def flat(point, layer: int):
            """The point projected onto the view's plane, `layer` hairs in front of the image
            (a needle behind the slice must not be hidden by it)."""
            point = np.asarray(point, dtype=float)
            return point - normal * float(np.dot(point - plane_point, normal)) - normal * TOWARDS_EYE_MM * layer

        faint, solid, selected, rings = [], [], [], []
        near, far = [], []
        for needle in needles:
            for start, end, radius in needle.segments():
                faint.append((flat(start, 1), flat(end, 1), needle.rgb))
                part = segment_part_near_plane(start, end, plane_point, normal, slab_half_mm)
                if part is not None:
                    (selected if needle.selected else solid).append(
                        (flat(part[0], 2), flat(part[1], 2), _brighter(needle.rgb) if needle.selected else needle.rgb))
                crossing = segment_plane_crossing(start, end, plane_point, normal)
                if crossing is not None:
                    rings.append((flat(crossing, 3), radius + 0.5, _brighter(needle.rgb, 0.6)))
            for point in (needle.entry, needle.tip):
                distance = abs(float(signed_distance_to_plane(point, plane_point, normal)))
                (near if distance <= slab_half_mm else far).append((flat(point, 4), needle.rgb))
        markers = [(flat(p, 5), c) for p, c in markers]
        self._faint.set_data(segments_polydata([(a, b) for a, b, _ in faint], [c for *_, c in faint]))
        self._solid.set_data(segments_polydata([(a, b) for a, b, _ in solid], [c for *_, c in solid]))
        self._selected.set_data(segments_polydata([(a, b) for a, b, _ in selected], [c for *_, c in selected]))
        self._rings.set_data(circles_polydata([c for c, _, _ in rings], frame.normal, [r for _, r, _ in rings],
                                              [c for *_, c in rings]))
        self._near_handles.set_data(points_polydata([p for p, _ in near], [c for _, c in near]))
        self._far_handles.set_data(points_polydata([p for p, _ in far], [c for _, c in far]))
        self._markers.set_data(points_polydata([p for p, _ in markers], [c for _, c in markers]))


class NeedleTubes3D:
    """Tubes of the devices' real radius, with spheres at the handles."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self._tube_filter = vtkTubeFilter()
        self._tube_filter.SetNumberOfSides(24)
        self._tube_filter.CappingOn()
        self._tube_filter.SetVaryRadiusToVaryRadiusByAbsoluteScalar()
        mapper = vtkPolyDataMapper()
        mapper.SetInputConnection(self._tube_filter.GetOutputPort())
        mapper.SetScalarModeToUsePointFieldData()
        mapper.SelectColorArray("colors")
        mapper.SetColorModeToDirectScalars()
        mapper.ScalarVisibilityOn()
        self.actor = vtkActor()
        self.actor.SetMapper(mapper)
        self.actor.GetProperty().SetSpecular(0.4)
        self.actor.GetProperty().SetSpecularPower(30)
        renderer.AddActor(self.actor)
        self._handles = ColoredActor(renderer, point_size=12, spheres=True)
        self._handles.actor.GetProperty().LightingOn()
        self.set_needles([])

    def set_needles(self, needles: list[NeedleGraphic]) -> None:
        coords, radii, colors = [], [], []
        for needle in needles:
            rgb = _brighter(needle.rgb) if needle.selected else needle.rgb
            for start, end, radius in needle.segments():
                coords += [start, end]
                radii += [radius, radius]
                colors += [rgb, rgb]
        data = vtkPolyData()
        points = vtkPoints()
        points.SetData(numpy_to_vtk(np.array(coords, dtype=float).reshape(-1, 3), deep=True))
        data.SetPoints(points)
        lines = vtkCellArray()
        for i in range(len(coords) // 2):
            lines.InsertNextCell(2, (2 * i, 2 * i + 1))
        data.SetLines(lines)
        radius_array = numpy_to_vtk(np.array(radii, dtype=float), deep=True)
        radius_array.SetName("radius")
        color_array = numpy_to_vtk((np.array(colors, dtype=float).reshape(-1, 3) * 255).astype(np.uint8), deep=True)
        color_array.SetName("colors")
        data.GetPointData().AddArray(color_array)
        data.GetPointData().SetScalars(radius_array)
        self._tube_filter.SetInputData(data)
        self.actor.SetVisibility(bool(coords))
        handles = [(p, n.rgb) for n in needles for p in (n.entry, n.tip)]
        self._handles.set_data(points_polydata([p for p, _ in handles], [c for _, c in handles]))


@dataclass(frozen=True)
class DistanceGraphic:
    """A line from a needle's closest point to a structure's, labelled with the distance."""

    on_needle: np.ndarray
    on_structure: np.ndarray
    text: str
    rgb: tuple[float, float, float]


class DistanceAnnotations:
    """Distance lines with their labels; in 2-D views (`plane` given to `update`) drawn projected
    onto the slice, in 3-D where they are."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self._renderer = renderer
        self._lines = ColoredActor(renderer, line_width=2.0)
        self._lines.actor.GetProperty().SetLineStipplePattern(0xF0F0)
        self._ends = ColoredActor(renderer, point_size=7, spheres=True)
        self._labels: list = []

    def update(self, distances: list[DistanceGraphic], plane_point=None, frame: ViewFrame | None = None,
               near_mm: float = 10.0) -> None:
        """In a 2-D view only the lines whose structure end lies within `near_mm` of the plane are
        drawn (a projected line from far away would point at the wrong place)."""
        if frame is not None:
            distances = [d for d in distances
                         if abs(float(signed_distance_to_plane(d.on_structure, plane_point, frame.normal))) <= near_mm]
        from vtkmodules.vtkRenderingCore import vtkBillboardTextActor3D

        def place(point, layer: int = 6):
            point = np.asarray(point, dtype=float)
            if frame is None:
                return point
            normal = np.asarray(frame.normal, dtype=float)
            return point - normal * float(np.dot(point - np.asarray(plane_point), normal)) - normal * TOWARDS_EYE_MM * layer

        segments = [(place(d.on_needle), place(d.on_structure)) for d in distances]
        self._lines.set_data(segments_polydata(segments, [d.rgb for d in distances]))
        self._ends.set_data(points_polydata([b for _, b in segments], [d.rgb for d in distances]))
        while len(self._labels) < len(distances):
            label = vtkBillboardTextActor3D()
            prop = label.GetTextProperty()
            prop.SetFontSize(14)
            prop.SetBold(True)
            prop.SetShadow(True)
            label.PickableOff()
            self._renderer.AddActor(label)
            self._labels.append(label)
        for index, label in enumerate(self._labels):
            if index < len(distances):
                (start, end), graphic = segments[index], distances[index]
                # beside the needle's end of the line, on the side away from the structure
                label.SetPosition(*start)
                away = 1.0 if frame is None else float(np.sign(np.dot(start - end, frame.screen_right)) or 1.0)
                if away > 0:
                    label.GetTextProperty().SetJustificationToLeft()
                else:
                    label.GetTextProperty().SetJustificationToRight()
                label.SetDisplayOffset(int(10 * away), 6)
                label.SetInput(graphic.text)
                label.GetTextProperty().SetColor(*graphic.rgb)
                label.VisibilityOn()
            else:
                label.VisibilityOff()
