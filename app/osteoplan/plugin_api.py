"""OsteoPlan's plugin API: the entry-point groups an extension registers in, and their loader.

A plugin is any installed distribution that declares entry points in one of the groups
below (OsteoPlan's own built-ins in ``plugins/osteoplan_builtins`` use the same mechanism)::

    [project.entry-points."osteoplan.devices"]
    acme = "acme_osteoplan.devices:device_entries"

Plugins are loaded lazily, the first time the application needs a group. A plugin that
fails to import, raises or returns garbage is reported once (a human message in the
``problems`` the loader returns, also logged) and skipped; the others still load.

Groups
------
``osteoplan.devices`` (`DEVICE_CATALOGS`)
    A **device-catalog provider**: a callable taking no argument and returning a list
    of device entries (plain dicts). Each entry has
    ``id`` (lower case, e.g. ``"acme-trocar-11g-120"``: prefix your ids, they share one
    namespace), ``kind`` (``trocar``, ``spindle``, ``kwire``, ``cannulated_screw``),
    ``name``, ``outer_diameter_mm`` (> 0), ``length_mm`` (number or null), ``gauge``
    (e.g. ``"11G"`` or null), ``source`` (where the numbers come from, required),
    ``verified`` (true only if every number was read in that source) and ``notes``.
    Entries are validated by `osteoplan.core.devices`; the ``provider`` field is set by
    OsteoPlan to the entry-point name. An id already taken is skipped.

Reserved for later versions (declared now so that plugins and OsteoPlan agree on names):
``osteoplan.ablation_models`` (`ABLATION_MODELS`: ablation probes and zone models),
``osteoplan.cement_models`` (`CEMENT_MODELS`: cement-spread models),
``osteoplan.image_readers`` (`IMAGE_READERS`: extra image formats),
``osteoplan.ui_panels`` (`UI_PANELS`: extra GUI panels; the only group that may use Qt).

Versioning: a loaded object may carry ``osteoplan_api_version = N``; when N is greater
than `API_VERSION` the plugin was written for a newer OsteoPlan and is skipped with a
problem saying so.

This module is Qt-free and imports nothing from the GUI.
"""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol

API_VERSION = 1

DEVICE_CATALOGS = "osteoplan.devices"
ABLATION_MODELS = "osteoplan.ablation_models"
CEMENT_MODELS = "osteoplan.cement_models"
IMAGE_READERS = "osteoplan.image_readers"
UI_PANELS = "osteoplan.ui_panels"
GROUPS = (DEVICE_CATALOGS, ABLATION_MODELS, CEMENT_MODELS, IMAGE_READERS, UI_PANELS)

BUILTIN_PACKAGE = "osteoplan_builtins"

_log = logging.getLogger(__name__)


class DeviceCatalogProvider(Protocol):
    """What an ``osteoplan.devices`` entry point loads: ``provider() -> list[dict]``."""

    def __call__(self) -> list[dict[str, Any]]: ...


def _is_builtin(entry_point: EntryPoint) -> bool:
    return entry_point.value.split(":")[0].split(".")[0] == BUILTIN_PACKAGE


def _distribution_name(entry_point: EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    return getattr(dist, "name", None) or "unknown distribution"


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_plugins(group: str) -> tuple[list[tuple[str, object]], list[str]]:
    """Import every plugin registered in `group`: ``([(name, loaded object), ...], [problem, ...])``.

    Built-ins come first, then the others sorted by name, so that the result (and which
    of two clashing plugins wins) does not depend on the order of installation.
    """
    found = sorted(entry_points(group=group), key=lambda ep: (not _is_builtin(ep), ep.name, ep.value))
    loaded: list[tuple[str, object]] = []
    problems: list[str] = []
    names: set[str] = set()
    for entry_point in found:
        name = entry_point.name
        if name in names:  # two distributions used the same name: keep both, tell them apart
            name = f"{name} ({_distribution_name(entry_point)})"
        try:
            obj = entry_point.load()
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of foreign code is reported, not fatal
            problems.append(f"plugin {entry_point.name!r} ({entry_point.value}, group {group}) could not be "
                            f"loaded and was skipped: {_describe(exc)}")
            continue
        wanted = getattr(obj, "osteoplan_api_version", API_VERSION)
        if not isinstance(wanted, int) or isinstance(wanted, bool) or wanted > API_VERSION:
            problems.append(f"plugin {entry_point.name!r} ({entry_point.value}, group {group}) needs plugin API "
                            f"version {wanted!r}; this OsteoPlan provides version {API_VERSION}: update OsteoPlan "
                            f"to use it")
            continue
        names.add(name)
        loaded.append((name, obj))
    for problem in problems:
        _log.warning("%s", problem)
    return loaded, problems
