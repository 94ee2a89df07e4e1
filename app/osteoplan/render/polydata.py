"""Small builders of VTK poly data from numpy arrays (segments, points, circles), with per-cell colours."""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer


def _colors(rgb: np.ndarray):
    array = numpy_to_vtk(np.ascontiguousarray(np.clip(np.asarray(rgb) * 255, 0, 255).astype(np.uint8)), deep=True)
    array.SetName("colors")
    return array


def _cells(connectivity: list[np.ndarray]) -> vtkCellArray:
    flat = [np.concatenate([[len(c)], c]) for c in connectivity]
    cells = vtkCellArray()
    if flat:
        cells.ImportLegacyFormat(numpy_to_vtkIdTypeArray(np.concatenate(flat).astype(np.int64), deep=True))
    return cells


def segments_polydata(segments: list[tuple[np.ndarray, np.ndarray]], rgb: list) -> vtkPolyData:
    """Line cells, one per (start, end) segment, coloured per cell."""
    data = vtkPolyData()
    points = vtkPoints()
    coords = np.array([p for segment in segments for p in segment], dtype=float).reshape(-1, 3)
    points.SetData(numpy_to_vtk(coords, deep=True))
    data.SetPoints(points)
    data.SetLines(_cells([np.array([2 * i, 2 * i + 1]) for i in range(len(segments))]))
    if segments:
        data.GetCellData().SetScalars(_colors(np.asarray(rgb, dtype=float).reshape(-1, 3)))
    return data


def points_polydata(points_lps: list[np.ndarray], rgb: list) -> vtkPolyData:
    """Vertex cells, one per point, coloured per cell."""
    data = vtkPolyData()
    points = vtkPoints()
    points.SetData(numpy_to_vtk(np.array(points_lps, dtype=float).reshape(-1, 3), deep=True))
    data.SetPoints(points)
    data.SetVerts(_cells([np.array([i]) for i in range(len(points_lps))]))
    if points_lps:
        data.GetCellData().SetScalars(_colors(np.asarray(rgb, dtype=float).reshape(-1, 3)))
    return data


def circles_polydata(centers: list[np.ndarray], normal, radii: list[float], rgb: list, sides: int = 32) -> vtkPolyData:
    """Closed polylines (rings) in the plane of `normal`, one per centre, coloured per cell."""
    normal = np.asarray(normal, dtype=float)
    helper = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(normal, helper)
    u /= np.linalg.norm(u)
    v = np.cross(normal, u)
    angles = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    ring = np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * v
    coords = [np.asarray(c, dtype=float) + r * ring for c, r in zip(centers, radii)]
    data = vtkPolyData()
    points = vtkPoints()
    points.SetData(numpy_to_vtk(np.concatenate(coords) if coords else np.zeros((0, 3)), deep=True))
    data.SetPoints(points)
    data.SetLines(_cells([np.r_[np.arange(sides), 0] + i * sides for i in range(len(centers))]))
    if centers:
        data.GetCellData().SetScalars(_colors(np.asarray(rgb, dtype=float).reshape(-1, 3)))
    return data


class ColoredActor:
    """An actor whose poly data is replaced on each update; colours come from its cell scalars."""

    def __init__(self, renderer: vtkRenderer, line_width: float = 1.0, point_size: float = 1.0,
                 opacity: float = 1.0, spheres: bool = False) -> None:
        self.mapper = vtkPolyDataMapper()
        self.mapper.SetScalarModeToUseCellData()
        self.mapper.SetColorModeToDirectScalars()
        self.actor = vtkActor()
        self.actor.SetMapper(self.mapper)
        prop = self.actor.GetProperty()
        prop.SetLineWidth(line_width)
        prop.SetPointSize(point_size)
        prop.SetOpacity(opacity)
        prop.LightingOff()
        if spheres:
            prop.RenderPointsAsSpheresOn()
        self.actor.PickableOff()
        renderer.AddActor(self.actor)

    def set_data(self, data: vtkPolyData) -> None:
        self.mapper.SetInputData(data)
