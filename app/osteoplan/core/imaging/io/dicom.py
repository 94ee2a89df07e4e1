"""Loading a DICOM CT series into a `Volume` (HU, LPS mm), with warnings in words.

Pixels are read by SimpleITK's ImageSeriesReader straight into the output dtype
(int16 when the rescaled values fit, float32 otherwise) and handed to numpy without a
copy; the geometry is rebuilt from every slice's ImagePositionPatient (see
`slice_stack`), not taken from ITK's first-two-slices guess.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from osteoplan.core.errors import LoadError
from osteoplan.core.imaging.volume import SeriesInfo, Volume
from .common import (
    INT16_MAX, INT16_MIN, LoadedImage, ProgressCallback, array_from_image, check_size, execute_with_progress,
    format_size, integral_range_fits_int16, quiet_sitk, refuse_2d, replace_non_finite, report, sitk_reason,
)
from .dicom_scan import (
    SeriesSummary, SeveralSeriesError, choose_series, list_dicom_series, numbers, orientation_of, read_header,
    scan_series, single_series_shortcut, skipped_warning, summarize, tag,
)
from .slice_stack import plan_stack, resample_stack

__all__ = ["SeriesSummary", "SeveralSeriesError", "list_dicom_series", "load_dicom_series", "load_dicom_file"]

CHUNK_SLICES = 32
"""Slices read at a time when the stored range may exceed int16 (values are checked per chunk)."""
EXTRA_TAGS = {"0020|0011": "series_number", "0018|0050": "slice_thickness", "0018|1210": "kernel",
              "0008|0070": "manufacturer", "0020|000d": "study_uid", "0010|0040": "sex",
              "0008|1030": "study_description"}
HU_MODALITIES = ("CT",)


# --- pixel type ---------------------------------------------------------------------
def _rescale(slope_text: str, intercept_text: str) -> tuple[float, float]:
    slope = (numbers(slope_text) or [1.0])[0]
    intercept = (numbers(intercept_text) or [0.0])[0]
    return (slope if slope != 0 else 1.0), intercept


MAX_PLAUSIBLE_HU = 100_000.0  # CT numbers span about -1024..+30000 (metal); beyond this the rescale is broken


def _check_rescale(header, where) -> None:
    """A RescaleSlope/Intercept that sends the stored values beyond any CT number (e.g. a slope of 1e38) is refused:
    the voxels would saturate into garbage."""
    slope, intercept = _rescale(tag(header, "0028|1053"), tag(header, "0028|1052"))
    bits = int((numbers(tag(header, "0028|0101")) or [16])[0])
    largest = abs(slope) * 2.0 ** min(bits, 32) + abs(intercept)
    if not np.isfinite(largest) or largest > 1e3 * MAX_PLAUSIBLE_HU and abs(slope) > 1e3:
        raise LoadError(f"{where} has RescaleSlope {slope:g} and RescaleIntercept {intercept:g}: its values would "
                        f"reach {largest:.3g}, far beyond any CT number. The header is damaged; export the series "
                        "again.", str(where))


def _pixel_kind(header, rescales: list[tuple[float, float]]) -> str:
    """'int16', 'float32' or 'wide' (integers that may not fit int16: read in checked chunks)."""
    if any(s != round(s) or i != round(i) for s, i in rescales):
        return "float32"
    bits = int((numbers(tag(header, "0028|0101")) or numbers(tag(header, "0028|0100")) or [16])[0])
    signed = tag(header, "0028|0103", "0") == "1"
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    ends = [s * v + i for s, i in rescales for v in (low, high)]
    return "int16" if integral_range_fits_int16(min(ends), max(ends)) else "wide"


def _series_reader(files, pixel_type: int) -> sitk.ImageSeriesReader:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(f) for f in files])
    reader.SetImageIO("GDCMImageIO")
    reader.SetOutputPixelType(pixel_type)
    reader.MetaDataDictionaryArrayUpdateOn()
    return reader


def _slice_tags(reader, count: int) -> list[dict[str, str]]:
    keys = ("0020|0032", "0020|0037", "0028|1052", "0028|1053")
    return [{key: reader.GetMetaData(k, key).strip() if reader.HasMetaDataKey(k, key) else "" for key in keys}
            for k in range(count)]


def _read_whole(files, kind, progress):
    reader = _series_reader(files, sitk.sitkInt16 if kind == "int16" else sitk.sitkFloat32)
    image = execute_with_progress(reader, progress, 0.05, 0.9, f"Reading {len(files)} DICOM slices")
    tags = _slice_tags(reader, len(files))
    del reader  # it shares the image's buffer (for the metadata): while it lives, numpy access would copy
    return array_from_image(image), tags


def _read_wide(files, progress):
    """Read integer slices whose stored range exceeds int16 in chunks, keeping int16 if the values fit."""
    n = len(files)
    out, tags = None, []
    for start in range(0, n, CHUNK_SLICES):
        chunk = files[start:start + CHUNK_SLICES]
        report(progress, 0.05 + 0.85 * start / n, f"Reading DICOM slices {start + 1}-{start + len(chunk)} of {n}")
        reader = _series_reader(chunk, sitk.sitkInt32)
        image = reader.Execute()
        tags += _slice_tags(reader, len(chunk))
        del reader  # while the reader lives it shares the buffer, and numpy access would copy it
        part = sitk.GetArrayViewFromImage(image)  # valid while `image` lives
        if out is None:
            out = np.empty((n,) + part.shape[1:], dtype=np.int16)
        if out.dtype == np.int16 and (part.min() < INT16_MIN or part.max() > INT16_MAX):
            out = out.astype(np.float32)
        out[start:start + len(chunk)] = part
    return out, tags


def _read_pixels(files, header, where, progress):
    """(array in reading order, per-slice tags); the dtype follows every slice's rescale."""
    rescales = [_rescale(tag(header, "0028|1053"), tag(header, "0028|1052"))]
    kind = _pixel_kind(header, rescales)
    cols, rows = header.GetSize()[:2]
    for _ in range(2):
        check_size((cols, rows, len(files)), 4 if kind == "float32" else 2, where)
        try:
            with quiet_sitk():
                array, tags = _read_wide(files, progress) if kind == "wide" else _read_whole(files, kind, progress)
        except RuntimeError as exc:
            raise _pixel_error(files, where, exc) from None
        rescales = sorted({_rescale(t["0028|1053"], t["0028|1052"]) for t in tags})
        needed = _pixel_kind(header, rescales)
        if needed == kind or kind == "float32" or (kind == "wide" and needed == "int16"):
            return array, tags
        kind = needed  # some slice rescales differently from the first: read again in a type that holds it
        del array
    raise AssertionError("unreachable")


