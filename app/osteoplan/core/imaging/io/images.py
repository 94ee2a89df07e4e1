"""Loading CT image files (NIfTI, NRRD, MetaImage), dispatching folders to DICOM, and
`describe_image` (the object behind ``osteoplan info --json``).

Every file is opened header-first: format, dimension, components and size are checked
before any voxel is allocated; the voxels are then read in a compact type (int16 when
the values fit, float32 otherwise, never float64).
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import SimpleITK as sitk

from osteoplan.core.errors import LoadError
from osteoplan.core.imaging.volume import SeriesInfo, Volume
from .common import (
    DICOM_SUFFIXES, IMAGE_SUFFIXES, LoadedImage, ProgressCallback, array_from_image, check_size, compact_ct_array,
    check_gzip_integrity, execute_with_progress, is_dicom_file, output_pixel_type_for, quiet_sitk, refuse_2d,
    replace_non_finite, report, require_regular_file,
    require_exists, sitk_reason, suffix_of,
)
from .dicom import load_dicom_file, load_dicom_series, load_summary
from .dicom_scan import choose_series, list_dicom_series, scan_series, skipped_warning, summarize

__all__ = ["load_image_file", "load_image", "describe_image", "read_scalar_file"]

FORMAT_NAMES = {".nii": "NIfTI", ".nii.gz": "NIfTI", ".nrrd": "NRRD", ".nhdr": "NRRD", ".mha": "MetaImage",
                ".mhd": "MetaImage"}
DATA_HALVES = {".raw": ".mhd", ".zraw": ".mhd", ".img": ".hdr"}
SUPPORTED_TEXT = "a DICOM folder (or one of its files), .nii/.nii.gz, .nrrd/.nhdr or .mha/.mhd"


@dataclass(frozen=True)
class FileImage:
    """Voxels and geometry of an image file, before any CT- or label-specific handling."""

    array: np.ndarray
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]
    metadata: dict[str, str]


def _unsupported(path: Path) -> LoadError:
    suffix = suffix_of(path) or "(no extension)"
    if suffix in DATA_HALVES:
        return LoadError(f"{path} holds raw voxel data only; open its header file ({DATA_HALVES[suffix]}) instead.",
                         str(path))
    return LoadError(f"{path} is a {suffix} file, which OsteoPlan does not read as an image. "
                     f"Supported: {SUPPORTED_TEXT}.", str(path))


def _open_header(path: Path, role: str) -> sitk.ImageFileReader:
    fmt = FORMAT_NAMES.get(suffix_of(path), "image")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        with quiet_sitk():
            reader.ReadImageInformation()
    except RuntimeError as exc:
        raise LoadError(
            f"{path} could not be read as a {fmt} file ({sitk_reason(exc)}). It is corrupt or not really {fmt} "
            f"despite its name; export the {role} again.",
            str(path),
        ) from None
    size = reader.GetSize()
    if reader.GetNumberOfComponents() != 1:
        raise LoadError(f"{path} has {reader.GetNumberOfComponents()} values per voxel (a colour or vector image); "
                        f"a {role} needs one value per voxel.", str(path))
    if reader.GetDimension() == 2 or (reader.GetDimension() == 3 and min(size) == 1):
        refuse_2d(path, ([s for s in size if s != 1] or [1]) if reader.GetDimension() == 3 else size)
    if reader.GetDimension() != 3:
        raise LoadError(f"{path} is a {reader.GetDimension()}-D image ({' x '.join(map(str, size))}), e.g. a time "
                        f"series; a {role} must be 3-D. Extract the 3-D volume first.", str(path))
    return reader


def _gunzipped_size(path: Path, enough: int) -> int:
    """Bytes a gzip file decompresses to (all members), stopping once ``enough`` are seen or at damage."""
    total, decompressor = 0, zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        with open(path, "rb") as handle:
            while total < enough:
                chunk = handle.read(1 << 20)
                if not chunk:
                    break
                while chunk and total < enough:
                    total += len(decompressor.decompress(chunk))
                    chunk = decompressor.unused_data if decompressor.eof else b""
                    if decompressor.eof:
                        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    except (OSError, zlib.error):
        pass
    return total


def _nifti_shortfall(path: Path, metadata: dict[str, str]) -> str | None:
    """ITK reads a truncated NIfTI without complaint (the missing voxels come back as 0): check the length."""
    try:
        ndim = int(metadata["dim[0]"])
        count = int(np.prod([int(metadata[f"dim[{i}]"]) for i in range(1, ndim + 1)], dtype=np.float64))
        expected = int(float(metadata["vox_offset"])) + count * int(metadata["bitpix"]) // 8
    except (KeyError, ValueError):
        return None
    if suffix_of(path) == ".nii":
        actual = path.stat().st_size
    else:
        with open(path, "rb") as handle:
            handle.seek(-4, 2)
            if int.from_bytes(handle.read(4), "little") == expected % 2**32:  # gzip trailer: uncompressed size
                return None
        actual = _gunzipped_size(path, expected)
    if actual >= expected:
        return None
    return f"it holds {actual} of the {expected} bytes its header announces"


META_TYPE_BYTES = {"MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4,
                   "MET_FLOAT": 4, "MET_DOUBLE": 8, "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8}


def _metaimage_shortfall(path: Path) -> str | None:
    """Check a MetaImage's data length from its header (MetaIO itself prints to stderr on a short read)."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    fields, header_end = {}, None
    for match in re.finditer(rb"^[ \t]*(\w+)[ \t]*=[ \t]*([^\r\n]*)\r?\n", head, re.MULTILINE):
        fields[match.group(1).decode("ascii", "replace")] = match.group(2).decode("ascii", "replace").strip()
        if match.group(1) == b"ElementDataFile":
            header_end = match.end()
            break
    try:
        dims = [int(v) for v in fields["DimSize"].split()]
        element = META_TYPE_BYTES[fields["ElementType"]] * int(fields.get("ElementNumberOfChannels", "1"))
        data_file = fields["ElementDataFile"]
    except (KeyError, ValueError):
        return None
    compressed = fields.get("CompressedData", "False").lower() == "true"
    if compressed and "CompressedDataSize" not in fields:
        return None
    expected = int(fields["CompressedDataSize"]) if compressed else int(np.prod(dims, dtype=np.float64)) * element
    if data_file == "LOCAL":
        actual = path.stat().st_size - (header_end or 0)
    elif "%" in data_file or data_file.startswith("LIST") or not (path.parent / data_file).is_file():
        return None
    else:
        actual = (path.parent / data_file).stat().st_size
    if actual >= expected:
        return None
    return f"its voxel data holds {actual} of the {expected} bytes its header announces"


