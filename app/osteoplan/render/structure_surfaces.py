"""Critical structures as translucent surfaces in the 3-D view (surface nets on the label map)."""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import vtk_to_numpy, numpy_to_vtk
from vtkmodules.vtkFiltersCore import vtkSurfaceNets3D
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer

from osteoplan.core.imaging.volume import Volume
from osteoplan.render.vtk_image import lps_matrix, vtk_image

SURFACE_OPACITY = 0.55
MAX_SURFACE_VOXELS = 4_000_000  # label maps are subsampled (nearest) above this, like the volume rendering


class StructureSurfaces:
    """One actor with the surfaces of the chosen labels, each triangle coloured by its label."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self._renderer = renderer
        self._filter = vtkSurfaceNets3D()
        self._filter.SetOutputMeshTypeToTriangles()
        self._filter.SmoothingOn()
        self.mapper = vtkPolyDataMapper()
        self.mapper.SetScalarModeToUseCellData()
        self.mapper.SetColorModeToDirectScalars()
        self.actor = vtkActor()
        self.actor.SetMapper(self.mapper)
        self.actor.GetProperty().SetOpacity(SURFACE_OPACITY)
        self.actor.GetProperty().SetSpecular(0.2)
        self.actor.PickableOff()
        self.actor.VisibilityOff()
        renderer.AddActor(self.actor)

    def set_labels(self, labels: Volume | None, colors: dict[int, tuple[float, float, float]]) -> None:
        """Show the surfaces of the label values in `colors` (value -> RGB 0..1); none if empty."""
        if labels is None or not colors:
            self.actor.VisibilityOff()
            return
        stride = max(1, int(np.ceil((np.prod(labels.size) / MAX_SURFACE_VOXELS) ** (1 / 3))))
        if stride > 1:
            labels = Volume(np.ascontiguousarray(labels.array[::stride, ::stride, ::stride]),
                            tuple(s * stride for s in labels.spacing), labels.origin, labels.direction)
        image = vtk_image(labels)
        self._filter.SetInputData(image)
        self._filter.SetNumberOfLabels(len(colors))
        for index, value in enumerate(sorted(colors)):
            self._filter.SetLabel(index, float(value))
        self._filter.Update()
        surface = self._filter.GetOutput()
        self._keep = (image, surface)
        boundary = surface.GetCellData().GetArray("BoundaryLabels")
        if boundary is None or surface.GetNumberOfCells() == 0:
            self.actor.VisibilityOff()
            return
        pairs = vtk_to_numpy(boundary).reshape(-1, 2).astype(int)
        # a face between two chosen labels takes the first; one between a label and background takes the label
        owner = np.where(np.isin(pairs[:, 0], list(colors)), pairs[:, 0], pairs[:, 1])
        table = np.zeros((max(colors) + 1, 3))
        for value, rgb in colors.items():
            table[value] = rgb
        rgb = numpy_to_vtk((table[owner] * 255).astype(np.uint8), deep=True)
        rgb.SetName("colors")
        surface.GetCellData().SetScalars(rgb)
        self.mapper.SetInputData(surface)
        self.actor.SetUserMatrix(lps_matrix(labels))
        self.actor.VisibilityOn()

    def set_visible(self, visible: bool) -> None:
        if self.mapper.GetInput() is not None:
            self.actor.SetVisibility(bool(visible))
