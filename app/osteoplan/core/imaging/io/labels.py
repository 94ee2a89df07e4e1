"""Loading a label map (one integer structure label per voxel) and its names.

A label map is one file (.nii/.nii.gz, .nrrd/.nhdr, .mha/.mhd) or a folder of one 0/1 mask per
structure (TotalSegmentator's default output, read by `read_mask_folder`; a folder holding a single
image file opens that file). The names of a file's labels come from the first of these that exists
(`LabelMap.names_source` says which):

1. ``names_path``, a JSON object ``{"1": "spleen", "52": "aorta", ...}`` ("names_file");
2. ``<stem>.json`` beside the map, e.g. ``seg.json`` for ``seg.nii.gz`` ("stem_json"; a JSON
   object without a single integer key, such as a plan file, is not a names file and is skipped);
3. ``labels.json`` beside the map ("labels_json");
4. the label table ``TotalSegmentator --ml`` writes into the NIfTI header ("header");
5. without any of them: the TotalSegmentator "total" table of the caller's ``total_version``
   ("totalsegmentator_v1"/"_v2"); else, for a map whose only label is 1 (a single mask), its file
   stem ("file_stem"); else, for a map holding a value only "total" v2 uses (above 104), the v2
   table ("totalsegmentator_v2", with a note); otherwise ``label_<n>`` ("none"), and
   `LabelMap.notes` says so and why (a v1/v2 map cannot be told apart from its values: every v1
   value is a v2 value too, naming another structure, and OsteoPlan does not guess).

With a ``reference`` CT the label map must sample exactly the CT's voxel centres. One stored with
another orientation of the same voxels (an axis flipped or swapped in its direction matrix, as
TotalSegmentator's NIfTI against a DICOM series) is re-sampled onto the CT grid by nearest
neighbour, which then moves no label: every voxel centre of the map must lie within
`GRID_TOLERANCE_VOXELS` of a CT voxel (along each CT axis), one to one. Any other grid is refused
(no silent interpolation of the structures the safety checks rely on).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from osteoplan.core.errors import LoadError
from osteoplan.core.imaging.volume import SeriesInfo, Volume
from .common import (
    IMAGE_SUFFIXES, ProgressCallback, describe_geometry, replace_non_finite, report, require_exists, suffix_of,
)
from .images import make_volume, read_scalar_file
from .totalsegmentator import VERSIONS, class_map, fitting_versions, header_label_names, resource_name

__all__ = ["GRID_TOLERANCE_VOXELS", "LabelMap", "load_label_map", "read_label_names", "read_mask_folder"]

NAMES_FILE = "labels.json"
EXAMPLE = '{"1": "spleen", "52": "aorta", "79": "spinal_cord"}'
GRID_TOLERANCE_VOXELS = 0.1
"""How far (in CT voxels, along each CT axis) a label map's voxel centre may lie from the CT voxel it is
matched to. Far above the rounding of NIfTI's float32 geometry (~1e-4 mm; the real TotalSegmentator map
of the DICOM test series is 0.012 mm = 0.012 voxel off), far below the half voxel at which nearest
neighbour would pick another voxel: structures move by at most a tenth of a voxel, well within a label's
own precision. A larger offset is another grid, which is refused."""
NAMES_SOURCES = ("names_file", "stem_json", "labels_json", "header", "file_stem", "mask_files",
                 "totalsegmentator_v1", "totalsegmentator_v2", "none")
"""The values of `LabelMap.names_source` (besides "", a label map built in code with its names)."""


@dataclass(frozen=True)
class LabelMap:
    """An integer label volume and the name of every label present in it (0 = background).

    ``names_source`` says where the names came from (one of `NAMES_SOURCES`, "" when built in code),
    ``names_path`` the file or folder they were read from, ``notes`` what the user should be told
    (unnamed labels, an ambiguous TotalSegmentator version, overlapping masks...).
    """

    volume: Volume
    names: dict[int, str] = field(default_factory=dict)
    names_source: str = ""
    names_path: str = ""
    notes: tuple[str, ...] = ()


def read_label_names(path) -> dict[int, str]:
    """Label value -> name from a JSON object; LoadError on invalid JSON, keys or values."""
    return _names_from(Path(path), _read_json(Path(path)))


def _read_json(path: Path):
    require_exists(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LoadError(f"The label names file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                        f"{exc.msg}). It should map label values to names, e.g. {EXAMPLE}.", str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(f"The label names file {path} cannot be read ({exc}).", str(path)) from None


def _names_from(path: Path, data) -> dict[int, str]:
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
    return [int(v) for v in _histogram(array)[0] if v != 0]


def _stem(path: Path) -> str:
    """The file name without its image suffix (``vertebrae_L3.nii.gz`` -> ``vertebrae_L3``)."""
    suffix = suffix_of(path)
    return path.name[:-len(suffix)] if suffix and path.name.lower().endswith(suffix) else path.stem


def _values_text(values: list[int], limit: int = 12) -> str:
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


# --- names ------------------------------------------------------------------------------------
def _names_for(path: Path, present: list[int], names_path, total_version: int | None
               ) -> tuple[dict[int, str], str, str, list[str]]:
    """(names of the labels present, names_source, names_path, notes) by the precedence of the module doc."""
    notes: list[str] = []
    stem = _stem(path)
    stem_json = path.parent / f"{stem}.json"
    if names_path is not None:
        return _named(present, read_label_names(names_path), "names_file", Path(names_path), notes)
    if stem_json.name != NAMES_FILE and stem_json.is_file():
        data = _read_json(stem_json)
        if isinstance(data, dict) and data and not any(_is_integer(key) for key in data):
            notes.append(f"{stem_json} beside the label map is not a label names file (none of its keys is a label "
                         "value; a plan or another JSON document?), so it was not used for the names.")
        else:
            return _named(present, _names_from(stem_json, data), "stem_json", stem_json, notes)
    if (path.parent / NAMES_FILE).is_file():
        return _named(present, read_label_names(path.parent / NAMES_FILE), "labels_json", path.parent / NAMES_FILE,
                      notes)
    header, problem = header_label_names(path)
    if header:
        return _named(present, header, "header", path, notes)
    if problem:
        notes.append(f"The label map {path}: {problem}.")
    if total_version is not None:
        return _named(present, dict(class_map(total_version).classes), f"totalsegmentator_v{total_version}",
                      Path(resource_name(total_version)), notes)
    if present == [1]:
        return {1: stem}, "file_stem", str(path), notes  # a single mask, e.g. spinal_cord.nii.gz
    fitting = fitting_versions(present) if present else ()
    if len(fitting) == 1:
        version = fitting[0]
        notes.append(
            f"The label map {path} has no label names, but holds label values that only TotalSegmentator's "
            f"'total' v{version} uses ({_values_text([v for v in present if v > _largest_other(version)])}): its "
            f"labels were named from the v{version} class table. If it is not a TotalSegmentator 'total' "
            f"v{version} map, give its names file ({NAMES_FILE} or {stem}.json beside it, e.g. {EXAMPLE}).")
        return _named(present, dict(class_map(version).classes), f"totalsegmentator_v{version}",
                      Path(resource_name(version)), notes)
    notes.append(_no_names_note(path, stem, present, fitting))
    return {label: f"label_{label}" for label in present}, "none", "", notes


def _is_integer(key: str) -> bool:
    try:
        int(str(key).strip())
    except ValueError:
        return False
    return True


def _largest_other(version: int) -> int:
    """The largest class id of the other known versions (values above it fit ``version`` only)."""
    return max((len(class_map(v).classes) for v in VERSIONS if v != version), default=0)


def _named(present: list[int], known: dict[int, str], source: str, where: Path, notes: list[str]
           ) -> tuple[dict[int, str], str, str, list[str]]:
    unnamed = [label for label in present if label not in known]
    if unnamed:
        notes.append(f"{len(unnamed)} label value(s) of the label map have no name in {where} "
                     f"({_values_text(unnamed)}): they are called label_<n> and are not checked as hazards. "
                     "Add their names to the names file.")
    return {label: known.get(label, f"label_{label}") for label in present}, source, str(where), notes


def _no_names_note(path: Path, stem: str, present: list[int], fitting: tuple[int, ...]) -> str:
    if not present:
        return f"The label map {path} holds no labels at all (every voxel is 0)."
    text = (f"The label map {path} has no label names (no names file, no {stem}.json or {NAMES_FILE} beside it, "
            "no label table in its header): its structures are called label_<n> and are not checked as hazards. "
            f"Give its names file ({NAMES_FILE} or {stem}.json beside it, e.g. {EXAMPLE}); TotalSegmentator "
            "--ml v2 writes the names into the header itself.")
    if len(fitting) > 1:
        v1, v2 = class_map(VERSIONS[0]).classes, class_map(VERSIONS[-1]).classes
        example = next((v for v in present if v1.get(v) != v2.get(v)), 7)
        text += (f" Its values ({_values_text(present)}) fit both TotalSegmentator 'total' v1 ({len(v1)} classes) and "
                 f"v2 ({len(v2)} classes), which number most structures differently (e.g. {example} is {v1[example]} "
                 f"in v1, {v2[example]} in v2): if it is a TotalSegmentator map, its version is ambiguous, and "
                 "OsteoPlan does not guess.")
    return text


# --- a folder of masks --------------------------------------------------------------------------
def _image_files(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                   and suffix_of(p) in IMAGE_SUFFIXES), key=lambda p: p.name)


def read_mask_folder(folder: Path, files: list[Path], progress: ProgressCallback | None = None
                     ) -> tuple[Volume, dict[int, str], list[str]]:
    """One label volume from one 0/1 mask per structure, with (names, notes).

    Each file is a structure named after its stem (``aorta.nii.gz`` -> "aorta"), all on one grid;
    a mask holds 0 and one other value. Empty masks are skipped; the others get the values 1, 2, ...
    in the order of their file names. A voxel in several masks (rare: TotalSegmentator's masks come
    from one label map) goes to the smallest of them (fewest voxels; equal sizes: the name first in
    alphabetical order), so that a thin structure (the cord, a vessel) is never swallowed by a large
    one around it; the result does not depend on the order the files are read in, and a note says
    how many voxels were shared (and which masks, if any, lost all of theirs: their values stay unused).
    """
    stems: dict[str, Path] = {}
    for file in files:
        if _stem(file) in stems:
            raise LoadError(f"The folder {folder} holds two masks named {_stem(file)!r} ({stems[_stem(file)].name} and "
                            f"{file.name}); keep one of them.", str(folder))
        stems[_stem(file)] = file
    dtype = np.uint8 if len(files) <= np.iinfo(np.uint8).max else np.uint16
    combined: np.ndarray | None = None
    grid: Volume | None = None
    names: dict[int, str] = {}
    keys: dict[int, tuple[int, str]] = {}  # value -> (voxel count, name): the smaller key wins a shared voxel
    shared, pairs = 0, set()
    for index, file in enumerate(files):
        report(progress, index / len(files), f"Reading {file.name}")
        image = read_scalar_file(file, role="mask", choose_type=_label_pixel_type)
        array = _integer_labels(image.array, file)
        volume = make_volume(file, array, image, SeriesInfo(path=str(folder), description="label map (mask folder)",
                                                            modality="SEG"))
        if grid is None:
            grid, combined = volume, np.zeros(array.shape, dtype=dtype)
        elif not volume.same_grid(grid):
            raise LoadError(
                f"The masks in {folder} do not share one grid: {file.name} differs from {files[0].name}.\n"
                f"  {file.name}: {describe_geometry(volume)}\n"
                f"  {files[0].name}: {describe_geometry(grid)}\n"
                "A folder is read as one mask per structure on the same grid (TotalSegmentator's output); "
                "remove the masks of other images.", str(file))
        values = _present(array)
        if len(values) > 1:
            raise LoadError(
                f"{file} in the folder {folder} holds several labels ({_values_text(values)}), not a 0/1 mask: a "
                "folder is read as one mask per structure (TotalSegmentator's default output). Open that file "
                "itself if it is the label map, or move it out of the folder.", str(file))
        if not values:
            continue  # a structure outside the scan
        mask = array != 0
        del array, image
        value, name = len(names) + 1, _stem(file)
        key = (int(np.count_nonzero(mask)), name)
        taken = mask & (combined != 0)
        if taken.any():
            shared += int(np.count_nonzero(taken))
            for other in (int(v) for v in np.unique(combined[taken])):
                pairs.add(tuple(sorted((names[other], name))))
                if keys[other] < key:
                    mask &= ~(taken & (combined == other))
        combined[mask] = value
        names[value], keys[value] = name, key
    report(progress, 1.0, "Masks read")
    notes = []
    if shared:
        listed = "; ".join(f"{a} and {b}" for a, b in sorted(pairs)[:6]) + (" ..." if len(pairs) > 6 else "")
        notes.append(f"{shared} voxel(s) lie in more than one mask of {folder} ({listed}): each went to the smaller "
                     "structure.")
        kept = set(_present(combined))
        lost = [names.pop(value) for value in list(names) if value not in kept]
        if lost:
            notes.append(f"The mask(s) {', '.join(lost)} lie entirely inside smaller ones and are left out.")
    if not names:
        notes.append(f"Every mask in {folder} is empty: the label map holds no structure.")
    return grid.with_array(combined), names, notes


# --- the CT's grid --------------------------------------------------------------------------------
def _same_voxel_centres(volume: Volume, reference: Volume) -> bool:
    """True when every voxel centre of ``volume`` is one of ``reference``'s, one to one (within the tolerance)."""
    index_map = np.linalg.inv(reference.index_to_lps_matrix) @ volume.index_to_lps_matrix  # its ijk -> CT ijk
    linear, offset = index_map[:3, :3], index_map[:3, 3]
    axes = np.round(linear)
    if not (np.all(np.isin(np.abs(axes), (0.0, 1.0))) and np.all(np.abs(axes).sum(axis=0) == 1)
            and np.all(np.abs(axes).sum(axis=1) == 1)):
        return False  # not a signed permutation of the axes: other spacing or an oblique rotation
    if tuple(int(s) for s in np.abs(axes) @ np.asarray(volume.size)) != reference.size:
        return False
    corners = np.array(list(product(*[(0, s - 1) for s in volume.size])), dtype=float)
    mapped = corners @ linear.T + offset  # the offset from the nearest CT centre is largest at a corner
    if np.abs(mapped - np.round(mapped)).max() > GRID_TOLERANCE_VOXELS:
        return False
    ct_corners = {tuple(c) for c in product(*[(0, s - 1) for s in reference.size])}
    return {tuple(int(v) for v in c) for c in np.round(mapped)} == ct_corners


