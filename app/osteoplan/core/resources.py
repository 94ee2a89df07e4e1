"""Locate the data files under the project's `resources/` folder, and the user's cache and data folders.

A wheel ships them as the package ``osteoplan.resources``; a source checkout or
editable install reads them from ``resources/`` beside ``app/``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TypeVar

import platformdirs
from pydantic import BaseModel, ValidationError

from osteoplan.core.errors import ResourceError

Model = TypeVar("Model", bound=BaseModel)
ENV_CACHE_DIR = "OSTEOPLAN_CACHE_DIR"
ENV_DATA_DIR = "OSTEOPLAN_DATA_DIR"


def user_cache_root() -> Path:
    """Where OsteoPlan keeps what it can rebuild (demo cases, automatic structures): ``$OSTEOPLAN_CACHE_DIR``
    if set, else the per-user cache folder."""
    root = os.environ.get(ENV_CACHE_DIR)
    return Path(root) if root else Path(platformdirs.user_cache_dir("osteoplan"))


def user_data_root() -> Path:
    """Where OsteoPlan keeps the user's files it made (autosaves, TotalSegmentator's label maps):
    ``$OSTEOPLAN_DATA_DIR`` if set, else the per-user data folder."""
    root = os.environ.get(ENV_DATA_DIR)
    return Path(root) if root else Path(platformdirs.user_data_dir("osteoplan", appauthor=False))


def resources_dir() -> Path:
    # Installed (wheel, desktop bundle): the data ships inside the package as osteoplan/resources/
    # (a namespace package: importlib.resources would give a MultiplexedPath, not a folder).
    # Source checkout or editable install: the repository's resources/.
    installed = Path(__file__).resolve().parents[1] / "resources"
    return installed if installed.is_dir() else Path(__file__).resolve().parents[3] / "resources"


def resource_path(name: str) -> Path:
    path = resources_dir() / name
    if not path.exists():
        raise FileNotFoundError(f"OsteoPlan resource {name!r} is missing from {resources_dir()}; reinstall OsteoPlan.")
    return path


def load_json_resource(name: str) -> Any:
    return json.loads(resource_path(name).read_text(encoding="utf-8"))


def validate_resource(model: type[Model], data: object, name: str) -> Model:
    """`data` checked against `model`; a bad file raises ResourceError naming it and the fields."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ResourceError(f"{name} is invalid: {exc}") from exc


def load_validated_resource(model: type[Model], name: str) -> Model:
    return validate_resource(model, load_json_resource(name), name)