def read_scalar_file(path: Path, progress: ProgressCallback | None = None, role: str = "CT",
                     choose_type: Callable[[int], int] = output_pixel_type_for) -> FileImage:
    """Header checks, then the voxels, read as ``choose_type(the file's SimpleITK pixel type)``."""
    reader = _open_header(path, role)
    output = choose_type(reader.GetPixelID())
    reader.SetOutputPixelType(output)
    check_size(reader.GetSize(), sitk.Image(1, 1, output).GetSizeOfPixelComponent(), path)
    metadata = {key: reader.GetMetaData(key) for key in reader.GetMetaDataKeys()}
    suffix = suffix_of(path)
    shortfall = (_nifti_shortfall(path, metadata) if suffix in (".nii", ".nii.gz")
                 else _metaimage_shortfall(path) if suffix in (".mha", ".mhd") else None)
    if shortfall:
        raise LoadError(f"{path} is truncated ({shortfall}): an interrupted download or copy? "
                        f"Export or copy the {role} again.", str(path))
    try:
        with quiet_sitk():
            image = execute_with_progress(reader, progress, 0.05, 0.9, f"Reading {path.name}")
    except RuntimeError as exc:
        reason = sitk_reason(exc)
        reason = "" if "No such file" in reason else f" ({reason})"  # MetaIO reports a short read as errno 2
        raise LoadError(
            f"{path} could not be read to the end{reason}: the file is probably truncated or corrupt "
            f"(an interrupted download or copy?). Export or copy the {role} again.",
            str(path),
        ) from None
    del reader  # so that nothing else shares the image's buffer (numpy access would copy it)
    return FileImage(array_from_image(image), image.GetSpacing(), image.GetOrigin(), image.GetDirection(), metadata)


