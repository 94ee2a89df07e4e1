"""Atomic file writes: a reader (or the next start after a crash) sees the old file or the new one, never half.

The bytes go to a temporary file in the same folder (a rename is only atomic within one
file system), are flushed and fsync'ed, then `os.replace` swaps it in. If anything fails
the temporary file is removed and the old file is left as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

TEMP_SUFFIX = ".tmp"


def _default_file_mode() -> int:
    """The mode a new file gets (mkstemp makes 0600 files); read without os.umask, which is not thread-safe."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path("/proc/self/status").read_text()
        mask = int(next(line for line in status.splitlines() if line.startswith("Umask:")).split()[1], 8)
        return 0o666 & ~mask
    return 0o644


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace `path` with `data` atomically (OSError on failure, the old file untouched)."""
    path = Path(path)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else _default_file_mode()
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(OSError):  # not every file system supports modes (e.g. some shares)
            os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    _fsync_folder(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class WriteNotVerified(OSError):
    """What was written does not read back (a full disk that the writer did not report, a truncated file)."""


def verify_written(path: str | os.PathLike, starts: bytes = b"", ends: bytes = b"") -> None:
    """Raise WriteNotVerified unless `path` is a non-empty file that starts with `starts` and whose last 1 kB
    holds `ends` (a PDF's %%EOF, a PNG's IEND): writers such as Qt's PDF and PNG writers do not report a full
    disk, they leave an empty or truncated file."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        head = handle.read(len(starts))
        handle.seek(max(0, size - 1024))
        tail = handle.read()
    if size == 0 or head != starts or (ends and ends not in tail):
        raise WriteNotVerified(errno.EIO, "the written file does not read back (is the disk full?)", str(path))


def atomic_write_with(path: str | os.PathLike, write, suffix: str = "", verify=verify_written) -> None:
    """Replace `path` atomically with what `write(temp_path)` writes (e.g. SimpleITK, which writes
    only to named files; `suffix` keeps the extension it picks the format from). `verify(temp_path)`
    checks the file before it replaces the old one (by default: not empty); on any failure the old
    file stays as it was and nothing is left behind."""
    path = Path(path)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else _default_file_mode()
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX + suffix, dir=path.parent)
    os.close(fd)
    try:
        write(temp_name)
        with open(temp_name, "rb+") as handle:
            os.fsync(handle.fileno())
        verify(temp_name)
        with contextlib.suppress(OSError):
            os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    _fsync_folder(path.parent)
