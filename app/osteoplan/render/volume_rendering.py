"""3-D volume rendering of the CT with a transfer-function preset from resources/."""

from __future__ import annotations

import os

from vtkmodules.vtkCommonDataModel import vtkPiecewiseFunction
from vtkmodules.vtkRenderingCore import vtkColorTransferFunction, vtkRenderer, vtkRenderWindow, vtkVolume, vtkVolumeProperty
from vtkmodules.vtkRenderingVolume import vtkFixedPointVolumeRayCastMapper, vtkGPUVolumeRayCastMapper
import vtkmodules.vtkRenderingVolumeOpenGL2  # noqa: F401  (registers the OpenGL volume mappers)

from osteoplan.core.display.presets import VolumeRenderingPreset
from osteoplan.core.imaging.volume import Volume
from osteoplan.render.vtk_image import lps_matrix, vtk_image

SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swrast", "software rasterizer")
MAPPER_ENV = "OSTEOPLAN_VOLUME_MAPPER"  # "cpu" or "gpu" forces the choice
# The CPU ray caster's first frame (gradients for shading) costs ~45 ms per million voxels on
# 2 cores; above this budget the 3-D view renders a block-averaged copy (slices keep full detail).
CPU_VOXEL_BUDGET = 4_000_000


def renderer_string(render_window: vtkRenderWindow) -> str:
    """The OpenGL renderer's name (the window must have rendered once)."""
    for line in render_window.ReportCapabilities().splitlines():
        if line.lower().startswith("opengl renderer string"):
            return line.split(":", 1)[1].strip()
    return ""


def is_software_renderer(render_window: vtkRenderWindow) -> bool:
    name = renderer_string(render_window).lower()
    return not name or any(s in name for s in SOFTWARE_RENDERERS)


def use_gpu_mapper(render_window: vtkRenderWindow) -> bool:
    """GPU ray casting on real GPUs; the CPU ray caster on Mesa's software renderer (5-7x faster there)."""
    forced = os.environ.get(MAPPER_ENV, "").lower()
    if forced in ("cpu", "gpu"):
        return forced == "gpu"
    return not is_software_renderer(render_window)


class VolumeRenderingLayer:
    def __init__(self, volume: Volume, renderer: vtkRenderer, preset: VolumeRenderingPreset, gpu: bool) -> None:
        if not gpu:
            volume = volume.binned(volume.binning_for_budget(CPU_VOXEL_BUDGET))
        self.rendered_size = volume.size
        image = vtk_image(volume)
        if gpu:
            mapper = vtkGPUVolumeRayCastMapper()
        else:
            mapper = vtkFixedPointVolumeRayCastMapper()
            mapper.SetAutoAdjustSampleDistances(True)
        mapper.SetInputData(image)
        self.mapper = mapper
        self.prop = vtkVolume()
        self.prop.SetMapper(mapper)
        self.prop.SetUserMatrix(lps_matrix(volume))
        self.set_preset(preset)
        renderer.AddVolume(self.prop)

    @property
    def mapper_name(self) -> str:
        return self.mapper.GetClassName()

    def set_preset(self, preset: VolumeRenderingPreset) -> None:
        color = vtkColorTransferFunction()
        for hu, r, g, b in preset.color:
            color.AddRGBPoint(hu, r, g, b)
        opacity = vtkPiecewiseFunction()
        for hu, a in preset.opacity:
            opacity.AddPoint(hu, a)
        prop = vtkVolumeProperty()
        prop.SetColor(color)
        prop.SetScalarOpacity(opacity)
        prop.SetInterpolationTypeToLinear()
        prop.ShadeOn()
        prop.SetAmbient(preset.ambient)
        prop.SetDiffuse(preset.diffuse)
        prop.SetSpecular(preset.specular)
        prop.SetSpecularPower(preset.specular_power)
        self.prop.SetProperty(prop)
