"""Finding DICOM series in a folder from their headers alone (no pixel data is read).

GDCM (through SimpleITK) groups files by SeriesInstanceUID and sorts each series
along its slice normal; this module walks the folder (and a few levels of
subfolders), merges a series split over several folders, splits the files that carry
no series UID into the series they are (`split_without_uid`), and summarises each
series from the headers of its first and last files.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from osteoplan.core.errors import LoadError
from .common import IMAGE_SUFFIXES, format_size, is_dicom_file, quiet_sitk, require_exists, sitk_reason, suffix_of

MAX_SCAN_DEPTH = 3
"""Subfolder levels searched below the chosen folder."""
MAX_SCAN_FOLDERS = 256
"""Folders searched at most (choosing a whole disk by mistake stays quick)."""


@dataclass(frozen=True)
class SeriesSummary:
    """One DICOM series as its headers describe it (ITK order x, y, z; LPS mm)."""

    uid: str | None
    description: str
    modality: str
    n_slices: int
    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]  # 9 values, row-major; columns = row, column, slice-normal cosines
    file_names: tuple[str, ...]
    patient_name: str
    study_date: str
    patient_id: str = ""
    birth_date: str = ""
    study_uid: str = ""
    study_description: str = ""
    series_number: str = ""
    slice_thickness: str = ""
    kernel: str = ""
    series_time: str = ""  # HHMMSS of the series (or its acquisition)

    @property
    def patient_key(self) -> tuple[str, str, str]:
        """Who the series belongs to, as the headers say: (name, ID, birth date)."""
        return (self.patient_name, self.patient_id, self.birth_date)

    def label(self) -> str:
        """One line naming the series for a message or a chooser."""
        description = self.description or "(no description)"
        start, end = self.extent_mm
        return (
            f"UID {self.uid or '(none)'}: '{description}', {self.modality or '?'}, "
            f"{self.n_slices} slice(s), {format_size(self.size)} voxels, slices {start:.1f} to {end:.1f} mm"
        )

    @property
    def extent_mm(self) -> tuple[float, float]:
        """The first and last slices' positions along the slice normal (mm): two series of one scan differ here."""
        normal = np.asarray(self.direction, dtype=float).reshape(3, 3)[:, 2]
        start = float(np.asarray(self.origin) @ normal)
        return start, start + self.spacing[2] * (self.n_slices - 1)


class SeveralSeriesError(LoadError):
    """The folder holds several series and none was chosen; ``series`` lists them."""

    def __init__(self, folder: Path | str, series: list[SeriesSummary]):
        lines = "\n".join(f"  {n}. {s.label()}" for n, s in enumerate(series, 1))
        super().__init__(
            f"The folder {folder} holds {len(series)} DICOM series; choose one of them "
            f"(pass its series UID):\n{lines}",
            str(folder),
        )
        self.series = list(series)


# --- headers --------------------------------------------------------------------------
def read_header(path: Path | str) -> sitk.ImageFileReader:
    """A reader holding one DICOM file's header and geometry (pixel data not decoded)."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.SetImageIO("GDCMImageIO")
    try:
        with quiet_sitk():
            reader.ReadImageInformation()
    except RuntimeError as exc:
        raise LoadError(
            f"{path} could not be read as a DICOM file ({sitk_reason(exc)}). It may be corrupt, truncated or "
            "not DICOM at all; copy it again from the scanner/PACS, or choose another file.",
            str(path),
        ) from None
    return reader


def tag(reader, key: str, default: str = "") -> str:
    """A DICOM tag's value ('gggg|eeee') from a reader's header, stripped."""
    return reader.GetMetaData(key).strip() if reader.HasMetaDataKey(key) else default


def numbers(text: str) -> list[float]:
    """The finite numbers of a DICOM multi-valued decimal string ('1\\0\\0'); [] when one is not a finite number
    ('nan', 'inf', garbage): the caller then treats the tag as missing, never as a position at NaN."""
    try:
        values = [float(part) for part in text.split("\\") if part.strip()]
    except ValueError:
        return []
    return values if all(math.isfinite(v) for v in values) else []


def orientation_of(reader) -> tuple[float, ...]:
    """ImageOrientationPatient (row then column cosine); from ITK's direction if the tag is bad."""
    values = numbers(tag(reader, "0020|0037"))
    if len(values) == 6 and np.linalg.norm(np.cross(values[:3], values[3:])) > 0.5:
        return tuple(values)
    direction = np.asarray(reader.GetDirection(), dtype=float).reshape(3, 3)
    return tuple(direction[:, 0]) + tuple(direction[:, 1])


