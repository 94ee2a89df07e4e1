"""Built-in device catalog: the data in resources/devices.json."""

from __future__ import annotations

from osteoplan.core.resources import load_json_resource


def device_entries() -> list[dict]:
    return load_json_resource("devices.json")["devices"]