def _pixel_error(files, where, exc) -> LoadError:
    """Explain a failed series read: slices of several sizes, or the first file that cannot be read."""
    sizes = Counter()
    for name in files:
        try:
            sizes[tuple(read_header(name).GetSize()[:2])] += 1
        except LoadError as error:
            return error
    if len(sizes) > 1:
        found = ", ".join(f"{count} of {format_size(size)}" for size, count in sizes.most_common())
        return LoadError(f"The slices of {where} do not all have the same size ({found} pixels), so they cannot be "
                         "stacked into one volume. Export the CT series on its own.", str(where))
    for name in files:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(name))
        reader.SetImageIO("GDCMImageIO")
        try:
            with quiet_sitk():
                reader.Execute()
        except RuntimeError as file_exc:
            return LoadError(
                f"The DICOM file {name} of {where} cannot be read ({sitk_reason(file_exc)}): it is probably "
                "truncated or corrupt (an interrupted copy?). Copy the series again from the scanner/PACS.",
                str(name),
            )
    return LoadError(f"The pixel data of {where} could not be read ({sitk_reason(exc)}).", str(where))


# --- geometry -------------------------------------------------------------------------
def _positions(tags, header, where, warnings) -> np.ndarray:
    values = [numbers(t["0020|0032"]) for t in tags]
    if all(len(v) == 3 for v in values):
        return np.asarray(values, dtype=float)
    orientation = np.asarray(orientation_of(header))
    normal = np.cross(orientation[:3], orientation[3:])
    gap = (numbers(tag(header, "0018|0088")) or numbers(tag(header, "0018|0050")) or [1.0])[0]
    warnings.append(f"Some slices of {where} have no ImagePositionPatient: the slices were stacked in file order, "
                    f"{gap:g} mm apart (from the spacing/thickness tags). Positions along the slice axis are uncertain.")
    origin = np.asarray(header.GetOrigin(), dtype=float)
    if not np.all(np.isfinite(origin)):
        origin = np.zeros(3)
        warnings.append(f"{where} gives no usable position at all: it was placed at the scanner's origin, so its LPS "
                        "coordinates (and any plan made on it) do not match another image of the patient.")
    return origin[None, :] + gap * np.arange(len(tags))[:, None] * normal[None, :]


