"""What every loader shares: result type, progress, size limits, SimpleITK quieting, HU dtypes.

Rules kept here so that DICOM, image files and label maps behave the same:
- nothing but `LoadError` escapes for bad input (SimpleITK's RuntimeErrors are wrapped);
- ITK's own console warnings are silenced while we call it (we report in words instead);
- the size is checked from the header, before any voxel is allocated;
- a CT is int16 when its values fit, float32 otherwise, never float64.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import SimpleITK as sitk

from osteoplan.core.errors import LoadError
from osteoplan.core.imaging.volume import Volume

ProgressCallback = Callable[[float, str], None]
"""Called with the fraction done (0..1) and a message. An exception it raises cancels the load."""

MAX_DIMENSION = 4096
"""Largest accepted number of voxels along any axis."""
MAX_IMAGE_BYTES = 2 * 1024**3
"""Largest accepted voxel array, in bytes, at the dtype it would be loaded as."""

INT16_MIN, INT16_MAX = -32768, 32767
IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")


@dataclass(frozen=True)
class LoadedImage:
    """A loaded CT (or other image) and what the user should know about how it was read."""

    volume: Volume
    warnings: tuple[str, ...] = ()


# --- progress -----------------------------------------------------------------------
def report(progress: ProgressCallback | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(min(max(float(fraction), 0.0), 1.0), message)


def execute_with_progress(process, progress: ProgressCallback | None, start: float, stop: float, message: str):
    """Run a SimpleITK reader, mapping its progress onto [start, stop] of ours.

    An exception raised by the callback aborts the reader and is re-raised as it is
    (so a UI can cancel a long load by raising from its progress callback).
    """
    if progress is None:
        return process.Execute()
    raised: list[BaseException] = []

    def on_progress() -> None:
        if raised:
            return
        try:
            report(progress, start + (stop - start) * process.GetProgress(), message)
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller below
            raised.append(exc)
            process.Abort()

    process.AddCommand(sitk.sitkProgressEvent, on_progress)
    try:
        return process.Execute()
    except RuntimeError:
        if raised:
            raise raised[0] from None
        raise
    finally:
        process.RemoveAllCommands()


# --- SimpleITK --------------------------------------------------------------------------
@contextlib.contextmanager
def quiet_sitk() -> Iterator[None]:
    """Silence ITK's console warnings (we turn them into messages) and the native libraries' known noise on
    stderr (`native_stderr_filtered`), and restore both."""
    previous = sitk.ProcessObject_GetGlobalWarningDisplay()
    sitk.ProcessObject_SetGlobalWarningDisplay(False)
    try:
        with native_stderr_filtered():
            yield
    finally:
        sitk.ProcessObject_SetGlobalWarningDisplay(previous)


# What GDCM, libjpeg and MetaIO print to the C stderr on a load that succeeds (e.g. GDCM tries libjpeg's 8-bit
# decoder before its 12-bit one, once per slice of a 12-bit JPEG series): not for the user.
NATIVE_NOISE = (re.compile(r"Unsupported JPEG data precision"), re.compile(r"^\s*$"))
_native_lock = threading.RLock()
_native_depth = 0


@contextlib.contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Collect what native code writes to file descriptor 2 meanwhile, drop the known noise (NATIVE_NOISE) and
    write the rest back to stderr afterwards (delayed, never lost). Re-entrant; one redirection at a time."""
    global _native_depth
    with _native_lock:
        if _native_depth:
            _native_depth += 1
            try:
                yield
            finally:
                _native_depth -= 1
            return
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no usable stderr (a GUI without console): nothing to filter
            yield
            return
        _native_depth = 1
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                _native_depth = 0
                captured.seek(0)
                kept = [line for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True)
                        if not any(pattern.search(line) for pattern in NATIVE_NOISE)]
                if kept:
                    os.write(2, "".join(kept).encode("utf-8", "replace"))


def sitk_reason(exc: BaseException) -> str:
    """The useful words of a SimpleITK exception (whose text starts with C++ source locations)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    kept = [
        re.sub(r"ITK ERROR: \w+\(0x[0-9a-fA-F]+\):\s*", "", line.replace("sitk::ERROR:", "")).strip()
        for line in lines
        if not line.startswith("Exception thrown in SimpleITK") and not re.match(r"^/\S+:\d+:?$", line)
    ]
    kept = [line for line in kept if line]
    return " ".join(kept)[:300] if kept else type(exc).__name__


class _ImageMemory:
    """Exports a SimpleITK image's buffer to numpy and keeps the image alive meanwhile."""

    __slots__ = ("__array_interface__", "image")

    def __init__(self, image: sitk.Image):
        view = sitk.GetArrayViewFromImage(image)
        interface = dict(view.__array_interface__)
        interface["data"] = (interface["data"][0], False)  # writable: nothing else holds the image
        self.__array_interface__ = interface
        self.image = image


def array_from_image(image: sitk.Image) -> np.ndarray:
    """The voxels of ``image`` as a writable numpy array sharing SimpleITK's buffer (no copy).

    The array's ``base`` holds the image, so the memory lives as long as the array.
    Pass an image nothing else uses (a reader's fresh output).
    """
    return np.asarray(_ImageMemory(image))


# --- paths ------------------------------------------------------------------------------
def suffix_of(path: Path) -> str:
    """Lower-case suffix, with .nii.gz as one."""
    name = path.name.lower()
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    return path.suffix.lower()


