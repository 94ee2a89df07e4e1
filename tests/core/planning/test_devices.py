"""The device catalog: built-in entries, validation, lookups with suggestions, broken providers."""

from __future__ import annotations

import json
import logging
import math

import pytest

from osteoplan.core.planning import devices as devices_module
from osteoplan.core.planning.devices import (
    LISTING_FIELDS,
    Device,
    DeviceCatalog,
    DeviceKind,
    UnknownDeviceError,
    build_device_catalog,
    device_catalog,
    parse_device,
)
from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.resources import load_json_resource

# resources/sources.md, Devices (✔)
GAUGE_MM = {"10G": 3.404, "11G": 3.048, "12G": 2.769, "13G": 2.413, "14G": 2.108, "15G": 1.829}


def _entry(**changes) -> dict:
    entry = {"id": "acme-trocar-11g-120", "kind": "trocar", "name": "Acme trocar 11G", "gauge": "11G",
             "outer_diameter_mm": 3.048, "length_mm": 120.0, "source": "Acme IFU rev. 3", "verified": False}
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not ...}


@pytest.fixture
def builtin() -> DeviceCatalog:
    return build_device_catalog([("builtin", lambda: load_json_resource("devices.json")["devices"])])


def test_builtin_catalog_loads_without_problems(builtin):
    assert builtin.problems == ()
    assert load_json_resource("devices.json")["schema_version"] == devices_module.DEVICES_SCHEMA_VERSION
    assert len(builtin) == len(load_json_resource("devices.json")["devices"]) >= 20
    assert {d.provider for d in builtin} == {"builtin"}


def test_builtin_trocars_have_the_gauge_diameters_in_common_lengths(builtin):
    for gauge, diameter in GAUGE_MM.items():
        trocars = [d for d in builtin.of_kind(DeviceKind.TROCAR) if d.gauge == gauge]
        assert {d.length_mm for d in trocars} >= {None, 100.0, 150.0}, gauge
        assert all(d.outer_diameter_mm == diameter for d in trocars), gauge
    trocar = builtin.get("trocar-11g-100")
    assert trocar.kind is DeviceKind.TROCAR and trocar.length_mm == 100.0
    assert trocar.radius_mm == pytest.approx(1.524)


def test_builtin_entries_are_sourced_and_only_fully_sourced_ones_verified(builtin):
    for device in builtin:
        assert device.source.strip(), device.id
        if device.length_mm is not None and device.kind is DeviceKind.TROCAR:
            assert not device.verified, f"{device.id}: trocar lengths are unverified (resources/sources.md ✱)"
    verified = {d.id for d in builtin if d.verified}
    assert verified == {f"trocar-{g.lower()}" for g in GAUGE_MM}


def test_builtin_has_kwires_and_cannulated_screws(builtin):
    assert {"kwire-1.6-150", "kwire-2.0-150", "kwire-2.5-150"} <= set(builtin.ids)
    screws = builtin.of_kind("cannulated_screw")
    assert {d.outer_diameter_mm for d in screws} == {6.5, 7.3}
    assert any("10.1186/s12891-022-06026-w" in d.source for d in screws if d.outer_diameter_mm == 6.5)
    assert set(builtin.of_kind(DeviceKind.KWIRE, DeviceKind.CANNULATED_SCREW)) == set(
        builtin.of_kind("kwire")) | set(screws)


def test_unknown_id_names_it_and_suggests_close_ids(builtin):
    with pytest.raises(UnknownDeviceError) as info:
        builtin.get("trocar-11g-10")
    assert isinstance(info.value, OsteoPlanError)
    message = str(info.value)
    assert "'trocar-11g-10'" in message and "trocar-11g-100" in message
    assert info.value.suggestions and "trocar-11g-100" in info.value.suggestions
    with pytest.raises(UnknownDeviceError, match="osteoplan devices"):
        builtin.get("nothing-like-it")


