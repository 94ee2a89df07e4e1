"""Where the slices of a DICOM series really are, and a uniform grid for them.

DICOM gives each slice its own ImagePositionPatient (IPP); a volume needs one origin,
one spacing and one direction. This module reads the per-slice positions (LPS mm) and
- finds the slice normal, the gaps between slices and whether they are uniform;
- detects duplicate positions and gantry tilt (slices sheared off the normal);
- when gaps differ (missing slices, irregular reconstructions) chooses a uniform grid
  along the normal (spacing = the median gap) and resamples onto it by linear
  interpolation between the two neighbouring slices, so that every voxel lands at its
  true LPS position.
Pure numpy: no SimpleITK, no file access.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from osteoplan.core.errors import LoadError

MIN_POSITION_TOLERANCE_MM = 0.01
"""A slice within max(this, 1 % of the gap) of its grid position counts as on the grid."""
MIN_TILT_DEG = 0.01
"""Shears smaller than this (and under the position tolerance over the stack) are ignored."""


@dataclass(frozen=True)
class StackPlan:
    """How to turn the slices as read into a volume on a uniform grid."""

    origin: tuple[float, float, float]  # LPS mm of voxel (0, 0, 0)
    direction: np.ndarray  # 3x3, columns: row cosine, column cosine, slice normal
    spacing_z: float  # mm between output slices
    source_z: np.ndarray  # (n,) distance of each slice read along the normal, mm (sorted)
    target_z: np.ndarray | None  # (m,) output slice positions along the normal; None: keep slices as read
    keep: np.ndarray  # (n,) bool: slices used (duplicates dropped)
    tilt_deg: float
    warnings: tuple[str, ...]


def _unit(vector) -> np.ndarray:
    vector = np.asarray(vector, dtype=float)
    norm = np.linalg.norm(vector)
    if norm < 1e-6:
        raise ValueError("zero-length orientation vector")
    return vector / norm


def _gap_summary(gaps: np.ndarray) -> str:
    counts = Counter(np.round(gaps, 2).tolist())
    parts = [f"{gap:.2f} mm x{count}" for gap, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    if len(parts) > 6:
        parts = parts[:6] + [f"... ({len(counts) - 6} other values)"]
    return ", ".join(parts)


def plan_stack(positions, orientation, where: str = "the series") -> StackPlan:
    """Analyse per-slice positions (n, 3) LPS mm with ImageOrientationPatient (6 values).

    ``positions`` must be in the order the slices were read (sorted along the normal,
    as GDCM sorts them); the result says how to place them on a uniform grid.
    """
    positions = np.asarray(positions, dtype=float)
    row, col = _unit(orientation[:3]), _unit(orientation[3:6])
    normal = _unit(np.cross(row, col))
    direction = np.column_stack([row, col, normal])
    n = len(positions)
    z = positions @ normal
    if n < 2:
        return StackPlan(tuple(positions[0]), direction, 1.0, z, None, np.ones(n, bool), 0.0, ())
    if np.any(np.diff(z) < -MIN_POSITION_TOLERANCE_MM):
        raise ValueError("slices are not sorted along the slice normal")
    warnings: list[str] = []

    # Duplicates: the same position twice (e.g. two reconstructions mixed in one series).
    keep = np.ones(n, dtype=bool)
    keep[1:] = np.diff(z) > MIN_POSITION_TOLERANCE_MM
    if not keep.all():
        warnings.append(
            f"{int((~keep).sum())} slice(s) of {where} repeat the position of the slice before them; "
            "only the first slice at each position was kept."
        )
    zk, pk = z[keep], positions[keep]
    if len(zk) < 2:  # nothing to stack: never invent a slice spacing for them
        raise LoadError(f"All {n} slices of {where} lie at one position: it is not a volume (a dynamic or repeated "
                        "acquisition at one table position, or positions lost in an export?). Choose a volume "
                        "series, or export the series again with its slice positions.", where)
    gaps = np.diff(zk)
    extent = zk[-1] - zk[0]
    mean_gap = extent / (len(zk) - 1)
    median_gap = float(np.median(gaps))
    tolerance = max(MIN_POSITION_TOLERANCE_MM, 0.01 * median_gap)

    # Gantry tilt: the in-plane part of the positions drifts linearly along the normal.
    in_plane = pk - np.outer(zk, normal)
    shear = (in_plane[-1] - in_plane[0]) / extent  # in-plane mm per mm along the normal
    tilt_deg = math.degrees(math.atan(float(np.linalg.norm(shear))))
    if tilt_deg > MIN_TILT_DEG and np.linalg.norm(in_plane[-1] - in_plane[0]) > tolerance:
        drift = float(np.linalg.norm(in_plane[-1] - in_plane[0]))
        warnings.append(
            f"{where[:1].upper() + where[1:]} was acquired with a gantry tilt of {tilt_deg:.1f} degrees: each slice is shifted "
            f"{np.linalg.norm(shear) * mean_gap:.2f} mm in its plane relative to the one before. It was loaded as-is, "
            f"with the slices stacked along the slice normal, so the last slice lies up to {drift:.1f} mm from its "
            "true position. Use a tilt-corrected (resampled) reconstruction for needle planning."
        )
    else:
        tilt_deg = 0.0

    uniform = np.max(np.abs(zk - (zk[0] + mean_gap * np.arange(len(zk))))) <= tolerance
    if uniform:
        target = None if keep.all() else zk[0] + mean_gap * np.arange(len(zk))
        return StackPlan(tuple(positions[0]), direction, float(mean_gap), z, target, keep, tilt_deg, tuple(warnings))

    m = int(math.floor(extent / median_gap + 1e-6)) + 1
    target = zk[0] + median_gap * np.arange(m)
    missing = int(sum(max(0, round(g / median_gap) - 1) for g in gaps if g > 1.5 * median_gap))
    cause = f" (about {missing} slice(s) appear to be missing)" if missing else ""
    warnings.append(
        f"The slice spacing of {where} is not uniform{cause}: gaps found {_gap_summary(gaps)}. "
        f"Resampled the {len(zk)} slices onto a uniform grid of {m} slices {median_gap:.2f} mm apart (the median gap), "
        f"from {zk[0]:.2f} to {target[-1]:.2f} mm along the slice normal, by linear interpolation between "
        "neighbouring slices, so that every slice lies at its true position."
    )
    return StackPlan(tuple(positions[0]), direction, median_gap, z, target, keep, tilt_deg, tuple(warnings))


def resample_stack(array: np.ndarray, plan: StackPlan) -> np.ndarray:
    """The slices of ``array`` ([k, j, i], in reading order) on ``plan.target_z``.

    Linear interpolation between the two neighbouring kept slices; a target that falls
    on a slice (within 1e-4 of the gap) copies it exactly. The dtype is kept (integers
    are rounded), and the work is done one output slice at a time.
    """
    if plan.target_z is None:
        return array
    index = np.flatnonzero(plan.keep)
    z = plan.source_z[index]
    out = np.empty((len(plan.target_z),) + array.shape[1:], dtype=array.dtype)
    integer = array.dtype.kind in "iu"
    for m, t in enumerate(plan.target_z):
        upper = int(np.clip(np.searchsorted(z, t, side="right"), 1, len(z) - 1))
        lower = upper - 1
        w = (t - z[lower]) / (z[upper] - z[lower])
        if w <= 1e-4:
            out[m] = array[index[lower]]
        elif w >= 1 - 1e-4:
            out[m] = array[index[upper]]
        else:
            mixed = (1.0 - w) * array[index[lower]].astype(np.float32) + w * array[index[upper]].astype(np.float32)
            out[m] = np.rint(mixed) if integer else mixed
    return out
