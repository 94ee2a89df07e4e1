"""The example device catalog (entry point ``osteoplan.devices`` -> ``example``)."""

from __future__ import annotations

EXAMPLE_SOURCE = ("osteoplan-example-plugin: invented numbers that demonstrate the plugin API; "
                  "not a real device, not for clinical use")


def device_entries() -> list[dict]:
    """OsteoPlan calls this once per session; each dict is validated like a built-in catalog entry."""
    return [{
        "id": "example-mw-sphere-13g",  # prefixed: ids share one namespace with every other catalog
        "kind": "mw_antenna",
        "name": "Example spherical-zone microwave antenna 13G",
        "gauge": "13G",
        "outer_diameter_mm": 2.413,  # the nominal 13G outer diameter (OsteoPlan checks it against the gauge)
        "length_mm": 150.0,
        "active_tip_mm": 15.0,
        "source": EXAMPLE_SOURCE,
        "verified": False,
        "notes": "Example plugin device: illustrative only.",
        "zone_model": "example-sphere",  # this plugin's zone model (entry point osteoplan.ablation_models)
        "settings": [{
            "id": "60w-6min",
            "label": "60 W, 6 min",
            "lethal_length_mm": 36.0,
            "lethal_width_mm": 28.0,
            "tip_offset_mm": 10.0,
            "shell_45c_mm": 6.0,
            "power_w": 60.0,
            "duration_min": 6.0,
            "source": EXAMPLE_SOURCE,
            "verified": False,
            "notes": "Illustrative zone sizes.",
        }],
    }]