def require_exists(path: Path) -> None:
    if not path.exists():
        parent = path.parent
        hint = (
            f" (the folder {parent} exists, so check the name)" if parent.is_dir()
            else " (nor does its folder: the drive may be disconnected or the path mistyped)"
        )
        raise LoadError(f"Nothing found at {path}{hint}. Choose an existing DICOM folder or image file.", str(path))


def require_regular_file(path: Path) -> None:
    """Refuse what is not a regular file (a FIFO, a device such as /dev/zero): reading one may never end."""
    if not path.is_file():
        raise LoadError(f"{path} is not a regular file (a pipe, a device or a socket?): OsteoPlan reads images from "
                        "files on disk. Copy the image into a file and open that.", str(path))


GZIP_CHUNK = 1 << 20


def check_gzip_integrity(path: Path) -> None:
    """Read a .gz file through to its end so that its CRC is checked (ITK's reader stops at the last voxel and
    never sees a corrupt block's checksum: flipped bytes would load as garbage voxels)."""
    import gzip
    import zlib

    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(GZIP_CHUNK):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        raise LoadError(f"{path} is corrupt: its compressed data fail their integrity check ({exc}). The file was "
                        "damaged in a download or copy; copy or export it again.", str(path)) from None


def is_dicom_file(path: Path) -> bool:
    """True for a DICOM Part-10 file (the 'DICM' marker after the 128-byte preamble)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


# --- sizes and values ---------------------------------------------------------------------
def format_size(size) -> str:
    return " x ".join(str(int(s)) for s in size)


def check_size(size, bytes_per_voxel: int, path: Path | str) -> None:
    """Refuse an image too large to load, before anything is allocated."""
    size = tuple(int(s) for s in size)
    total = int(np.prod(np.asarray(size, dtype=np.float64))) * bytes_per_voxel
    if max(size) > MAX_DIMENSION or total > MAX_IMAGE_BYTES:
        raise LoadError(
            f"{path} describes an image of {format_size(size)} voxels ({total / 1024**3:.1f} GiB at "
            f"{bytes_per_voxel} bytes per voxel), beyond what OsteoPlan loads (at most {MAX_DIMENSION} voxels "
            f"along an axis and {MAX_IMAGE_BYTES / 1024**3:.0f} GiB). The header may be corrupt; otherwise crop or "
            "downsample the image first.",
            str(path),
        )


def refuse_2d(path: Path | str, size) -> None:
    raise LoadError(
        f"{path} is a 2-D image ({format_size(size)} pixels); planning needs a 3-D CT volume. "
        "Choose the whole series (its folder) or a 3-D file.",
        str(path),
    )


def integral_range_fits_int16(low: float, high: float) -> bool:
    return INT16_MIN <= low and high <= INT16_MAX


def replace_non_finite(array: np.ndarray, path: Path | str) -> str | None:
    """Replace NaN/inf voxels (in place) with the lowest finite value; return a warning or None."""
    if array.dtype.kind != "f":
        return None
    finite = np.isfinite(array)
    n_bad = array.size - int(np.count_nonzero(finite))
    if n_bad == 0:
        return None
    if n_bad == array.size:
        raise LoadError(f"{path} holds no finite values (all voxels are NaN or infinite): the file is unusable.", str(path))
    n_nan = int(np.count_nonzero(np.isnan(array)))
    fill = float(array[finite].min())
    array[~finite] = fill
    return (
        f"{path}: {n_bad} voxel(s) were not finite numbers ({n_nan} NaN, {n_bad - n_nan} infinite); "
        f"they were replaced with the lowest finite value, {fill:g}."
    )


def compact_ct_array(array: np.ndarray) -> np.ndarray:
    """int16 if every value is an integer within int16, else float32 (never float64).

    Checked slab by slab so that the temporary arrays stay small.
    """
    if array.dtype == np.int16:
        return array
    if array.dtype.kind in "iub":
        if array.size and integral_range_fits_int16(int(array.min()), int(array.max())):
            return array.astype(np.int16)
        return array.astype(np.float32)
    values = array if array.dtype == np.float32 else array.astype(np.float32)
    step = max(1, (1 << 22) // max(1, values[0].size))
    for start in range(0, values.shape[0], step):
        slab = values[start:start + step]
        if not (np.all(slab == np.round(slab)) and slab.min() >= INT16_MIN and slab.max() <= INT16_MAX):
            return values
    return values.astype(np.int16)


def output_pixel_type_for(pixel_id: int) -> int:
    """The SimpleITK pixel type to read a scalar CT file as (the narrowing happens after)."""
    if pixel_id in (sitk.sitkInt8, sitk.sitkUInt8, sitk.sitkInt16):
        return sitk.sitkInt16
    if pixel_id in (sitk.sitkFloat64, sitk.sitkFloat32):
        return sitk.sitkFloat32
    return pixel_id


def describe_geometry(volume: Volume) -> str:
    """One line of grid geometry for messages (size, spacing, origin, direction)."""
    spacing = " x ".join(f"{s:.3f}" for s in volume.spacing)
    origin = ", ".join(f"{o:.2f}" for o in volume.origin)
    direction = ", ".join(f"{d:.3f}".rstrip("0").rstrip(".") for d in volume.direction.ravel())
    return f"size {format_size(volume.size)}, spacing {spacing} mm, origin ({origin}) mm, direction ({direction})"