HISTOGRAM_SLICES = 16  # slices counted at a time: bincount copies its input to int64 (8x a uint8 map at once)


def _histogram(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, counts) of a label array; by bincount over a few slices at a time where it can (a sort of 10**8
    voxels takes seconds, and a bincount of the whole map an int64 copy of it: 800 MB for a 512 x 512 x 400 map)."""
    if array.dtype in (np.uint8, np.uint16) and array.ndim >= 1:
        counts = np.zeros(int(np.iinfo(array.dtype).max) + 1, np.int64)
        for start in range(0, max(1, array.shape[0]), HISTOGRAM_SLICES):
            counts += np.bincount(array[start:start + HISTOGRAM_SLICES].ravel(), minlength=len(counts))
        values = np.flatnonzero(counts)
        return values, counts[values]
    return np.unique(array, return_counts=True)


def _onto_reference(volume: Volume, reference: Volume, path: Path) -> Volume:
    """``volume`` on the CT's grid: as it is, re-sampled voxel for voxel, or LoadError."""
    if volume.same_grid(reference):
        return volume
    if not _same_voxel_centres(volume, reference):
        raise LoadError(
            f"The label map {path} does not lie on the CT's grid, so its structures would be misplaced.\n"
            f"  label map: {describe_geometry(volume)}\n"
            f"  CT:        {describe_geometry(reference)}\n"
            "Load the label map made from this CT, or resample it onto the CT first (e.g. in 3D Slicer). "
            "(OsteoPlan takes a label map stored with another orientation of the CT's own voxels, e.g. an axis "
            "flipped, but never interpolates labels from another grid.)",
            str(path),
        )
    source = volume.to_sitk()
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize([int(s) for s in reference.size])
    resampler.SetOutputSpacing(reference.spacing)
    resampler.SetOutputOrigin(reference.origin)
    resampler.SetOutputDirection(tuple(float(d) for d in reference.direction.ravel()))
    resampler.SetInterpolator(sitk.sitkNearestNeighbor)
    resampler.SetDefaultPixelValue(0)
    resampler.SetOutputPixelType(source.GetPixelID())
    array = sitk.GetArrayFromImage(resampler.Execute(source))
    before, after = _histogram(volume.array), _histogram(array)
    if not all(np.array_equal(a, b) for a, b in zip(before, after)):  # a guard: the tolerance already ensures it
        raise LoadError(f"The label map {path} could not be matched voxel for voxel onto the CT's grid "
                        "(labels were lost in the re-sampling). Resample it onto the CT first (e.g. in 3D Slicer).",
                        str(path))
    info = dataclasses.replace(volume.info, extra={**volume.info.extra, "stored_grid": describe_geometry(volume)})
    return Volume(array, reference.spacing, reference.origin, reference.direction, info)


