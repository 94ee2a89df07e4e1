"""Slice layers: the CT and its label overlay resliced at the camera's focal plane."""

from __future__ import annotations

from vtkmodules.vtkCommonCore import vtkLookupTable
from vtkmodules.vtkRenderingCore import vtkImageProperty, vtkImageSlice, vtkRenderer
from vtkmodules.vtkRenderingImage import vtkImageResliceMapper

from osteoplan.core.imaging.volume import Volume
from osteoplan.render.vtk_image import lps_matrix, vtk_image

LABEL_OVERLAY_OPACITY = 0.5  # of a structure at full opacity; context tissues are fainter (resources)


def _reslice_prop(volume: Volume) -> tuple[vtkImageSlice, vtkImageResliceMapper]:
    mapper = vtkImageResliceMapper()
    mapper.SetInputData(vtk_image(volume))
    mapper.SliceFacesCameraOn()
    mapper.SliceAtFocalPointOn()
    mapper.JumpToNearestSliceOff()  # the plane passes exactly through the cursor, between voxels too
    mapper.BorderOn()
    prop = vtkImageSlice()
    prop.SetMapper(mapper)
    prop.SetUserMatrix(lps_matrix(volume))
    return prop, mapper


class CtSliceLayer:
    """Grey-scale CT at the focal plane of the renderer's camera."""

    def __init__(self, volume: Volume, renderer: vtkRenderer) -> None:
        self.prop, self._mapper = _reslice_prop(volume)
        prop = vtkImageProperty()
        prop.SetInterpolationTypeToLinear()
        self.prop.SetProperty(prop)
        renderer.AddViewProp(self.prop)

    def set_window_level(self, width: float, level: float) -> None:
        self.prop.GetProperty().SetColorWindow(width)
        self.prop.GetProperty().SetColorLevel(level)


class LabelSliceLayer:
    """Label map drawn as translucent colours over the CT (background 0 is transparent)."""

    def __init__(self, labels: Volume, styles: dict[int, tuple[tuple[float, float, float], float]],
                 renderer: vtkRenderer) -> None:
        """`styles`: label value -> (RGB 0..1, opacity 0..1 of a full-strength structure)."""
        self.prop, self._mapper = _reslice_prop(labels)
        top = max([int(labels.array.max()), *styles.keys(), 1])
        table = vtkLookupTable()
        table.SetNumberOfTableValues(top + 1)
        table.SetTableRange(0, top)
        for value in range(top + 1):
            (r, g, b), opacity = styles.get(value, ((0.0, 0.0, 0.0), 0.0))
            table.SetTableValue(value, r, g, b, opacity * LABEL_OVERLAY_OPACITY)
        table.Build()
        prop = vtkImageProperty()
        prop.SetInterpolationTypeToNearest()
        prop.SetLookupTable(table)
        prop.UseLookupTableScalarRangeOn()
        self.prop.SetProperty(prop)
        self._table = table
        renderer.AddViewProp(self.prop)

    def set_visible(self, visible: bool) -> None:
        self.prop.SetVisibility(bool(visible))