def position_of(reader) -> np.ndarray:
    values = numbers(tag(reader, "0020|0032"))
    position = np.asarray(values if len(values) == 3 else reader.GetOrigin(), dtype=float)
    return position if np.all(np.isfinite(position)) else np.zeros(3)


# --- scanning -------------------------------------------------------------------------------
def _folders(root: Path) -> list[Path]:
    """``root`` and its subfolders, breadth first, within the depth and count limits."""
    found, level = [root], [root]
    for _ in range(MAX_SCAN_DEPTH):
        next_level = []
        for folder in level:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            next_level += [Path(e.path) for e in entries if e.is_dir() and not e.name.startswith(".")]
        room = MAX_SCAN_FOLDERS - len(found)
        found += next_level[:room]
        level = next_level[:room]
        if not level:
            break
    return found


def regular_files(folder: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(folder) if e.is_file() and not e.name.startswith("."))
    except OSError as exc:
        raise LoadError(f"The folder {folder} cannot be read ({exc.strerror}). Check its permissions.", str(folder)) from None


def _sorted_along_normal(files: list[str]) -> list[str]:
    """Files of one series found in several folders, sorted by position along the slice normal."""
    keyed = []
    for name in files:
        reader = read_header(name)
        orientation = np.asarray(orientation_of(reader))
        keyed.append((float(position_of(reader) @ np.cross(orientation[:3], orientation[3:])), name))
    return [name for _, name in sorted(keyed)]


NO_UID_PREFIX = "no-uid:"
GAP_SPLIT_SLICES = 3.0  # a gap wider than this many slice spacings separates two series (never interpolated across)


def split_without_uid(files: list[str]) -> list[tuple[str, list[str]]]:
    """Files that carry no SeriesInstanceUID (GDCM groups them all as one series), split into series by
    (patient, study, series number, description, orientation, slice thickness, image size) and then along the
    slice normal wherever the gap between two slices exceeds GAP_SPLIT_SLICES times the usual spacing.
    Each part gets a stable made-up UID (``no-uid:`` + a digest of its file names) that a plan can record."""
    groups: dict[tuple, list[tuple[float, str]]] = {}
    for name in files:
        reader = read_header(name)
        orientation = np.asarray(orientation_of(reader))
        normal = np.cross(orientation[:3], orientation[3:])
        key = (tag(reader, "0010|0020"), tag(reader, "0020|000d"), tag(reader, "0020|0011"), tag(reader, "0008|103e"),
               tuple(np.round(orientation, 3)), tag(reader, "0018|0050"), tuple(reader.GetSize()[:2]))
        groups.setdefault(key, []).append((float(position_of(reader) @ normal), name))
    parts = []
    for members in groups.values():
        members.sort()
        positions = np.array([p for p, _ in members])
        gaps = np.diff(positions)
        usual = float(np.median(gaps[gaps > 1e-3])) if (gaps > 1e-3).any() else 0.0
        cuts = np.flatnonzero(gaps > GAP_SPLIT_SLICES * usual) + 1 if usual > 0 else np.zeros(0, int)
        for chunk in np.split(np.arange(len(members)), cuts):
            names = [members[i][1] for i in chunk]
            digest = hashlib.sha1("\n".join(sorted(os.path.basename(n) for n in names)).encode()).hexdigest()[:16]
            parts.append((f"{NO_UID_PREFIX}{digest}", names))
    return parts


