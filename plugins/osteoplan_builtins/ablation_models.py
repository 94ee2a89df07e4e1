"""Built-in ablation zone model: the catalog's zone table (`osteoplan.core.ablation.zones.compute_zone`)."""

from __future__ import annotations

from osteoplan.plugin_api import AblationZone, ZoneRequest


def table_zone(request: ZoneRequest) -> AblationZone:
    """The setting's lethal ellipsoid and outer shell along the probe, clipped by intact cortex (RF/MW)."""
    return request.table_zone()


table_zone.model_name = "table"
