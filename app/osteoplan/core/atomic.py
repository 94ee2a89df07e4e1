"""Safe files: atomic writes (a reader, or the next start after a crash, sees the old file or the new one,
never half), verified before they replace the old file, and OS locks that serialise writers.

The bytes go to a temporary file in the same folder (a rename is only atomic within one
file system), are flushed and fsync'ed, then `os.replace` swaps it in. If anything fails
the temporary file is removed and the old file is left as it was. A symlinked file is
written through its link (the link stays a link). `exclusive_lock` holds an OS lock on a
hidden ``.<name>.lock`` beside a file while a read-modify-write of it runs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import time
from pathlib import Path

TEMP_SUFFIX = ".tmp"
LOCK_WAIT_S = 30.0

try:  # POSIX
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt


def try_lock(fd: int) -> bool:
    """Take an exclusive OS lock on an open file without waiting; False when another process holds it."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        else:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, wait_s: float = LOCK_WAIT_S):
    """Hold an OS lock for `path` (on ``.<name>.lock`` beside it) while the block runs: concurrent writers of the
    same file take turns. TimeoutError after `wait_s` seconds when another process keeps it."""
    target = Path(os.path.realpath(path))
    lock_path = target.with_name(f".{target.name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_s
        while not try_lock(fd):
            if time.monotonic() > deadline:
                raise TimeoutError(errno.EAGAIN, f"another program has kept {target.name} locked for {wait_s:.0f} s",
                                   str(target))
            time.sleep(0.05)
        try:
            yield
        finally:
            unlock(fd)
    finally:
        os.close(fd)


def _default_file_mode() -> int:
    """The mode a new file gets (mkstemp makes 0600 files); read without os.umask, which is not thread-safe."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path("/proc/self/status").read_text()
        mask = int(next(line for line in status.splitlines() if line.startswith("Umask:")).split()[1], 8)
        return 0o666 & ~mask
    return 0o644


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace `path` with `data` atomically (OSError on failure, the old file untouched)."""

    def write(temp_name: str) -> None:
        with os.fdopen(os.open(temp_name, os.O_WRONLY | os.O_TRUNC), "wb") as handle:
            handle.write(data)
            handle.flush()

    def verify(temp_name: str) -> None:
        if os.path.getsize(temp_name) != len(data):
            raise WriteNotVerified(errno.EIO, "the written file does not read back whole (is the disk full?)",
                                   temp_name)

    atomic_write_with(path, write, verify=verify)


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
    path = Path(os.path.realpath(path))  # through a symlink: the link stays
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