def _has_subfolder(folder: Path) -> bool:
    try:
        return any(e.is_dir() for e in os.scandir(folder))
    except OSError:
        return False


def no_dicom_error(folder: Path, folders: list[Path]) -> LoadError:
    """The message for a folder (tree) without any DICOM image."""
    names = [name for f in folders for name in regular_files(f)]
    where = f"The folder {folder}" + (f" (and its {len(folders) - 1} subfolder(s))" if len(folders) > 1 else "")
    deeper = [f for f in folders if len(f.relative_to(folder).parts) == MAX_SCAN_DEPTH and _has_subfolder(f)]
    if deeper:
        return LoadError(
            f"{where} holds no DICOM image down to {MAX_SCAN_DEPTH} folder levels, and goes deeper (e.g. "
            f"{deeper[0].relative_to(folder)}/...), which is not searched. Choose a folder closer to the images.",
            str(folder),
        )
    if not names:
        return LoadError(
            f"{where} is empty. Choose the folder that holds the CT's DICOM files "
            "(on a CD/USB export it is often below a DICOM/ folder).",
            str(folder),
        )
    images = [n for n in names if suffix_of(Path(n)) in IMAGE_SUFFIXES]
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    hint = (
        f" It does hold image file(s) ({', '.join(images[:3])}): open one of those files instead of the folder."
        if images else " Choose the folder that holds the CT's DICOM files, or an image file (.nii.gz, .nrrd, .mha)."
    )
    return LoadError(f"{where} holds {len(names)} file(s) but no DICOM image (e.g. {shown}).{hint}", str(folder))


def scan_series(folder: Path) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """(uid, sorted file names) of every series under ``folder``, and the DICOM files in no series.

    LoadError if there is no series at all.
    """
    require_exists(folder)
    if not folder.is_dir():
        raise LoadError(f"{folder} is a file, not a folder of DICOM files.", str(folder))
    folders = _folders(folder)
    parts: dict[str, list[list[str]]] = {}
    try:
        with quiet_sitk():
            for sub in folders:
                for uid in sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(sub)):
                    files = list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(sub), uid))
                    if files:
                        parts.setdefault(uid, []).append(files)
    except RuntimeError as exc:
        raise LoadError(f"The folder {folder} could not be scanned for DICOM files ({sitk_reason(exc)}).", str(folder)) from None
    if not parts:
        raise no_dicom_error(folder, folders)
    series = [(uid, lists[0] if len(lists) == 1 else _sorted_along_normal(sum(lists, []))) for uid, lists in parts.items()]
    series = [split for uid, files in series for split in (split_without_uid(files) if not uid else [(uid, files)])]
    listed = {os.path.normpath(name) for _, files in series for name in files}
    skipped = [
        str(sub / name) for sub in folders for name in regular_files(sub)
        if os.path.normpath(str(sub / name)) not in listed and name.upper() != "DICOMDIR" and is_dicom_file(sub / name)
    ]
    return series, skipped


