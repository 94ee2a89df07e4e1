"""Image formats from plugins: the ``osteoplan.image_readers`` group, tried for files the built-in
readers (DICOM, NIfTI, NRRD, MetaImage through SimpleITK) do not handle.

Each reader says whether it can read a path (`can_read`) and reads it into a `Volume`
(`read`); the first that can and succeeds wins. What a reader returns is checked like a
file OsteoPlan reads itself (3-D numeric voxels, size limits, non-finite values replaced,
compact voxel type). A reader whose `can_read` raises is reported once and skipped from then
on; one whose `read` fails or returns bad data makes the load fail with a `LoadError` naming
it (the user asked for that file), unless another reader reads the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from osteoplan.core.errors import LoadError
from osteoplan.core.imaging.volume import Volume
from .common import LoadedImage, ProgressCallback, check_size, compact_ct_array, replace_non_finite, report

_skipped: set[str] = set()  # readers whose can_read raised: not asked again in this process


def image_readers() -> dict[str, object]:
    """``{entry-point name: reader}`` of the installed readers, built-in first (classes instantiated)."""
    from osteoplan.core.entry_points import IMAGE_READERS, instantiate, registered

    readers = registered(IMAGE_READERS)
    for name, reader in list(readers.items()):
        if isinstance(reader, type):  # once: the registry keeps the instance
            try:
                readers[name] = instantiate(reader)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - a broken plugin must not stop the app
                _skip(name, f"could not be created: {exc}")
                del readers[name]
    return readers


def _skip(name: str, why: str) -> None:
    from osteoplan.core.entry_points import report_once

    _skipped.add(name)
    report_once(f"image reader {name!r} {why}; skipped")


def _checked_volume(volume: object, path: Path, name: str) -> tuple[Volume, list[str]]:
    if not isinstance(volume, Volume):
        raise ValueError(f"returned {type(volume).__name__}, not a Volume")
    array = volume.array
    if not isinstance(array, np.ndarray) or array.ndim != 3 or array.dtype.kind not in "iuf" or 0 in array.shape:
        raise ValueError("returned voxels that are not a non-empty 3-D numeric array")
    check_size(volume.size, array.dtype.itemsize, path)
    if not all(np.isfinite(v) for v in (*volume.spacing, *volume.origin)) or not np.isfinite(volume.direction).all():
        raise ValueError("returned a geometry with non-finite numbers")
    warnings = [f"{path} was read by the image-reader plugin {name!r}."]
    array = np.array(array, copy=True)  # never share (or edit in place) a plugin's buffer
    message = replace_non_finite(array, path)
    if message:
        warnings.append(message)
    compact = Volume(compact_ct_array(array), volume.spacing, volume.origin, volume.direction, volume.info)
    return compact, warnings


def read_with_plugins(path: Path, progress: ProgressCallback | None = None) -> LoadedImage | None:
    """The image read by the first plugin reader that can read `path`; None when none can."""
    from osteoplan.core.entry_points import BUILTIN, describe_error

    failures = []
    for name, reader in image_readers().items():
        if name == BUILTIN or name in _skipped:  # the built-in formats never reach here
            continue
        try:
            able = bool(reader.can_read(path))
        except (Exception, SystemExit) as exc:  # noqa: BLE001
            _skip(name, f"failed in can_read: {describe_error(exc)}")
            continue
        if not able:
            continue
        report(progress, 0.0, f"Reading {path.name} ({name})")
        try:
            volume, warnings = _checked_volume(reader.read(path), path, name)
        except LoadError:
            raise
        except (Exception, SystemExit) as exc:  # noqa: BLE001
            failures.append(f"the image-reader plugin {name!r} failed: {describe_error(exc)}")
            continue
        report(progress, 1.0, "Loaded")
        return LoadedImage(volume, tuple(warnings))
    if failures:
        raise LoadError(f"{path} could not be read: {'; '.join(failures)}. Convert it to NIfTI, NRRD or DICOM, "
                        "or ask the plugin's author.", str(path))
    return None
