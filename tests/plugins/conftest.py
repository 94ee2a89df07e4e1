"""Fixtures for plugin tests: extra entry points in-process, and every plugin cache reset around a test."""

from __future__ import annotations

import tomllib
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest

from osteoplan import plugin_api
from osteoplan.core import entry_points as entry_points_module

EXAMPLE_PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "example_plugin"


def example_entry_points() -> list[tuple[str, str, str]]:
    """(group, name, value) of every entry point the example plugin's pyproject.toml declares."""
    project = tomllib.loads((EXAMPLE_PLUGIN / "pyproject.toml").read_text())["project"]
    return [(group, name, value) for group, table in project["entry-points"].items() for name, value in table.items()]


def reset_plugin_caches() -> None:
    from osteoplan.core.ablation import models as ablation_models
    from osteoplan.core.cement import models as cement_models
    from osteoplan.core.planning import devices
    from osteoplan.core.imaging.io import image_readers

    plugin_api.clear_registry()
    devices.device_catalog.cache_clear()
    ablation_models.forget_skipped_models()
    cement_models.forget_cement_models()
    image_readers._skipped.clear()


@pytest.fixture
def add_entry_points(monkeypatch):
    """``add_entry_points([(group, name, "module:attr"), ...], path=...)``: the installed entry points plus these
    (modules importable from `path`), as if another distribution were installed; caches reset before and after."""

    def install(extra, path: Path | None = None) -> None:
        if path is not None:
            monkeypatch.syspath_prepend(str(path))
        added = [EntryPoint(name, value, group) for group, name, value in extra]
        real = entry_points
        monkeypatch.setattr(entry_points_module, "entry_points",
                            lambda group: [*real(group=group), *[ep for ep in added if ep.group == group]])
        reset_plugin_caches()

    reset_plugin_caches()
    yield install
    monkeypatch.undo()
    reset_plugin_caches()
