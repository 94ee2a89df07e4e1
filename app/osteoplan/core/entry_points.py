"""The plugin loader: entry-point groups, loading each group once per process, and the problems
met on the way. It knows no core type, so that every core package may use it; the protocols a
plugin implements, and the types it receives, are in `osteoplan.plugin_api` (plugins/README.md).
"""

from __future__ import annotations

import logging
import threading
from importlib.metadata import EntryPoint, entry_points

API_VERSION = 1
LOAD_TIMEOUT_S = 10.0  # a plugin's import (its entry point) must finish within this

DEVICE_CATALOGS = "osteoplan.devices"
ABLATION_MODELS = "osteoplan.ablation_models"
CEMENT_MODELS = "osteoplan.cement_models"
IMAGE_READERS = "osteoplan.image_readers"
UI_PANELS = "osteoplan.ui_panels"
GROUPS = (DEVICE_CATALOGS, ABLATION_MODELS, CEMENT_MODELS, IMAGE_READERS, UI_PANELS)

BUILTIN_PACKAGE = "osteoplan_builtins"
BUILTIN = "builtin"  # the entry-point name of OsteoPlan's own provider in each group

_log = logging.getLogger("osteoplan.plugin_api")  # plugin problems are logged under the public API's name


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
            obj = _load_in_time(entry_point)
        except BaseException as exc:  # noqa: BLE001 - any failure of foreign code (even SystemExit, KeyboardInterrupt
            # raised by its import) is reported, not fatal
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
        report_once(problem)
    return loaded, problems


class PluginTimeout(Exception):
    pass


def _load_in_time(entry_point: EntryPoint) -> object:
    """`entry_point.load()` within LOAD_TIMEOUT_S (built-ins are trusted: loaded directly)."""
    if _is_builtin(entry_point):
        return entry_point.load()
    return call_in_time(entry_point.load, f"plugin {entry_point.name}", "finish importing")


def call_in_time(function, name: str, doing: str = "answer", timeout_s: float | None = None):
    """`function()` in a worker thread, given `timeout_s` (LOAD_TIMEOUT_S): a plugin that hangs is skipped (its thread
    is left behind, as a daemon) instead of hanging every command and the window. Its exception, of any kind, is
    raised here; a hang raises PluginTimeout."""
    timeout_s = LOAD_TIMEOUT_S if timeout_s is None else timeout_s
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["value"] = function()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            result["error"] = exc

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise PluginTimeout(f"it did not {doing} within {timeout_s:g} s")
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["value"]


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
            loaded, _ = load_plugins(group)  # its problems are reported (once) by load_plugins
            _registry[group] = dict(loaded)
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
