"""The plugin API: entry-point groups, the lazy loader, and broken plugins reported once."""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint, entry_points

import pytest

from osteoplan import plugin_api
from osteoplan.core import devices
from osteoplan.plugin_api import API_VERSION, DEVICE_CATALOGS, GROUPS, load_plugins


def test_groups_are_named_and_reserved():
    assert DEVICE_CATALOGS == "osteoplan.devices"
    assert set(GROUPS) == {"osteoplan.devices", "osteoplan.ablation_models", "osteoplan.cement_models",
                           "osteoplan.image_readers", "osteoplan.ui_panels"}
    assert API_VERSION == 1
    for group in GROUPS:
        assert group in plugin_api.__doc__


def test_the_builtin_device_catalog_is_found_through_importlib_metadata():
    found = {ep.name: ep.value for ep in entry_points(group=DEVICE_CATALOGS)}
    assert found.get("builtin") == "osteoplan_builtins.devices:device_entries"
    loaded, problems = load_plugins(DEVICE_CATALOGS)
    assert problems == []
    name, provider = loaded[0]
    assert name == "builtin"
    entries = provider()
    assert isinstance(entries, list) and any(e["id"] == "trocar-11g-100" for e in entries)


@pytest.fixture
def fake_plugins(tmp_path, monkeypatch):
    """Installs plugin modules on sys.path and makes them the only entry points of the devices group."""
    (tmp_path / "fake_broken_on_import.py").write_text("raise ImportError('needs libfoo 2')\n")
    (tmp_path / "fake_exits_on_import.py").write_text("import sys\nsys.exit(1)\n")
    (tmp_path / "fake_providers.py").write_text(
        "def raises():\n    raise RuntimeError('server down')\n"
        "def garbage():\n    return 'not a list'\n"
        "def good():\n    return [{'id': 'fake-kwire-1.0', 'kind': 'kwire', 'name': 'Fake K-wire 1.0 mm',\n"
        "                     'outer_diameter_mm': 1.0, 'source': 'test', 'verified': False}]\n"
        "def future():\n    return []\n"
        "future.osteoplan_api_version = 99\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [EntryPoint(name, value, DEVICE_CATALOGS) for name, value in [
        ("zz-good", "fake_providers:good"),
        ("broken", "fake_broken_on_import:provider"),
        ("exits", "fake_exits_on_import:provider"),
        ("raises", "fake_providers:raises"),
        ("garbage", "fake_providers:garbage"),
        ("future", "fake_providers:future"),
        ("missing", "no_such_module_at_all:provider"),
        ("builtin", "osteoplan_builtins.devices:device_entries"),
    ]]
    monkeypatch.setattr(plugin_api, "entry_points", lambda group: [ep for ep in eps if ep.group == group])
    devices.device_catalog.cache_clear()
    yield
    devices.device_catalog.cache_clear()


def test_plugins_that_fail_to_load_are_reported_once_and_skipped(fake_plugins, caplog):
    with caplog.at_level(logging.WARNING, logger="osteoplan.plugin_api"):
        loaded, problems = load_plugins(DEVICE_CATALOGS)
    assert [name for name, _ in loaded] == ["builtin", "garbage", "raises", "zz-good"]  # built-in first
    assert len(problems) == 4
    assert any("'broken'" in p and "needs libfoo 2" in p for p in problems)
    assert any("'exits'" in p and "SystemExit" in p for p in problems)
    assert any("'missing'" in p and "ModuleNotFoundError" in p for p in problems)
    assert any("'future'" in p and "version 99" in p and "update OsteoPlan" in p for p in problems)
    assert sorted(r.getMessage() for r in caplog.records) == sorted(problems)


def test_the_device_catalog_survives_broken_plugins(fake_plugins, caplog):
    with caplog.at_level(logging.WARNING):
        catalog = devices.device_catalog()
        devices.device_catalog()  # cached: nothing reported twice
    assert "trocar-11g-100" in catalog and catalog.get("fake-kwire-1.0").provider == "zz-good"
    assert len(catalog.problems) == len(set(catalog.problems)) == 6
    assert any("'raises'" in p and "server down" in p for p in catalog.problems)
    assert any("'garbage'" in p and "not a list" in p for p in catalog.problems)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sorted(warnings) == sorted(catalog.problems)


def test_a_group_without_plugins_loads_nothing():
    assert load_plugins(plugin_api.ABLATION_MODELS) == ([], [])