def skipped_warning(folder: Path, skipped: list[str]) -> list[str]:
    """A warning naming DICOM files that belong to no image series (truncated images, reports...)."""
    if not skipped:
        return []
    names = ", ".join(Path(s).name for s in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
    return [f"{len(skipped)} DICOM file(s) in {folder} could not be placed in any image series and were left out "
            f"({names}): they are truncated or corrupt images, or not images (reports, presentation states)."]


def summarize(uid: str, files: list[str]) -> SeriesSummary:
    """A SeriesSummary from the headers of the first and last files."""
    first = read_header(files[0])
    orientation = np.asarray(orientation_of(first))
    row, col = orientation[:3], orientation[3:]
    normal = np.cross(row, col)
    normal /= np.linalg.norm(normal)
    cols, rows = first.GetSize()[:2]
    frames = first.GetSize()[2] if first.GetDimension() > 2 else 1
    n_slices = len(files) if len(files) > 1 else frames
    spacing = list(first.GetSpacing()[:2])
    if len(files) > 1:
        last = read_header(files[-1])
        spacing.append(abs(float((position_of(last) - position_of(first)) @ normal)) / (len(files) - 1))
    else:
        spacing.append(float(first.GetSpacing()[2]) if frames > 1 else
                       (numbers(tag(first, "0018|0088")) or numbers(tag(first, "0018|0050")) or [1.0])[0])
    return SeriesSummary(
        uid=uid or tag(first, "0020|000e") or None,
        description=tag(first, "0008|103e"),
        modality=tag(first, "0008|0060"),
        n_slices=int(n_slices),
        size=(int(cols), int(rows), int(n_slices)),
        spacing=tuple(float(s) for s in spacing),
        origin=tuple(float(v) for v in position_of(first)),
        direction=tuple(float(v) for v in np.column_stack([row, col, normal]).ravel()),
        file_names=tuple(files),
        patient_name=tag(first, "0010|0010"),
        study_date=tag(first, "0008|0020"),
        patient_id=tag(first, "0010|0020"),
        birth_date=tag(first, "0010|0030"),
        study_uid=tag(first, "0020|000d"),
        study_description=tag(first, "0008|1030"),
        series_number=tag(first, "0020|0011"),
        slice_thickness=tag(first, "0018|0050"),
        kernel=tag(first, "0018|1210"),
        series_time=tag(first, "0008|0031") or tag(first, "0008|0032"),
    )


THUMBNAIL_WINDOW_HU = (-160.0, 240.0)  # soft-tissue window (W 400 / L 40): organs and bones both show


def series_thumbnail(summary: SeriesSummary, size: int = 64) -> np.ndarray | None:
    """The middle slice of a series as a `size` x `size` (at most) uint8 image, soft-tissue window; None when it
    cannot be read (the chooser then shows no picture, the series is still listed)."""
    try:
        with quiet_sitk():
            image = sitk.ReadImage(summary.file_names[len(summary.file_names) // 2], sitk.sitkFloat32)
    except (RuntimeError, IndexError):
        return None
    array = sitk.GetArrayViewFromImage(image)
    array = array[array.shape[0] // 2] if array.ndim == 3 else array
    step = max(1, int(np.ceil(max(array.shape) / size)))
    low, high = THUMBNAIL_WINDOW_HU
    return (np.clip((array[::step, ::step] - low) / (high - low), 0.0, 1.0) * 255).astype(np.uint8)


def list_dicom_series(folder) -> list[SeriesSummary]:
    """Every DICOM series in ``folder`` and its subfolders, from the headers only."""
    return [summarize(uid, files) for uid, files in scan_series(Path(folder))[0]]


def single_series_shortcut(folder: Path) -> SeriesSummary | None:
    """The one series of a flat folder whose files all belong to it, found with a single scan.

    None when the folder has subfolders or files outside the first series (then the
    full scan decides). Saves a second pass over all headers in the common case.
    """
    if not folder.is_dir():
        return None
    try:
        if any(e.is_dir() for e in os.scandir(folder)):
            return None
    except OSError:
        return None
    names = regular_files(folder)
    if not names:
        return None
    try:
        with quiet_sitk():
            files = list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    except RuntimeError:
        return None
    if len(files) != len(names) or not tag(read_header(files[0]), "0020|000e"):
        return None  # files without a series UID may be several series: the full scan splits them
    return summarize("", files)


def choose_series(folder: Path, series: list[SeriesSummary], series_uid: str | None) -> SeriesSummary:
    if series_uid is None:
        if len(series) > 1:
            raise SeveralSeriesError(folder, series)
        return series[0]
    for summary in series:
        if summary.uid == series_uid:
            return summary
    listed = "\n".join(f"  {s.label()}" for s in series)
    raise LoadError(f"The folder {folder} holds no DICOM series with UID {series_uid}. It holds:\n{listed}", str(folder))
