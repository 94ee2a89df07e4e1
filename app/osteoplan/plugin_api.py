"""OsteoPlan's plugin API: the entry-point groups an extension registers in, their protocols, and the loader.

A plugin is any installed distribution that declares entry points in one of the groups
below (OsteoPlan's own built-ins in ``plugins/osteoplan_builtins`` use the same mechanism)::

    [project.entry-points."osteoplan.devices"]
    acme = "acme_osteoplan.devices:device_entries"

The public reference, with examples, is ``plugins/README.md``. Coordinates are LPS
millimetres, CT values Hounsfield units, everywhere.

Groups
------
``osteoplan.devices`` (`DEVICE_CATALOGS`, protocol `DeviceCatalogProvider`)
    A callable taking no argument and returning a list of device entries (plain dicts):
    ``id`` (lower case; prefix your ids, they share one namespace), ``kind``, ``name``,
    ``outer_diameter_mm``, ``length_mm``, ``gauge``, ``source``, ``verified``, ``notes``;
    ablation probes add ``active_tip_mm``, ``settings`` and ``zone_model``. Validated by
    `osteoplan.core.planning.devices`; an id already taken is skipped.
``osteoplan.ablation_models`` (`ABLATION_MODELS`, protocol `AblationZoneModel`)
    ``model(request: ZoneRequest) -> AblationZone``: the zone of one ablation. A probe
    chooses its model by entry-point name in its ``zone_model`` field (default
    ``"builtin"``, the table model).
``osteoplan.cement_models`` (`CEMENT_MODELS`, protocol `CementModelProvider`)
    ``provider() -> CementModel | dict``: the parameter set of the cement-spread model; an
    injection chooses it by entry-point name in its ``model`` field (default ``"builtin"``).
``osteoplan.image_readers`` (`IMAGE_READERS`, protocol `ImageReader`)
    ``reader.can_read(path) -> bool`` and ``reader.read(path) -> Volume``, tried for files
    the built-in readers (DICOM, NIfTI, NRRD, MetaImage) do not handle.
``osteoplan.ui_panels`` (`UI_PANELS`, protocol `UIPanel`; the only group that may use Qt)
    ``panel.title`` and ``panel.create_panel(window) -> QWidget``: a dock of the main window.

Plugins are loaded lazily, the first time the application needs a group, and once per
process (`registered`). A plugin that fails to import, raises or returns garbage is
reported once (a human message, logged, and kept in `problems`) and skipped; the others
still load and the application still starts.

Versioning: `API_VERSION` is this API's version; it grows when a protocol changes in a
way old plugins cannot follow. A loaded object may carry ``osteoplan_api_version = N``
(the version it was written for); when N is greater than `API_VERSION` the plugin was
written for a newer OsteoPlan and is skipped with a problem saying so.

This module is Qt-free and imports nothing from the GUI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from osteoplan.core.ablation.zones import AblationZone, ZoneGeometry, ZoneRequest
from osteoplan.core.cement.spread import CementModel
# The loader lives in the core (every core package uses it); its names are public here.
from osteoplan.core.entry_points import (ABLATION_MODELS, API_VERSION, BUILTIN, BUILTIN_PACKAGE,  # noqa: F401
                                         CEMENT_MODELS, DEVICE_CATALOGS, GROUPS, IMAGE_READERS, UI_PANELS,
                                         clear_registry, describe_error, entry_points, instantiate, load_plugins,
                                         problems, registered, report_once)
from osteoplan.core.errors import LoadError  # noqa: F401 - what an image reader raises for a bad file
from osteoplan.core.imaging.volume import Volume

__all__ = [
    "API_VERSION", "DEVICE_CATALOGS", "ABLATION_MODELS", "CEMENT_MODELS", "IMAGE_READERS", "UI_PANELS", "GROUPS",
    "BUILTIN", "DeviceCatalogProvider", "AblationZoneModel", "CementModelProvider", "ImageReader", "UIPanel",
    "AblationZone", "ZoneGeometry", "ZoneRequest", "CementModel", "Volume", "LoadError",
    "registered", "problems", "report_once", "describe_error", "instantiate", "load_plugins", "clear_registry",
]


# --- protocols ----------------------------------------------------------------------------
class DeviceCatalogProvider(Protocol):
    """What an ``osteoplan.devices`` entry point loads: ``provider() -> list[dict]``."""

    def __call__(self) -> list[dict[str, Any]]: ...


class AblationZoneModel(Protocol):
    """What an ``osteoplan.ablation_models`` entry point loads: ``model(request) -> AblationZone``.

    `request` (`ZoneRequest`) holds the ``case`` (CT and
    labels), the ``trajectory``, the ``probe`` (`AblationProbe`), its ``setting``
    (`AblationSetting`) and ``offset_mm``, with ``tip_lps`` and ``axis`` (unit, entry ->
    tip) ready. The zone must lie on ``request.case.ct``'s grid; build it with
    `osteoplan.core.ablation.zones.rasterize_zone` (ellipsoids) or `AblationZone` directly.
    Optional attribute ``model_name``: the name reports show (default: the entry-point name).
    """

    def __call__(self, request: "ZoneRequest") -> "AblationZone": ...


class CementModelProvider(Protocol):
    """What an ``osteoplan.cement_models`` entry point loads: ``provider() -> CementModel | dict``.

    The parameters of the front-propagation spread model (`CementModel`:
    density, porosity, permeability, viscosities, what lies outside bone), validated at load.
    """

    def __call__(self) -> "CementModel | dict[str, Any]": ...


class ImageReader(Protocol):
    """What an ``osteoplan.image_readers`` entry point loads (an object, a module, or a class
    that is instantiated without arguments)."""

    def can_read(self, path: Path) -> bool: ...

    def read(self, path: Path) -> "Volume": ...


class UIPanel(Protocol):
    """What an ``osteoplan.ui_panels`` entry point loads (an object, a module, or a class
    instantiated without arguments): a dock of the main window titled `title`."""

    title: str

    def create_panel(self, window: Any) -> Any:  # -> QWidget; `window` is the MainWindow
        ...


