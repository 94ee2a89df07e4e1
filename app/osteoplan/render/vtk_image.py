"""Core volumes as VTK image data placed in LPS millimetres."""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkCommonDataModel import vtkImageData

from osteoplan.core.imaging.volume import Volume


def vtk_image(volume: Volume) -> vtkImageData:
    """The voxels as vtkImageData with origin 0 and the volume's spacing.

    The direction and origin go into the prop's matrix (`lps_matrix`) so that any
    acquisition orientation is drawn where it is, by every VTK mapper.
    The numpy array is shared, not copied; it must outlive the image data.
    """
    array = np.ascontiguousarray(volume.array)
    image = vtkImageData()
    image.SetDimensions(*volume.size)
    image.SetSpacing(*volume.spacing)
    image.SetOrigin(0.0, 0.0, 0.0)
    scalars = numpy_to_vtk(array.ravel(), deep=False)
    scalars.SetName("values")
    image.GetPointData().SetScalars(scalars)
    image._osteoplan_keepalive = array  # VTK does not own the numpy buffer
    return image


def lps_matrix(volume: Volume) -> vtkMatrix4x4:
    """4x4 matrix taking the image data's (spacing-scaled) coordinates to LPS mm."""
    matrix = vtkMatrix4x4()
    for row in range(3):
        for col in range(3):
            matrix.SetElement(row, col, float(volume.direction[row, col]))
        matrix.SetElement(row, 3, float(volume.origin[row]))
    return matrix
