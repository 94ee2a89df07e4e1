"""The plugin API: entry-point groups, the lazy loader, and broken plugins reported once."""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint, entry_points

import pytest

from osteoplan import plugin_api
from osteoplan.core import entry_points as entry_points_module
from osteoplan.core.planning import devices
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
    monkeypatch.setattr(entry_points_module, "entry_points", lambda group: [ep for ep in eps if ep.group == group])
    devices.device_catalog.cache_clear()
    entry_points_module.clear_registry()  # problems are reported once per process: each test starts afresh
    yield
    devices.device_catalog.cache_clear()
    entry_points_module.clear_registry()


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


BUILTINS = {
    "osteoplan.devices": "osteoplan_builtins.devices:device_entries",
    "osteoplan.ablation_models": "osteoplan_builtins.ablation_models:table_zone",
    "osteoplan.cement_models": "osteoplan_builtins.cement_models:spread_parameters",
    "osteoplan.image_readers": "osteoplan_builtins.image_readers:SimpleITKReader",
}


def test_every_builtin_is_registered_through_the_public_entry_points():
    for group in GROUPS:
        found = {ep.name: ep.value for ep in entry_points(group=group)}
        if group in BUILTINS:
            assert found.get("builtin") == BUILTINS[group], f"{group}: reinstall (pip install -e .)?"
        else:
            assert "builtin" not in found  # no built-in UI panel: the group is for plugins
        loaded, problems = load_plugins(group)
        assert problems == []
        assert [name for name, _ in loaded][:1] == (["builtin"] if group in BUILTINS else [])


def test_the_builtins_behave_as_the_core_they_wrap(tmp_path):
    import numpy as np

    from osteoplan.core.ablation.zones import compute_zone
    from osteoplan.core.planning.ablation import Ablation
    from osteoplan.core.ablation.models import ZoneRequest
    from osteoplan.core.cement.spread import cement_model
    from osteoplan.core.session import PlanSession
    from osteoplan.core.planning.trajectory import TrajectoryKind
    from osteoplan.core.imaging.volume import Volume
    from tests.ui.conftest import make_synthetic_case

    registry = {group: dict(load_plugins(group)[0]) for group in BUILTINS}
    case = make_synthetic_case()
    session = PlanSession(case)
    lesion = case.ct.index_to_lps((24, 40, 20))
    path = session.new_trajectory(lesion + [0, 25, 0], lesion, TrajectoryKind.FREE, device_id="rf-bipolar-bone-10")
    probe = session.catalog.get("rf-bipolar-bone-10")
    assert probe.zone_model == "builtin"
    zone = registry[plugin_api.ABLATION_MODELS]["builtin"](ZoneRequest(case, path, probe, probe.settings[0], 2.0))
    direct = compute_zone(case.ct, path.target, path.axis, probe.settings[0], False, 2.0)
    assert zone.model == "table" and np.array_equal(zone.lethal, direct.lethal) and zone.start_kji == direct.start_kji
    session.editor.add_trajectory(path)
    session.editor.add_ablation(Ablation(id="a1", trajectory=path.id, setting=probe.settings[0].id, offset_mm=2.0))
    assert np.array_equal(session.ablation_zone("a1").lethal, direct.lethal)  # the session goes through it
    assert registry[plugin_api.CEMENT_MODELS]["builtin"]() == cement_model()
    reader = plugin_api.instantiate(registry[plugin_api.IMAGE_READERS]["builtin"])
    image = tmp_path / "ct.nii.gz"
    import SimpleITK as sitk

    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, 5, 6), np.int16)), str(image))
    assert reader.can_read(image) and not reader.can_read(tmp_path / "x.fake")
    assert isinstance(reader.read(image), Volume) and reader.read(image).size == (6, 5, 4)


def test_a_group_is_imported_once_per_process_and_problems_are_reported_once(monkeypatch, caplog):
    calls = []
    monkeypatch.setattr(entry_points_module, "entry_points", lambda group: calls.append(group) or [
        EntryPoint("missing", "no_such_module_at_all:model", group)])
    plugin_api.clear_registry()
    try:
        with caplog.at_level(logging.WARNING, logger="osteoplan.plugin_api"):
            assert plugin_api.registered(plugin_api.ABLATION_MODELS) == {}
            assert plugin_api.registered(plugin_api.ABLATION_MODELS) == {}
            assert plugin_api.report_once("model x failed") and not plugin_api.report_once("model x failed")
        assert calls == [plugin_api.ABLATION_MODELS]
        assert len(plugin_api.problems()) == 2 and len(caplog.records) == 2
    finally:
        plugin_api.clear_registry()


def test_a_plugin_that_hangs_or_interrupts_at_import_is_skipped_in_time(tmp_path, monkeypatch):
    (tmp_path / "fake_hangs_on_import.py").write_text("import time\nwhile True:\n    time.sleep(0.05)\n")
    (tmp_path / "fake_interrupts_on_import.py").write_text("raise KeyboardInterrupt\n")
    (tmp_path / "fake_base_exception.py").write_text("class Odd(BaseException):\n    pass\nraise Odd('odd')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(entry_points_module, "LOAD_TIMEOUT_S", 0.5)
    eps = [EntryPoint("hangs", "fake_hangs_on_import:provider", DEVICE_CATALOGS),
           EntryPoint("interrupts", "fake_interrupts_on_import:provider", DEVICE_CATALOGS),
           EntryPoint("odd", "fake_base_exception:provider", DEVICE_CATALOGS),
           EntryPoint("builtin", "osteoplan_builtins.devices:device_entries", DEVICE_CATALOGS)]
    monkeypatch.setattr(entry_points_module, "entry_points", lambda group: [ep for ep in eps if ep.group == group])
    entry_points_module.clear_registry()
    loaded, problems = load_plugins(DEVICE_CATALOGS)  # returns: the hang does not hang the caller
    entry_points_module.clear_registry()
    assert [name for name, _ in loaded] == ["builtin"]
    assert any("'hangs'" in p and "did not finish importing within 0.5 s" in p for p in problems)
    assert any("'interrupts'" in p and "KeyboardInterrupt" in p for p in problems)
    assert any("'odd'" in p and "Odd: odd" in p for p in problems)


def test_a_device_catalog_that_hangs_is_skipped_in_time(tmp_path, monkeypatch):
    (tmp_path / "fake_slow_catalog.py").write_text("import time\ndef entries():\n    time.sleep(60)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(entry_points_module, "LOAD_TIMEOUT_S", 0.5)
    eps = [EntryPoint("slow", "fake_slow_catalog:entries", DEVICE_CATALOGS),
           EntryPoint("builtin", "osteoplan_builtins.devices:device_entries", DEVICE_CATALOGS)]
    monkeypatch.setattr(entry_points_module, "entry_points", lambda group: [ep for ep in eps if ep.group == group])
    devices.device_catalog.cache_clear()
    entry_points_module.clear_registry()
    try:
        catalog = devices.device_catalog()
    finally:
        devices.device_catalog.cache_clear()
        entry_points_module.clear_registry()
    assert "trocar-11g-100" in catalog
    assert any("'slow'" in p and "did not answer within 0.5 s" in p for p in catalog.problems)
