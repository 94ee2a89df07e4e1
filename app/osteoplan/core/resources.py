"""Locate the data files under the project's `resources/` folder.

A wheel ships them as the package ``osteoplan.resources``; a source checkout or
editable install reads them from ``resources/`` beside ``app/``.
"""

from __future__ import annotations

import json
from importlib import resources as _importlib_resources
from pathlib import Path
from typing import Any


def resources_dir() -> Path:
    try:
        return Path(str(_importlib_resources.files("osteoplan.resources")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[3] / "resources"


def resource_path(name: str) -> Path:
    path = resources_dir() / name
    if not path.exists():
        raise FileNotFoundError(f"OsteoPlan resource {name!r} is missing from {resources_dir()}; reinstall OsteoPlan.")
    return path


def load_json_resource(name: str) -> Any:
    return json.loads(resource_path(name).read_text(encoding="utf-8"))
