"""Outlines of label-map structures in a 2-D view: the label map resliced on the view's plane,
its boundaries traced (surface nets 2-D) and drawn as coloured lines over the filled overlay."""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkFiltersCore import vtkSurfaceNets2D
from vtkmodules.vtkImagingCore import vtkImageReslice
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer

from osteoplan.core.display.view_geometry import ViewFrame
from osteoplan.core.imaging.volume import Volume
from osteoplan.render.vtk_image import lps_matrix, vtk_image

TOWARDS_EYE_MM = 0.1


def _matrix(array: np.ndarray) -> vtkMatrix4x4:
    matrix = vtkMatrix4x4()
    for row in range(4):
        for column in range(4):
            matrix.SetElement(row, column, float(array[row, column]))
    return matrix


class LabelOutlines:
    def __init__(self, labels: Volume, colors: dict[int, tuple[float, float, float]], renderer: vtkRenderer) -> None:
        self._image = vtk_image(labels)
        self._world_from_image = np.array([[lps_matrix(labels).GetElement(r, c) for c in range(4)] for r in range(4)])
        self._step_mm = float(min(labels.spacing))
        low, high = labels.bounds_lps()
        self._radius_mm = float(np.linalg.norm(high - low)) / 2 + self._step_mm
        self._center = (low + high) / 2
        self._reslice = vtkImageReslice()
        self._reslice.SetInputData(self._image)
        self._reslice.SetInterpolationModeToNearestNeighbor()
        self._reslice.SetOutputDimensionality(2)
        self._nets = vtkSurfaceNets2D()
        self._nets.SetInputConnection(self._reslice.GetOutputPort())
        self._nets.SetNumberOfLabels(len(colors))
        for index, value in enumerate(sorted(colors)):
            self._nets.SetLabel(index, float(value))
        self._nets.SmoothingOff()
        self._colors = colors
        self.mapper = vtkPolyDataMapper()
        self.mapper.SetScalarModeToUseCellData()
        self.mapper.SetColorModeToDirectScalars()
        self.actor = vtkActor()
        self.actor.SetMapper(self.mapper)
        self.actor.GetProperty().SetLineWidth(1.5)
        self.actor.GetProperty().LightingOff()
        self.actor.PickableOff()
        renderer.AddActor(self.actor)
        self._last_plane = None

    def update(self, plane_point, frame: ViewFrame) -> None:
        """Trace the outlines on the plane through `plane_point` (cheap to call for an unchanged plane)."""
        key = (tuple(np.round(plane_point, 4)), tuple(frame.view_direction), tuple(frame.view_up))
        if key == self._last_plane or not self._colors:
            return
        self._last_plane = key
        plane = np.eye(4)
        plane[:3, 0], plane[:3, 1], plane[:3, 2] = frame.screen_right, frame.view_up, frame.normal
        # the plane's origin: the point of the plane nearest the image centre (output extent symmetric about it)
        origin = np.asarray(plane_point, dtype=float)
        origin = origin + frame.screen_right * np.dot(self._center - origin, frame.screen_right) \
            + frame.view_up * np.dot(self._center - origin, frame.view_up)
        plane[:3, 3] = origin
        axes = np.linalg.inv(self._world_from_image) @ plane
        self._reslice.SetResliceAxes(_matrix(axes))
        half = int(np.ceil(self._radius_mm / self._step_mm))
        self._reslice.SetOutputSpacing(self._step_mm, self._step_mm, self._step_mm)
        self._reslice.SetOutputOrigin(0.0, 0.0, 0.0)
        self._reslice.SetOutputExtent(-half, half, -half, half, 0, 0)
        self._nets.Update()
        lines = self._nets.GetOutput()
        labels = lines.GetCellData().GetArray("BoundaryLabels")
        if labels is None or lines.GetNumberOfCells() == 0:
            self.actor.VisibilityOff()
            return
        pairs = vtk_to_numpy(labels).reshape(-1, 2).astype(int)
        owner = np.where(np.isin(pairs[:, 0], list(self._colors)), pairs[:, 0], pairs[:, 1])
        table = np.zeros((max(self._colors) + 1, 3))
        for value, rgb in self._colors.items():
            table[value] = rgb
        rgb = numpy_to_vtk((table[np.clip(owner, 0, len(table) - 1)] * 255).astype(np.uint8), deep=True)
        rgb.SetName("colors")
        lines.GetCellData().SetScalars(rgb)
        self._output = lines
        self.mapper.SetInputData(lines)
        plane[:3, 3] = origin - frame.view_direction * TOWARDS_EYE_MM
        self.actor.SetUserMatrix(_matrix(plane))
        self.actor.VisibilityOn()

    def set_visible(self, visible: bool) -> None:
        self.actor.SetVisibility(bool(visible) and self.mapper.GetInput() is not None)