def test_listing_has_the_contract_keys_first_and_is_json(builtin):
    listing = builtin.listing()
    assert list(listing) == ["devices"]
    rows = json.loads(json.dumps(listing))["devices"]
    assert [r["id"] for r in rows] == list(builtin.ids)
    for row in rows:
        assert tuple(row)[:7] == ("id", "kind", "name", "outer_diameter_mm", "length_mm", "source", "verified")
        assert isinstance(row["kind"], str) and isinstance(row["verified"], bool)
        assert isinstance(row["outer_diameter_mm"], float)
        assert row["length_mm"] is None or isinstance(row["length_mm"], float)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"outer_diameter_mm": 0}, "outer_diameter_mm"),
        ({"outer_diameter_mm": math.nan}, "outer_diameter_mm"),
        ({"outer_diameter_mm": 2.5}, "gauge 11G has an outer diameter of 3.048 mm"),
        ({"source": ...}, "source"),
        ({"source": "   "}, "source"),
        ({"verified": ...}, "verified"),
        ({"kind": "laser"}, "kind: 'laser' is not a device kind"),
        ({"id": "Has Spaces"}, "id"),
        ({"colour": "red"}, "colour"),
        ({"length_mm": -5}, "length_mm"),
    ],
)
def test_invalid_entries_are_refused_with_the_field(changes, expected):
    with pytest.raises(ValueError, match=expected.replace("(", r"\(")):
        parse_device(_entry(**changes))


def test_parse_device_sets_the_provider():
    device = parse_device(_entry(provider="someone-else"), provider="acme")
    assert device.provider == "acme" and not device.verified


def test_broken_providers_are_reported_once_and_skipped(caplog):
    def raises():
        raise RuntimeError("database offline")

    providers = [
        ("builtin", lambda: [_entry(id="good-1"), _entry(id="good-2")]),
        ("raises", raises),
        ("garbage", lambda: {"devices": []}),
        ("not-callable", 42),
        ("mixed", lambda: [_entry(id="good-3"), "nonsense", _entry(id="bad", outer_diameter_mm=-1),
                           _entry(id="good-1")]),
    ]
    with caplog.at_level(logging.WARNING, logger="osteoplan.core.planning.devices"):
        catalog = build_device_catalog(providers)
    assert catalog.ids == ("good-1", "good-2", "good-3")
    assert catalog.get("good-1").provider == "builtin"  # the first provider keeps a clashing id
    problems = catalog.problems
    assert len(problems) == len(set(problems)) == 6
    assert any("'raises'" in p and "database offline" in p for p in problems)
    assert any("'garbage'" in p and "not a list" in p for p in problems)
    assert any("'not-callable'" in p for p in problems)
    assert any("entry 1" in p and "'mixed'" in p for p in problems)
    assert any("'bad'" in p and "outer_diameter_mm" in p for p in problems)
    assert any("'good-1'" in p and "already provided by 'builtin'" in p for p in problems)
    logged = [r.getMessage() for r in caplog.records]
    assert sorted(logged) == sorted(problems)


def test_catalog_rejects_duplicate_ids_when_built_directly():
    device = parse_device(_entry())
    with pytest.raises(ValueError, match="share the id"):
        DeviceCatalog([device, device])


def test_a_kind_with_its_own_fields_plugs_in_through_device_models(monkeypatch):
    class ScrewWithThread(Device):
        thread_length_mm: float | None = None

    monkeypatch.setitem(devices_module.DEVICE_MODELS, DeviceKind.CANNULATED_SCREW, ScrewWithThread)
    entry = _entry(id="acme-screw", kind="cannulated_screw", gauge=None, outer_diameter_mm=6.5,
                   thread_length_mm=16.0)
    catalog = build_device_catalog([("acme", lambda: [entry])])
    assert catalog.problems == ()
    row = catalog.listing()["devices"][0]
    assert tuple(row) == (*LISTING_FIELDS, "thread_length_mm") and row["thread_length_mm"] == 16.0


def test_device_catalog_is_built_once_from_the_entry_points():
    device_catalog.cache_clear()
    try:
        catalog = device_catalog()
        assert catalog is device_catalog()
        assert "trocar-11g-100" in catalog and catalog.get("trocar-11g-100").provider == "builtin"
    finally:
        device_catalog.cache_clear()