def load_label_map(path, names_path=None, reference: Volume | None = None, *, total_version: int | None = None,
                   progress: ProgressCallback | None = None) -> LabelMap:
    """Load a label map file or mask folder with its names (module doc), on ``reference``'s grid when given.

    ``total_version`` (1 or 2) names a map that brings no names by TotalSegmentator's "total" table of
    that version (its values cannot tell v1 from v2).
    """
    path = Path(path)
    require_exists(path)
    if total_version is not None and total_version not in VERSIONS:
        raise LoadError(f"There is no TotalSegmentator 'total' class table for version {total_version!r}; "
                        f"choose {' or '.join(map(str, VERSIONS))}.", str(path))
    if path.is_dir():
        files = _image_files(path)
        if not files:
            raise LoadError(f"{path} is a folder without label map or mask files (.nii/.nii.gz, .nrrd/.nhdr, "
                            ".mha/.mhd). Choose a label map file, or a folder of one 0/1 mask per structure "
                            "(TotalSegmentator's default output).", str(path))
        if len(files) > 1:
            if names_path is not None:
                raise LoadError(f"{path} is a folder of masks, named after their files: it takes no names file "
                                f"({names_path}).", str(path))
            volume, names, notes = read_mask_folder(path, files, progress)
            if reference is not None:
                volume = _onto_reference(volume, reference, path)
            return LabelMap(volume, names, "mask_files", str(path), tuple(notes))
        path = files[0]  # a folder with one file: that file
    if suffix_of(path) not in IMAGE_SUFFIXES:
        raise LoadError(f"{path} is not a label map file OsteoPlan reads (.nii/.nii.gz, .nrrd/.nhdr, .mha/.mhd).",
                        str(path))
    report(progress, 0.0, f"Reading {path.name}")
    image = read_scalar_file(path, progress, role="label map", choose_type=_label_pixel_type)
    array = _integer_labels(image.array, path)
    volume = make_volume(path, array, image, SeriesInfo(path=str(path), description="label map", modality="SEG"))
    if reference is not None:
        volume = _onto_reference(volume, reference, path)
    names, source, names_from, notes = _names_for(path, _present(volume.array), names_path, total_version)
    volume, names, merged = _merge_same_names(volume, names)
    report(progress, 1.0, "Label map loaded")
    return LabelMap(volume, names, source, names_from, tuple(notes) + merged)


def _merge_same_names(volume: Volume, names: dict[int, str]) -> tuple[Volume, dict[int, str], tuple[str, ...]]:
    """Labels that share one name are one structure (under the first value): a structure has one name, and a name
    keeps its hazard category ('aorta' twice is still the aorta)."""
    first: dict[str, int] = {}
    moves: dict[int, int] = {}
    for value, name in sorted(names.items()):
        if name in first:
            moves[value] = first[name]
        else:
            first[name] = value
    if not moves:
        return volume, names, ()
    array = volume.array.copy()
    for value, into in moves.items():
        array[array == value] = into
    notes = tuple(f"Labels {into} and {value} are both named {names[value]!r}: they are one structure (label {into})."
                  for value, into in moves.items())
    return volume.with_array(array), {v: n for v, n in names.items() if v not in moves}, notes
