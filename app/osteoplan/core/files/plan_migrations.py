"""Upgrades of older plan files, one version at a time: ``MIGRATIONS[n]`` turns a version-n dict into version n+1.

A migration never mutates its input and never raises on odd shapes: it rewrites what it
recognises and leaves the rest to the validation of the newest version, which then names
the offending field.

Version 0 — the pre-release format of the development builds (before the ``format``
field existed)::

    {"version": 0,                      # or no "version" at all
     "image": "ct.nii.gz",              # a bare path (version 1: {"path": ...})
     "labels": "labels.nii.gz",         # idem, optional
     "trajectories": [{"id": "t1", "entry": [x, y, z], "target": [x, y, z], "device": "..."}]}

Version 1 adds ``"format": "osteoplan.plan"``, wraps the paths in objects and names the
points ``entry_lps`` / ``target_lps`` (LPS millimetres, as before).
"""

from __future__ import annotations

from typing import Any, Callable

PLAN_FORMAT = "osteoplan.plan"

Migration = Callable[[dict[str, Any]], dict[str, Any]]


def _path_object(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value


def _renamed(item: Any, renames: dict[str, str]) -> Any:
    if not isinstance(item, dict):
        return item
    result = dict(item)
    for old, new in renames.items():
        if old in result and new not in result:
            result[new] = result.pop(old)
    return result


def migrate_0_to_1(data: dict[str, Any]) -> dict[str, Any]:
    upgraded = dict(data)
    upgraded["format"] = PLAN_FORMAT
    upgraded["version"] = 1
    if "image" in upgraded:
        upgraded["image"] = _path_object(upgraded["image"])
    if "labels" in upgraded:
        upgraded["labels"] = _path_object(upgraded["labels"])
    trajectories = upgraded.get("trajectories")
    if isinstance(trajectories, list):
        upgraded["trajectories"] = [_renamed(t, {"entry": "entry_lps", "target": "target_lps"})
                                    for t in trajectories]
    return upgraded


MIGRATIONS: dict[int, Migration] = {0: migrate_0_to_1}


def looks_like_version_0(data: dict[str, Any]) -> bool:
    """A dict without `format` that is a pre-release plan (not some other JSON file)."""
    return ("format" not in data and data.get("version", 0) == 0
            and not isinstance(data.get("version", 0), bool)
            and ("trajectories" in data or "image" in data))
