"""The user's cache of what was found on a CT (`imaging.automatic`), by the CT's content hash.

Reopening a CT (the same plan tomorrow, a label map added, a crash and a restart) finds its
automatic structures in well under a second instead of seconds. An entry is keyed by the CT's
content hash (`imaging.content_hash`: voxels and geometry), by what was looked for (`Wanted`: it
depends on the label map's names), and by a fingerprint of the code and data that find them (the
source of the automatic modules and resources/tissue_classes.json), so that an update of the
algorithms never serves a stale result. Entries are written atomically (a temporary file renamed
into place); an entry that does not read back exactly is ignored and found again. Nothing is
cached when the cache folder cannot be written (a read-only home): the search simply runs.

Layout: ``<cache root>/anatomy/<key>.npz`` holding ``on_grid`` (uint16, the analysis grid) and
``meta`` (JSON: entries, unchecked, notes, the grid's size).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from osteoplan.core.imaging.content_hash import volume_content_hash
from osteoplan.core.imaging.volume import Volume
from osteoplan.core.resources import resource_path, user_cache_root

SEARCH_MODULES = ("automatic", "spine", "vertebrae", "foramina", "pelvis", "vessels", "air", "bone_fields", "tissue")
SEARCH_RESOURCES = ("tissue_classes.json",)


@dataclass(frozen=True)
class FoundAnatomy:
    """The structures found on a CT, on its analysis grid: label n of `on_grid` is `entries[n - 1]`."""

    on_grid: np.ndarray | None  # uint16 [z, y, x] of the analysis grid; None when nothing was found
    entries: tuple[tuple[str, str], ...]  # (name, method)
    unchecked: tuple[tuple[str, str], ...]  # (hazard category, why it has no structure)
    notes: tuple[str, ...]


@lru_cache(maxsize=1)
def search_fingerprint() -> str:
    """A digest of the code and data the automatic search runs on."""
    digest = hashlib.sha256()
    for name in SEARCH_MODULES:
        digest.update((Path(__file__).parent / f"{name}.py").read_bytes())
    for name in SEARCH_RESOURCES:
        digest.update(resource_path(name).read_bytes())
    return digest.hexdigest()[:16]


def _key(ct: Volume, wanted) -> str:
    text = json.dumps({"ct": volume_content_hash(ct), "wanted": asdict(wanted), "code": search_fingerprint()},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _read(path: Path, shape: tuple[int, ...]) -> FoundAnatomy:
    with np.load(path, allow_pickle=False) as stored:
        meta = json.loads(str(stored["meta"]))
        on_grid = stored["on_grid"] if meta["has_grid"] else None
    if on_grid is not None and (on_grid.dtype != np.uint16 or on_grid.shape != shape):
        raise ValueError("cached grid does not match")
    return FoundAnatomy(on_grid, tuple(tuple(e) for e in meta["entries"]), tuple(tuple(u) for u in meta["unchecked"]),
                        tuple(meta["notes"]))


def _write(path: Path, found: FoundAnatomy) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"has_grid": found.on_grid is not None, "entries": found.entries, "unchecked": found.unchecked,
            "notes": found.notes}
    grid = found.on_grid if found.on_grid is not None else np.zeros((0,), np.uint16)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez_compressed(stream, on_grid=grid, meta=np.array(json.dumps(meta)))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def cached_anatomy(ct: Volume, wanted, grid_shape: tuple[int, ...], find: Callable[..., FoundAnatomy],
                   progress=None) -> FoundAnatomy:
    """`find(ct, wanted, progress)`, or its cached result for this CT (see the module docstring);
    `grid_shape`: the analysis grid's [z, y, x] shape a cached grid must have."""
    try:
        path = user_cache_root() / "anatomy" / f"{_key(ct, wanted)}.npz"
    except (OSError, RuntimeError):
        return find(ct, wanted, progress)
    if path.is_file():
        try:
            return _read(path, tuple(grid_shape))
        except Exception:  # noqa: BLE001 - truncated zip, bad JSON, wrong grid...: a cache never breaks loading
            pass  # found again and rewritten below
    found = find(ct, wanted, progress)
    try:
        _write(path, found)
    except OSError:
        pass  # a read-only cache folder: nothing is kept, nothing is lost
    return found