def _check_orientations(tags, header, where) -> tuple[float, ...]:
    orientation = orientation_of(header)
    for text in {t["0020|0037"] for t in tags}:
        values = numbers(text)
        if len(values) == 6 and not np.allclose(values, orientation, atol=1e-3):
            raise LoadError(
                f"The slices of {where} do not share one orientation (e.g. {text} vs "
                f"{tag(header, '0020|0037')}): the folder probably mixes a localizer or another reconstruction into "
                "the series. Export the axial series on its own.",
                str(where),
            )
    return orientation


def _info(header, folder: Path, uid: str | None = None) -> SeriesInfo:
    """What the header says of the series; `uid`: the series' UID as scanned (made up when the files carry none)."""
    extra = {name: tag(header, key) for key, name in EXTRA_TAGS.items() if tag(header, key)}
    return SeriesInfo(
        path=str(folder), uid=tag(header, "0020|000e") or uid or None, description=tag(header, "0008|103e"),
        modality=tag(header, "0008|0060") or "CT", patient_name=tag(header, "0010|0010"),
        patient_id=tag(header, "0010|0020"), study_date=tag(header, "0008|0020"),
        birth_date=tag(header, "0010|0030"), extra=extra,
    )


def _pixel_spacing_warnings(header, where) -> list[str]:
    """PixelSpacing missing or zero: GDCM then says 1 mm, and every distance would be wrong without a word."""
    values = numbers(tag(header, "0028|0030"))
    if len(values) == 2 and all(v > 0 for v in values):
        return []
    assumed = " x ".join(f"{s:g}" for s in header.GetSpacing()[:2])
    return [f"{where[:1].upper() + where[1:]} has no valid PixelSpacing (0028,0030): {assumed} mm per pixel was "
            "assumed, so distances, sizes and thresholds are unreliable. Export the series again from the scanner "
            "or PACS with its pixel spacing."]


def _modality_warnings(header, where) -> list[str]:
    modality = tag(header, "0008|0060")
    where = where[:1].upper() + where[1:]
    if not modality:
        return [f"{where} records no modality; it was assumed to be a CT in Hounsfield units. Check that it is one."]
    if modality not in HU_MODALITIES:
        return [f"{where} has modality {modality}, not CT: its values are not Hounsfield units, so HU-based features "
                "(bone and cement thresholds, window presets, tissue classes) are unreliable on it."]
    return []