def file_modality(metadata: dict[str, str]) -> str:
    """The modality recorded in a file's metadata (MetaImage 'Modality', a DICOM tag), else CT."""
    for key, value in metadata.items():
        if key.lower() in ("modality", "0008|0060"):
            text = value.strip().upper().removeprefix("MET_MOD_")
            if text and text not in ("UNKNOWN", "OTHER"):
                return text
    return "CT"


def make_volume(path: Path, array: np.ndarray, image: FileImage, info: SeriesInfo) -> Volume:
    try:
        return Volume(array, image.spacing, image.origin, image.direction, info)
    except ValueError as exc:
        raise LoadError(f"{path} has an unusable geometry ({exc}); its header is probably corrupt.", str(path)) from None


def _refuse_outside_data_file(path: Path) -> None:
    """A MetaImage header names its voxel file: only one in the header's own folder is read (a header that points
    at /etc/passwd or a file elsewhere is refused, never read as voxels)."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 16).decode("ascii", "replace")
    match = re.search(r"^[ \t]*ElementDataFile[ \t]*=[ \t]*([^\r\n]*)", head, re.MULTILINE)
    name = match.group(1).strip() if match else "LOCAL"
    if name == "LOCAL" or name.startswith("LIST") or "%" in name:
        return
    data = (path.parent / name).resolve()
    if data.parent != path.parent.resolve():
        raise LoadError(f"{path} takes its voxels from {name}, outside its own folder; OsteoPlan reads a MetaImage's "
                        "data file only beside its header. Put the .raw file beside the .mhd (and name it there).",
                        str(path))


def _nifti_pixdim(path: Path) -> np.ndarray | None:
    """pixdim[1..3] as the NIfTI-1 header stores them (ITK rewrites 0 or NaN to 1 before anyone sees them)."""
    import gzip

    try:
        opener = gzip.open if suffix_of(path).endswith(".gz") else open
        with opener(path, "rb") as handle:
            header = handle.read(348)
    except (OSError, EOFError):
        return None
    if len(header) < 348:
        return None
    for order in ("<", ">"):
        if struct.unpack(f"{order}i", header[:4])[0] == 348:
            return np.array(struct.unpack(f"{order}3f", header[80:92]), dtype=float)
    return None  # NIfTI-2 or not NIfTI: ITK's reading stands


def _spacing_warnings(path: Path, image) -> list[str]:
    """A spacing the file does not really give (NIfTI pixdim 0 or NaN: ITK then says 1 mm) must not pass silently."""
    pixdim = _nifti_pixdim(path) if suffix_of(path) in (".nii", ".nii.gz") else None
    bad = [] if pixdim is None else ["xyz"[axis] for axis in range(3)
                                     if not np.isfinite(pixdim[axis]) or pixdim[axis] <= 0]
    if not bad:
        return []
    return [f"{path}: its header gives no valid voxel size along {', '.join(bad)} (0 or not a number); "
            f"{', '.join(f'{image.spacing[i]:g} mm' for i in ('xyz'.index(b) for b in bad))} was assumed. Distances "
            "along it are unreliable: export the CT again with its true voxel size."]


def _nifti_non_finite_warning(path: Path) -> list[str]:
    """ITK's NIfTI reader turns NaN voxels into 0 HU (water) without a word: count them with nibabel."""
    try:
        import nibabel

        data = np.asarray(nibabel.load(str(path)).dataobj)
    except Exception:  # noqa: BLE001 - nibabel cannot tell: ITK read it, its own checks stand
        return []
    bad = data.size - int(np.count_nonzero(np.isfinite(data)))
    if not bad:
        return []
    return [f"{path}: {bad} voxel(s) are not finite numbers (NaN or infinite) in the file; they read as 0 HU or the "
            "lowest value and are not real tissue: check the export."]


