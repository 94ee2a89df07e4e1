"""An illustrative ablation zone model (entry point ``osteoplan.ablation_models`` -> ``example-sphere``).

The lethal zone is a sphere with the volume of the setting's catalog ellipsoid (diameter
``(length * width**2) ** (1/3)``), centred where the table model centres the ellipsoid
(``tip_offset_mm`` behind the tip); the 45 degC shell is ``shell_45c_mm`` beyond it. Like the
built-in table model it is clipped by intact cortex (`rasterize_zone`). It demonstrates the
protocol; it is not a validated model.
"""

from __future__ import annotations

import numpy as np

from osteoplan.core.ablation.zones import rasterize_zone
from osteoplan.plugin_api import AblationZone, ZoneGeometry

osteoplan_api_version = 1  # the plugin API version this module was written for


def sphere_diameter_mm(setting) -> float:
    """The diameter of the sphere with the volume of the setting's ellipsoid."""
    return float((setting.lethal_length_mm * setting.lethal_width_mm ** 2) ** (1.0 / 3.0))


def sphere_zone(request) -> AblationZone:
    """``request``: `osteoplan.core.ablation.models.ZoneRequest` (case, trajectory, probe, setting, offset)."""
    setting = request.setting
    radius = sphere_diameter_mm(setting) / 2.0
    shell = setting.shell_45c_mm or 0.0
    geometry = ZoneGeometry(
        centre=np.asarray(request.tip_lps, dtype=float) - request.axis * setting.tip_offset_mm,
        axis=np.asarray(request.axis, dtype=float),
        lethal=(radius, radius),
        outer=(radius + shell, radius + shell),
        isotherms=(),
        cryo=False,
    )
    return rasterize_zone(request.ct, geometry, clip_cortex=True)


sphere_zone.model_name = "example-sphere"
sphere_zone.osteoplan_api_version = osteoplan_api_version