# --- loading --------------------------------------------------------------------------
def load_summary(summary: SeriesSummary, folder: Path, progress: ProgressCallback | None = None) -> LoadedImage:
    """Load the series a SeriesSummary describes."""
    files = list(summary.file_names)
    header = read_header(files[0])
    label = f"'{summary.description}'" if summary.description else "(no description)"
    where = f"the DICOM series {label} in {folder}"
    if len(files) == 1 and header.GetDimension() > 2 and header.GetSize()[2] > 1:
        return _load_multiframe(files[0], header, folder, progress)
    if len(files) == 1:
        refuse_2d(f"{files[0]} (the only slice of {where})", header.GetSize()[:2])
    if int((numbers(tag(header, "0028|0002")) or [1])[0]) != 1:
        raise LoadError(f"{where} holds colour images (screenshots or secondary captures), not a CT.", str(folder))
    _check_rescale(header, where)
    array, tags = _read_pixels(files, header, where, progress)
    report(progress, 0.92, "Checking slice positions")
    warnings = _modality_warnings(header, where) + _pixel_spacing_warnings(header, where)
    orientation = _check_orientations(tags, header, where)
    positions = _positions(tags, header, where, warnings)
    normal = np.cross(orientation[:3], orientation[3:])
    z = positions @ normal
    if np.any(np.diff(z) < 0):  # GDCM sorts along the normal; reorder if it could not
        order = np.argsort(z, kind="stable")
        array, positions = array[order], positions[order]
    plan = plan_stack(positions, orientation, where=where)
    warnings += plan.warnings
    if plan.target_z is not None:
        report(progress, 0.95, "Resampling onto a uniform slice grid")
        array = resample_stack(array, plan)
    message = replace_non_finite(array, where)
    if message:
        warnings.append(message)
    spacing = tuple(header.GetSpacing()[:2]) + (plan.spacing_z,)
    volume = Volume(array, spacing, plan.origin, plan.direction, _info(header, folder, summary.uid))
    report(progress, 1.0, "Loaded")
    return LoadedImage(volume, tuple(warnings))


def _load_multiframe(path: str, header, folder: Path, progress) -> LoadedImage:
    """A single multi-frame DICOM file (e.g. Enhanced CT): ITK's geometry is used as it is."""
    kind = _pixel_kind(header, [_rescale(tag(header, "0028|1053"), tag(header, "0028|1052"))])
    check_size(header.GetSize(), 2 if kind == "int16" else 4, path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    reader.SetImageIO("GDCMImageIO")
    reader.SetOutputPixelType(sitk.sitkInt16 if kind == "int16" else sitk.sitkFloat32)
    try:
        with quiet_sitk():
            image = execute_with_progress(reader, progress, 0.05, 0.9, "Reading the multi-frame DICOM file")
    except RuntimeError as exc:
        raise LoadError(f"The multi-frame DICOM file {path} could not be read ({sitk_reason(exc)}).", path) from None
    del reader
    array = array_from_image(image)
    warnings = _modality_warnings(header, path)
    message = replace_non_finite(array, path)
    if message:
        warnings.append(message)
    volume = Volume(array, image.GetSpacing(), image.GetOrigin(), image.GetDirection(), _info(header, folder))
    report(progress, 1.0, "Loaded")
    return LoadedImage(volume, tuple(warnings))


def load_dicom_series(folder, series_uid: str | None = None, progress: ProgressCallback | None = None) -> LoadedImage:
    """Load one DICOM series from ``folder`` (and its subfolders).

    With several series and no ``series_uid``, raises SeveralSeriesError listing them.
    A file path loads the series that file belongs to.
    """
    folder = Path(folder)
    report(progress, 0.0, f"Scanning {folder}")
    if folder.is_file():
        return load_dicom_file(folder, progress)
    summary = single_series_shortcut(folder) if series_uid is None else None
    if summary is not None:
        return load_summary(summary, folder, progress)
    found, skipped = scan_series(folder)
    summary = choose_series(folder, [summarize(uid, files) for uid, files in found], series_uid)
    loaded = load_summary(summary, folder, progress)
    return LoadedImage(loaded.volume, loaded.warnings + tuple(skipped_warning(folder, skipped)))


def load_dicom_file(path, progress: ProgressCallback | None = None) -> LoadedImage:
    """A single DICOM file: load the whole series it belongs to (from its folder)."""
    path = Path(path)
    header = read_header(path)
    if header.GetDimension() > 2 and header.GetSize()[2] > 1:
        return _load_multiframe(str(path), header, path.parent, progress)
    resolved = path.resolve()
    for uid, files in scan_series(path.parent)[0]:
        if any(Path(f).resolve() == resolved for f in files):
            if len(files) == 1:
                refuse_2d(f"{path} (a single DICOM image; no other slice of its series is in {path.parent})",
                          header.GetSize()[:2])
            return load_summary(summarize(uid, files), path.parent, progress)
    raise LoadError(f"{path} is a DICOM file but GDCM did not list it in its folder's series; "
                    "it may not hold an image (e.g. a report or a DICOMDIR). Choose the series folder instead.", str(path))