def load_image_file(path, progress: ProgressCallback | None = None) -> LoadedImage:
    """Load a CT from an image file; a DICOM file loads the series of its folder."""
    path = Path(path)
    require_exists(path)
    if path.is_dir():
        return load_dicom_series(path, progress=progress)
    suffix = suffix_of(path)
    if suffix in DICOM_SUFFIXES or (suffix not in IMAGE_SUFFIXES and is_dicom_file(path)):
        return load_dicom_file(path, progress)
    if suffix not in IMAGE_SUFFIXES:
        from .image_readers import read_with_plugins  # formats added by plugins (plugins/README.md)

        loaded = read_with_plugins(path, progress)
        if loaded is None:
            raise _unsupported(path)
        return loaded
    report(progress, 0.0, f"Opening {path.name}")
    require_regular_file(path)
    if suffix in (".mha", ".mhd"):
        _refuse_outside_data_file(path)
    image = read_scalar_file(path, progress)
    if suffix.endswith(".gz"):
        report(progress, 0.92, "Checking the file's integrity")
        check_gzip_integrity(path)
    warnings = _spacing_warnings(path, image)
    if suffix in (".nii", ".nii.gz") and image.array.dtype.kind == "f":
        warnings += _nifti_non_finite_warning(path)
    message = replace_non_finite(image.array, path)
    if message:
        warnings.append(message)
    array = compact_ct_array(image.array)
    modality = file_modality(image.metadata)
    if modality != "CT":
        warnings.append(f"{path} is marked as {modality}, not CT: its values are not Hounsfield units, so HU-based "
                        "features (bone and cement thresholds, window presets, tissue classes) are unreliable on it.")
    description = image.metadata.get("descrip", "").strip()
    volume = make_volume(path, array, image, SeriesInfo(path=str(path), description=description, modality=modality))
    report(progress, 1.0, "Loaded")
    return LoadedImage(volume, tuple(warnings))


def load_image(path, series_uid: str | None = None, progress: ProgressCallback | None = None) -> LoadedImage:
    """A folder loads as DICOM (``series_uid`` picks a series), a file as an image file."""
    path = Path(path)
    require_exists(path)
    if path.is_dir():
        return load_dicom_series(path, series_uid, progress)
    return load_image_file(path, progress)


def image_bounds_lps(path, series_uid: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The LPS box (low, high corners, mm) of the image's voxel centres, from its headers only (no voxels
    read): enough to tell whether a point lies in the CT. Raises `LoadError`."""
    path = Path(path)
    require_exists(path)
    if path.is_dir():
        summary = choose_series(path, list_dicom_series(path), series_uid)
        size, spacing, origin = summary.size, summary.spacing, summary.origin
        direction = np.asarray(summary.direction, dtype=float).reshape(3, 3)
    else:
        reader = _open_header(path, "CT")
        size, spacing, origin = reader.GetSize(), reader.GetSpacing(), reader.GetOrigin()
        direction = np.asarray(reader.GetDirection(), dtype=float).reshape(len(size), len(size))[:3, :3]
    corners = np.array([[i, j, k] for i in (0, size[0] - 1) for j in (0, size[1] - 1)
                        for k in (0, (size[2] if len(size) > 2 else 1) - 1)], dtype=float)
    points = np.asarray(origin[:3], dtype=float) + (corners * np.asarray(spacing[:3], dtype=float)) @ direction.T
    return points.min(axis=0), points.max(axis=0)


def _entry(volume: Volume, uid: str | None) -> dict:
    low, high = volume.value_range()
    return {
        "uid": uid,
        "description": volume.info.description,
        "modality": volume.info.modality,
        "size": [int(s) for s in volume.size],
        "spacing": [float(s) for s in volume.spacing],
        "origin": [float(o) for o in volume.origin],
        "direction": [float(d) for d in volume.direction.ravel()],
        "hu_range": [low, high],
    }


def describe_image(path) -> dict:
    """What ``osteoplan info --json`` prints: every series of a folder, or the one image of a file."""
    path = Path(path)
    require_exists(path)
    entries, warnings = [], []
    if path.is_dir():
        found, skipped = scan_series(path)
        warnings += skipped_warning(path, skipped)
        series = [summarize(uid, files) for uid, files in found]
        for summary in series:
            try:
                loaded = load_summary(summary, path)
            except LoadError as exc:
                if len(series) == 1:
                    raise
                warnings.append(f"Skipped series {summary.label()}: {exc}")
                continue
            entries.append(_entry(loaded.volume, summary.uid))
            warnings += loaded.warnings
            del loaded
        if not entries:
            raise LoadError(f"None of the {len(series)} DICOM series in {path} can be loaded:\n" + "\n".join(warnings),
                            str(path))
    else:
        loaded = load_image_file(path)
        entries.append(_entry(loaded.volume, loaded.volume.info.uid))
        warnings += loaded.warnings
    return {"path": str(path), "series": entries, "warnings": list(warnings)}
