"""Loading a label map (one integer structure label per voxel) and its names.

Names come from a JSON object ``{"1": "spleen", "52": "aorta", ...}`` (TotalSegmentator
style): ``names_path`` if given, else ``labels.json`` beside the label file; labels
without a name are called ``label_<n>``. With a ``reference`` CT the label map must lie
on exactly the same grid (no silent resampling of structures the safety checks rely on).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from osteoplan.core.errors import LoadError
from osteoplan.core.imaging.volume import SeriesInfo, Volume
from .common import IMAGE_SUFFIXES, describe_geometry, replace_non_finite, require_exists, suffix_of
from .images import make_volume, read_scalar_file

__all__ = ["LabelMap", "load_label_map", "read_label_names"]

NAMES_FILE = "labels.json"
EXAMPLE = '{"1": "spleen", "52": "aorta", "79": "spinal_cord"}'


@dataclass(frozen=True)
class LabelMap:
    """An integer label volume and the name of every label present in it (0 = background)."""

    volume: Volume
    names: dict[int, str] = field(default_factory=dict)


def read_label_names(path) -> dict[int, str]:
    """Label value -> name from a JSON object; LoadError on invalid JSON, keys or values."""
    path = Path(path)
    require_exists(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LoadError(f"The label names file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                        f"{exc.msg}). It should map label values to names, e.g. {EXAMPLE}.", str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(f"The label names file {path} cannot be read ({exc}).", str(path)) from None
    if not isinstance(data, dict):
        raise LoadError(f"The label names file {path} holds a JSON {type(data).__name__}, not an object mapping "
                        f"label values to names, e.g. {EXAMPLE}.", str(path))
    names: dict[int, str] = {}
    for key, value in data.items():
        try:
            label = int(key.strip())
        except ValueError:
            raise LoadError(f"The label names file {path} has the key {key!r}, which is not an integer label value. "
                            f"Keys must be label values and values names, e.g. {EXAMPLE}.", str(path)) from None
        if not isinstance(value, str) or not value.strip():
            raise LoadError(f"In the label names file {path}, label {key} has the name {value!r}; "
                            "names must be non-empty strings.", str(path))
        names[label] = value.strip()
    return names


def _integer_labels(array: np.ndarray, path: Path) -> np.ndarray:
    """The label array in the smallest integer type that holds it; LoadError for non-integer values."""
    if array.dtype.kind == "f":
        if replace_non_finite(array, path):
            raise LoadError(f"The label map {path} holds NaN or infinite values: it is not a label map.", str(path))
        fractional = array != np.round(array)
        if fractional.any():
            example = float(array[fractional][0])
            raise LoadError(f"The label map {path} holds non-integer values (e.g. {example:g}): it looks like an "
                            "image (a CT or a probability map), not a label map.", str(path))
    low, high = (int(array.min()), int(array.max())) if array.size else (0, 0)
    for dtype in (np.uint8, np.uint16, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return array if array.dtype == dtype else array.astype(dtype)
    raise LoadError(f"The label map {path} holds label values from {low} to {high}, beyond 32-bit integers.", str(path))


def _label_pixel_type(pixel_id: int) -> int:
    """Labels are read in their own type (no float64: float32 holds every integer label up to 2**24)."""
    return sitk.sitkFloat32 if pixel_id == sitk.sitkFloat64 else pixel_id


def _present(array: np.ndarray) -> list[int]:
    if array.dtype in (np.uint8, np.uint16):
        return [int(v) for v in np.flatnonzero(np.bincount(array.ravel(), minlength=1)) if v != 0]
    return [int(v) for v in np.unique(array) if v != 0]


def load_label_map(path, names_path=None, reference: Volume | None = None) -> LabelMap:
    """Load a label map file; names from ``names_path`` or labels.json beside it; grid checked against ``reference``."""
    path = Path(path)
    require_exists(path)
    if path.is_dir():
        raise LoadError(f"{path} is a folder; a label map is read from one file (.nii.gz, .nrrd, .mha).", str(path))
    if suffix_of(path) not in IMAGE_SUFFIXES:
        raise LoadError(f"{path} is not a label map file OsteoPlan reads (.nii/.nii.gz, .nrrd/.nhdr, .mha/.mhd).",
                        str(path))
    image = read_scalar_file(path, role="label map", choose_type=_label_pixel_type)
    array = _integer_labels(image.array, path)
    volume = make_volume(path, array, image, SeriesInfo(path=str(path), description="label map", modality="SEG"))
    if reference is not None and not volume.same_grid(reference):
        raise LoadError(
            f"The label map {path} does not lie on the CT's grid, so its structures would be misplaced.\n"
            f"  label map: {describe_geometry(volume)}\n"
            f"  CT:        {describe_geometry(reference)}\n"
            "Load the label map made from this CT, or resample it onto the CT first (e.g. in 3D Slicer).",
            str(path),
        )
    if names_path is not None:
        known = read_label_names(names_path)
    elif (path.parent / NAMES_FILE).is_file():
        known = read_label_names(path.parent / NAMES_FILE)
    else:
        known = {}
    names = {label: known.get(label, f"label_{label}") for label in _present(array)}
    return LabelMap(volume, names)
