"""Autosave of the open plan and recovery after a crash (or kill -9).

Each running session writes ``<session>.plan.json`` (an ordinary plan file with absolute
paths) and ``<session>.meta.json`` (pid, host, original plan path, image path, time) into
the autosave folder, both atomically, and holds an OS lock on ``<session>.lock`` while it
lives. The OS drops that lock when the process ends however it ends, so an autosave whose
lock can be taken belongs to a process that is gone: `find_recoverable` offers it. (A
lock rather than a pid check: pids are reused, and probing a pid on Windows kills it.)

The folder is ``<data dir>/autosave`` where the data dir is ``$OSTEOPLAN_DATA_DIR`` or
``platformdirs.user_data_dir("osteoplan")``. Edited structure masks go beside the autosave
as ``<session>.structures.nii.gz`` (rewritten only when they changed). When to save (every 30 s, on structural
changes) is the GUI's decision.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.atomic import atomic_write_text, try_lock, unlock
from osteoplan.core.files.plan_file import LoadedPlan, load_plan, plan_to_dict, resolve_plan_path
from osteoplan.core.planning.plan import Plan
from osteoplan.core.resources import user_data_root

PLAN_SUFFIX = ".plan.json"
META_SUFFIX = ".meta.json"
LOCK_SUFFIX = ".lock"
META_FORMAT = "osteoplan.autosave"


class AutosaveError(OsteoPlanError):
    """The autosave folder or file could not be written."""


def data_dir() -> Path:
    return user_data_root()


def autosave_dir() -> Path:
    return data_dir() / "autosave"


# --- the OS lock that marks a session as alive ------------------------------------------------
def _owner_alive(lock_path: Path) -> bool:
    """True while the session that owns `lock_path` holds its lock (its process is running)."""
    try:
        fd = os.open(lock_path, os.O_RDWR)
    except FileNotFoundError:
        return False  # never locked, or its owner discarded it mid-way
    except OSError:
        return True  # cannot tell: do not offer what may belong to a live session
    try:
        if try_lock(fd):
            unlock(fd)
            return False
        return True
    finally:
        os.close(fd)


class Autosaver:
    """Autosaves one session's plan; `discard()` on a clean close or after a successful Save."""

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        self.directory = Path(directory) if directory is not None else autosave_dir()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.session = f"{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lock_fd: int | None = None
        self._masks_written: tuple[str, list] | None = None  # (digest, refs) of the last mask files written

    @property
    def plan_path(self) -> Path:
        return self.directory / f"{self.session}{PLAN_SUFFIX}"

    @property
    def meta_path(self) -> Path:
        return self.directory / f"{self.session}{META_SUFFIX}"

    @property
    def lock_path(self) -> Path:
        return self.directory / f"{self.session}{LOCK_SUFFIX}"

    def _hold_lock(self) -> None:
        if self._lock_fd is not None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        if not try_lock(fd):
            os.close(fd)
            raise AutosaveError(f"the autosave lock {self.lock_path} is held by another process")
        self._lock_fd = fd

    def save(self, plan: Plan, plan_path: str | os.PathLike | None = None) -> Path:
        """Write the plan and its meta file atomically; returns the autosave plan file."""
        original = Path(os.path.abspath(plan_path)) if plan_path is not None else None
        base = original.parent if original is not None else Path.cwd()
        try:
            masks = self._write_masks(plan)
        except OSError as exc:
            raise AutosaveError(f"could not autosave the edited structures to {self.directory}: "
                                f"{exc.strerror or exc}") from None
        data = plan_to_dict(plan, masks=masks)  # paths as in the plan, then made absolute: the autosave lives elsewhere
        data["image"]["path"] = resolve_plan_path(data["image"]["path"], base)
        if "labels" in data:
            for key in ("path", "names"):
                if data["labels"].get(key):
                    data["labels"][key] = resolve_plan_path(data["labels"][key], base)
        meta = {"format": META_FORMAT, "version": 1, "session": self.session, "pid": os.getpid(),
                "host": socket.gethostname(), "original_path": str(original) if original else None,
                "image_path": data["image"]["path"], "trajectory_count": len(plan.trajectories),
                "saved_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds")}
        try:
            self._hold_lock()
            atomic_write_text(self.plan_path, json.dumps(data, indent=1, allow_nan=False) + "\n")
            atomic_write_text(self.meta_path, json.dumps(meta, indent=1) + "\n")
        except OSError as exc:
            raise AutosaveError(f"could not autosave to {self.directory}: {exc.strerror or exc}") from None
        return self.plan_path

    def _write_masks(self, plan: Plan) -> list | None:
        """The structure mask files of the autosave (absolute refs), written if they changed."""
        edited = plan.structure_masks
        if edited is None:
            return None  # not loaded: the plan's own refs (absolute) stay valid
        if not len(edited):
            return []
        if self._masks_written is None or self._masks_written[0] != edited.digest:
            from osteoplan.core.files.structure_masks import write_structure_masks

            self._hold_lock()
            self._masks_written = (edited.digest, write_structure_masks(edited, self.plan_path))
        return self._masks_written[1]

    def discard(self) -> None:
        """Remove this session's autosave (the work is saved or deliberately closed)."""
        from osteoplan.core.files.structure_masks import remove_structure_masks

        for path in (self.plan_path, self.meta_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        remove_structure_masks(self.plan_path)
        self._masks_written = None
        if self._lock_fd is not None:
            unlock(self._lock_fd)
            os.close(self._lock_fd)
            self._lock_fd = None
        with contextlib.suppress(OSError):
            self.lock_path.unlink()


@dataclass(frozen=True)
class Recoverable:
    """An autosave left by a session that ended without discarding it."""

    plan_path: Path  # the autosave file
    original_path: Path | None  # the plan file the user had open, if it had been saved
    image_path: Path | None
    saved_at: datetime
    trajectory_count: int
    session: str

    def load(self, catalog=None) -> LoadedPlan:
        """The autosaved plan (raises `PlanFileError`); save it to `original_path` to keep it."""
        return load_plan(self.plan_path, catalog)

    def discard(self) -> None:
        from osteoplan.core.files.structure_masks import remove_structure_masks

        remove_structure_masks(self.plan_path)
        folder = self.plan_path.parent
        for suffix in (PLAN_SUFFIX, META_SUFFIX, LOCK_SUFFIX):
            with contextlib.suppress(OSError):
                (folder / f"{self.session}{suffix}").unlink()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _saved_at(meta: dict[str, Any], plan_path: Path) -> datetime | None:
    try:
        saved_at = datetime.fromisoformat(meta["saved_at"])
    except (KeyError, TypeError, ValueError):
        try:
            return datetime.fromtimestamp(plan_path.stat().st_mtime, timezone.utc)
        except OSError:
            return None
    return saved_at if saved_at.tzinfo else saved_at.replace(tzinfo=timezone.utc)


def _recoverable(plan_path: Path) -> Recoverable | None:
    session = plan_path.name[: -len(PLAN_SUFFIX)]
    folder = plan_path.parent
    if _owner_alive(folder / f"{session}{LOCK_SUFFIX}"):
        return None
    meta = _read_json(folder / f"{session}{META_SUFFIX}")
    meta = meta if isinstance(meta, dict) else {}  # killed before the first meta write: rebuild what we can
    saved_at = _saved_at(meta, plan_path)
    if saved_at is None:
        return None  # vanished meanwhile
    count = meta.get("trajectory_count")
    if not isinstance(count, int):
        plan = _read_json(plan_path)
        trajectories = plan.get("trajectories") if isinstance(plan, dict) else None
        count = len(trajectories) if isinstance(trajectories, list) else 0
    original, image = meta.get("original_path"), meta.get("image_path")
    return Recoverable(plan_path=plan_path,
                       original_path=Path(original) if isinstance(original, str) else None,
                       image_path=Path(image) if isinstance(image, str) else None,
                       saved_at=saved_at, trajectory_count=count, session=session)


def find_recoverable(directory: str | os.PathLike | None = None) -> list[Recoverable]:
    """Autosaves whose session is no longer running, newest first."""
    folder = Path(directory) if directory is not None else autosave_dir()
    try:
        candidates = sorted(folder.glob(f"*{PLAN_SUFFIX}"))
    except OSError:
        return []
    found = [r for r in (_recoverable(p) for p in candidates) if r is not None]
    return sorted(found, key=lambda r: r.saved_at, reverse=True)


def newer_autosave_of(plan_path: str | os.PathLike, directory: str | os.PathLike | None = None) -> Recoverable | None:
    """The newest autosave a session that is gone left of this plan file, when it is newer than the file (the work
    a crash interrupted after the last save); None otherwise."""
    target = Path(os.path.realpath(plan_path))
    try:
        saved = datetime.fromtimestamp(target.stat().st_mtime, timezone.utc)
    except OSError:
        return None
    for item in find_recoverable(directory):
        if item.original_path is not None and Path(os.path.realpath(item.original_path)) == target:
            return item if item.saved_at > saved else None
    return None
