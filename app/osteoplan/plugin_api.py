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

import logging
import threading
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from osteoplan.core.ablation.zones import AblationZone
    from osteoplan.core.ablation.models import ZoneRequest
    from osteoplan.core.cement.spread import CementModel
    from osteoplan.core.imaging.volume import Volume

API_VERSION = 1

DEVICE_CATALOGS = "osteoplan.devices"
ABLATION_MODELS = "osteoplan.ablation_models"
CEMENT_MODELS = "osteoplan.cement_models"
IMAGE_READERS = "osteoplan.image_readers"
UI_PANELS = "osteoplan.ui_panels"
GROUPS = (DEVICE_CATALOGS, ABLATION_MODELS, CEMENT_MODELS, IMAGE_READERS, UI_PANELS)

BUILTIN_PACKAGE = "osteoplan_builtins"
BUILTIN = "builtin"  # the entry-point name of OsteoPlan's own provider in each group

_log = logging.getLogger(__name__)


# --- protocols ----------------------------------------------------------------------------
class DeviceCatalogProvider(Protocol):
    """What an ``osteoplan.devices`` entry point loads: ``provider() -> list[dict]``."""

    def __call__(self) -> list[dict[str, Any]]: ...


class AblationZoneModel(Protocol):
    """What an ``osteoplan.ablation_models`` entry point loads: ``model(request) -> AblationZone``.

    `request` (`osteoplan.core.ablation.models.ZoneRequest`) holds the ``case`` (CT and
    labels), the ``trajectory``, the ``probe`` (`AblationProbe`), its ``setting``
    (`AblationSetting`) and ``offset_mm``, with ``tip_lps`` and ``axis`` (unit, entry ->
    tip) ready. The zone must lie on ``request.case.ct``'s grid; build it with
    `osteoplan.core.ablation.zones.rasterize_zone` (ellipsoids) or `AblationZone` directly.
    Optional attribute ``model_name``: the name reports show (default: the entry-point name).
    """

    def __call__(self, request: "ZoneRequest") -> "AblationZone": ...


class CementModelProvider(Protocol):
    """What an ``osteoplan.cement_models`` entry point loads: ``provider() -> CementModel | dict``.

    The parameters of the front-propagation spread model (`osteoplan.core.cement.spread.CementModel`:
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


# --- loading -------------------------------------------------------------------------------
def _is_builtin(entry_point: EntryPoint) -> bool:
    return entry_point.value.split(":")[0].split(".")[0] == BUILTIN_PACKAGE


def _distribution_name(entry_point: EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    return getattr(dist, "name", None) or "unknown distribution"


def describe_error(exc: BaseException) -> str:
    """``Type: first line of the message``: how a plugin's exception is quoted in a problem."""
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
                            f"loaded and was skipped: {describe_error(exc)}")
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


def instantiate(obj: object) -> object:
    """A plugin that registered a class (reader, panel) is used through an instance of it."""
    return obj() if isinstance(obj, type) else obj


_lock = threading.RLock()  # images load in a worker thread while the GUI may load panels
_registry: dict[str, dict[str, object]] = {}
_problems: list[str] = []


def registered(group: str) -> dict[str, object]:
    """``{name: loaded object}`` of a group (built-in first), imported once per process;
    load problems are reported (logged) once and kept in `problems`."""
    with _lock:
        if group not in _registry:
            loaded, found = load_plugins(group)
            _registry[group] = dict(loaded)
            _problems.extend(p for p in found if p not in _problems)
        return _registry[group]


def report_once(problem: str) -> bool:
    """Log a problem met while using a plugin, the first time only; True when it was new."""
    with _lock:
        if problem in _problems:
            return False
        _problems.append(problem)
    _log.warning("%s", problem)
    return True


def problems() -> tuple[str, ...]:
    """Every plugin problem reported so far in this process, oldest first."""
    with _lock:
        return tuple(_problems)


def clear_registry() -> None:
    """Forget loaded plugins and reported problems (tests; a new plugin installed at run time)."""
    with _lock:
        _registry.clear()
        _problems.clear()
