"""Pedicles of a vertebra found from its mask, and the alignment of a transpedicular path with one.

The analysis works on any vertebra mask (a ``vertebrae_*`` label of a real label map, the
phantom's, or bone from CT thresholds) in the patient's LPS axes:

- the **canal** is the hole that the vertebral ring encloses in axial slices (the ring is
  closed at the pedicles' height); when no slice closes it, the gap in the bone along the
  mid-sagittal strip between the body and the spinous process;
- the **body** is the bone in front of the canal;
- each **pedicle** is the narrow bony bridge beside the canal between the body and the
  posterior arch: around the coronal slab (constant y) of that side's bone with the
  smallest cross-section area, between the canal's front and the middle of its back half,
  the band of slabs within 30 % of that area; its centre is the band's centroid.

`align_transpedicular` keeps the target and turns the path about it so that the needle
stays as far as possible from the pedicle cortex: it minimises a soft maximum of the
bone's signed distance (negative inside) over the path's samples within the pedicle
band, by Nelder-Mead over two angles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, optimize

from osteoplan.core.imaging.bone_fields import BoneStructures, CropField, hu_bone_mask
from osteoplan.core.imaging.case import Case
from osteoplan.core.planning.trajectory import Side, Trajectory

CANAL_MIN_AREA_MM2 = 30.0  # smaller enclosed holes are foramina or segmentation gaps, not the canal
MIN_CANAL_DEPTH_MM = 5.0  # antero-posterior; less is a vertebra cut by the scan range
MIN_BODY_DEPTH_MM = 10.0
PEDICLE_MIN_AREA_MM2 = 8.0  # thinner slabs are noise at the edge of the search band
PEDICLE_BAND_FACTOR = 1.3  # the pedicle band: slabs within this factor of the narrowest one
PEDICLE_BAND_MARGIN_MM = 1.0
SOFT_MAX_MM = 0.2  # temperature of the soft maximum (mm): smooth for the optimiser, ~max
ALIGN_STEP_MM = 0.25
ENTRY_CLEARANCE_MM = 1.0  # an aligned entry ending in bone is pulled back until this far out
ENTRY_PULL_BACK_MM = 80.0


@dataclass(frozen=True)
class PedicleEstimate:
    side: str  # "left" (+x) or "right"
    center_lps: np.ndarray  # centroid of the narrow part (the band)
    band_y_mm: tuple[float, float]  # AP range (LPS y) of the narrow part
    area_mm2: float  # cross-section of the narrowest slab


@dataclass(frozen=True, eq=False)
class VertebraAnatomy:
    field: CropField  # signed distance of the vertebra (+ lesion), mm
    canal_center_lps: np.ndarray
    canal_y_mm: tuple[float, float]  # front (posterior wall of the body) and back
    body_anterior_y_mm: float
    pedicles: dict[str, PedicleEstimate]  # by side; a side is missing when no pedicle was found


def voxel_points_lps(mask: np.ndarray, start_kji, field: CropField, step_kji=(1, 1, 1)) -> np.ndarray:
    """LPS centres of the voxels of a mask subsampled by `step_kji` from the case grid at `start_kji`."""
    kji = np.argwhere(mask) * np.asarray(step_kji) + np.asarray(start_kji)
    return field.grid.index_to_lps(kji[:, ::-1].astype(float))


def _canal_from_holes(mask: np.ndarray, start_kji, field: CropField, points: np.ndarray) -> np.ndarray | None:
    step = field.step_kji
    in_slice = np.zeros((3, 3, 3), dtype=bool)
    in_slice[1] = ndimage.generate_binary_structure(2, 1)  # fill and label within axial slices only
    holes = ndimage.binary_fill_holes(mask, structure=in_slice) & ~mask
    components, count = ndimage.label(holes, structure=in_slice)
    if count == 0:
        return None
    sx, sy = field.grid.spacing[0] * step[2], field.grid.spacing[1] * step[1]
    sizes = np.bincount(components.ravel())[1:] * sx * sy  # per component (one slice each)
    keep = np.flatnonzero(sizes >= CANAL_MIN_AREA_MM2) + 1
    if len(keep) == 0:
        return None
    canal = voxel_points_lps(np.isin(components, keep), start_kji, field, step)
    centre_y = points[:, 1].mean()
    canal = canal[canal[:, 1] > centre_y - 5.0]  # a hole in the body (unlabelled lesion) is not the canal
    return canal if len(canal) else None


def _canal_from_midline_gap(points: np.ndarray) -> np.ndarray | None:
    mid_x = float(np.median(points[:, 0]))
    strip = points[np.abs(points[:, 0] - mid_x) < 3.0]
    if len(strip) == 0:
        return None
    y = np.arange(np.floor(strip[:, 1].min()), np.ceil(strip[:, 1].max()) + 1.0)
    filled = np.histogram(strip[:, 1], bins=y)[0] > 0
    gaps, count = ndimage.label(~filled)
    if count == 0:
        return None
    longest = np.argmax(np.bincount(gaps)[1:]) + 1
    ys = y[:-1][gaps == longest] + 0.5
    z = float(np.median(strip[:, 2]))
    return np.column_stack([np.full(len(ys), mid_x), ys, np.full(len(ys), z)])


def _pedicle(points: np.ndarray, side: str, canal_x: float, y_lo: float, y_hi: float,
             voxel_mm3: float, bin_mm: float) -> PedicleEstimate | None:
    sign = 1.0 if side == "left" else -1.0
    lateral = points[sign * (points[:, 0] - canal_x) > 1.0]
    if len(lateral) == 0:
        return None
    # Whole bins inside [y_lo, y_hi], their edges half-way between voxel rows (no row on an
    # edge, no part-filled bin at either end to fake a narrow slab).
    row_y = float(lateral[0, 1])
    first = row_y + bin_mm * (np.ceil((y_lo - row_y) / bin_mm - 0.5) + 0.5)
    edges = first + bin_mm * np.arange(int(np.floor((y_hi - first) / bin_mm)) + 1)
    if len(edges) < 2:
        return None
    lateral = lateral[(lateral[:, 1] >= edges[0]) & (lateral[:, 1] < edges[-1])]
    area = np.histogram(lateral[:, 1], bins=edges)[0] * voxel_mm3 / bin_mm
    area = ndimage.uniform_filter1d(area, 3, mode="nearest")
    candidates = np.flatnonzero(area >= PEDICLE_MIN_AREA_MM2)
    if len(candidates) == 0:
        return None
    narrowest = int(candidates[np.argmin(area[candidates])])
    lo = hi = narrowest
    limit = area[narrowest] * PEDICLE_BAND_FACTOR
    while lo > 0 and PEDICLE_MIN_AREA_MM2 <= area[lo - 1] <= limit:
        lo -= 1
    while hi < len(area) - 1 and PEDICLE_MIN_AREA_MM2 <= area[hi + 1] <= limit:
        hi += 1
    band = lateral[(lateral[:, 1] >= edges[lo]) & (lateral[:, 1] < edges[hi + 1])]
    centre = band.mean(axis=0)  # mid-way along the narrow part, on its axis
    return PedicleEstimate(side, centre, (float(edges[lo]), float(edges[hi + 1])), float(area[narrowest]))


def analyse_vertebra(mask: np.ndarray, start_kji, field: CropField) -> VertebraAnatomy:
    """Canal, body and pedicles of one vertebra given as a [k, j, i] mask on a box of the case grid.

    The mask is read on the grid of its distance field (`field.step_kji`): thin slices add
    nothing here but time.
    """
    step = field.step_kji
    mask = mask[::step[0], ::step[1], ::step[2]]
    points = voxel_points_lps(mask, start_kji, field, step)
    if len(points) == 0:
        raise ValueError("the vertebra mask is empty")
    canal = _canal_from_holes(mask, start_kji, field, points)
    if canal is None:
        canal = _canal_from_midline_gap(points)
    if canal is None:
        raise ValueError("no spinal canal found behind this vertebral body")
    canal_x, canal_y, canal_z = np.median(canal, axis=0)
    front, back = np.percentile(canal[:, 1], [5, 95])
    near_midline = points[(np.abs(points[:, 0] - canal_x) < 10.0) & (points[:, 1] < front)]
    anterior = float(np.percentile(near_midline[:, 1], 1)) if len(near_midline) else float(points[:, 1].min())
    if back - front < MIN_CANAL_DEPTH_MM or front - anterior < MIN_BODY_DEPTH_MM:
        raise ValueError("this vertebra is incomplete in the image (cut by the scan range?): "
                         "no body and canal to plan through")
    voxel_mm3 = float(np.prod(np.asarray(field.grid.spacing) * step[::-1]))
    # Whole rows of voxels per bin: bins narrower than the row spacing alias the area profile.
    row_mm = float(field.grid.spacing[1] * step[1])
    bin_mm = row_mm * max(1, round(1.0 / row_mm))
    y_lo, y_hi = front - 4.0, canal_y + 0.5 * (back - canal_y)
    pedicles = {}
    for side in ("left", "right"):
        estimate = _pedicle(points, side, float(canal_x), y_lo, y_hi, voxel_mm3, bin_mm)
        if estimate is not None:
            pedicles[side] = estimate
    return VertebraAnatomy(field, np.array([canal_x, canal_y, canal_z]), (float(front), float(back)), anterior,
                           pedicles)


# --- alignment ---------------------------------------------------------------------------
def _direction(angles: np.ndarray) -> np.ndarray:
    azimuth, elevation = angles
    return np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])


def _angles(direction: np.ndarray) -> np.ndarray:
    d = direction / np.linalg.norm(direction)
    return np.array([np.arctan2(d[1], d[0]), np.arcsin(np.clip(d[2], -1.0, 1.0))])


def pedicle_clearance_cost(field: CropField, pedicle: PedicleEstimate, target: np.ndarray,
                           outward: np.ndarray, length_mm: float) -> float:
    """Soft maximum (mm) of the bone's signed distance over the path's samples in the pedicle band.

    Lower is better (more negative: deeper inside). Paths that miss the band cost 100 + miss distance.
    """
    s = np.arange(0.0, length_mm + ALIGN_STEP_MM, ALIGN_STEP_MM)
    points = target + s[:, None] * outward
    lo, hi = pedicle.band_y_mm
    near = np.linalg.norm(points - pedicle.center_lps, axis=1) < 20.0
    in_band = (points[:, 1] >= lo - PEDICLE_BAND_MARGIN_MM) & (points[:, 1] <= hi + PEDICLE_BAND_MARGIN_MM)
    selected = points[near & in_band]
    if len(selected) == 0:
        return 100.0 + float(np.min(np.linalg.norm(points - pedicle.center_lps, axis=1)))
    sdf = field.sample(selected).astype(float)
    top = float(sdf.max())
    return top + SOFT_MAX_MM * float(np.log(np.mean(np.exp((sdf - top) / SOFT_MAX_MM))))


def aligned_direction(field: CropField, pedicle: PedicleEstimate, target: np.ndarray, outward: np.ndarray,
                      length_mm: float) -> np.ndarray:
    """Unit vector from the target back towards the entry that keeps the needle deepest in the pedicle."""
    def cost(angles):
        return pedicle_clearance_cost(field, pedicle, target, _direction(angles), length_mm)

    starts = [outward / np.linalg.norm(outward)]
    through_centre = pedicle.center_lps - target
    if np.linalg.norm(through_centre) > 1e-6:
        starts.append(through_centre / np.linalg.norm(through_centre))
    best_angles, best_cost = None, np.inf
    step = np.radians(3.0)
    for start in starts:
        a0 = _angles(start)
        simplex = np.array([a0, a0 + (step, 0.0), a0 + (0.0, step)])
        result = optimize.minimize(cost, a0, method="Nelder-Mead",
                                   options={"initial_simplex": simplex, "xatol": 1e-4, "fatol": 1e-4,
                                            "maxiter": 400})
        if result.fun < best_cost:
            best_angles, best_cost = result.x, float(result.fun)
    return _direction(best_angles)


def vertebra_at(structures: BoneStructures, point_lps, target_structure: str | None = None,
                ) -> tuple[np.ndarray, tuple[int, int, int], CropField]:
    """Mask, box start and distance field of the vertebra at (or nearest to) a point."""
    point = np.asarray(point_lps, dtype=float)
    if structures.has_bone_labels:
        vertebrae = [v for v in structures.bone_values if structures.names[v].startswith("vertebrae_")]
        value = structures.value_of(target_structure) if target_structure else None
        if value not in vertebrae:
            value = structures.nearest_label(point, vertebrae, radius_mm=25.0)
        if value is None:
            raise ValueError("no vertebra (vertebrae_* label) within 25 mm of the point")
        mask, start = structures.structure_mask(value)
        return mask, start, structures.field_of_label(value)
    return hu_vertebra_at(structures, point)


def hu_vertebra_at(structures: BoneStructures, point: np.ndarray):
    """Without labels: the bone (CT threshold) connected to the point, in a box around one vertebra."""
    grid = structures.grid
    lo = grid.lps_to_index(point + np.array([-50.0, -40.0, -20.0]))
    hi = grid.lps_to_index(point + np.array([50.0, 70.0, 20.0]))
    lo_kji, hi_kji = np.minimum(lo, hi)[::-1], np.maximum(lo, hi)[::-1]
    crop = tuple(slice(max(0, int(a)), min(n, int(np.ceil(b)) + 1))
                 for a, b, n in zip(lo_kji, hi_kji, grid.array.shape))
    bone = hu_bone_mask(grid.array[crop], grid.spacing[::-1], structures.not_bone(crop))
    components, count = ndimage.label(bone)
    if count == 0:
        raise ValueError("no bone (CT threshold) near the point")
    start = np.array([s.start for s in crop])
    seed = np.clip(np.floor(grid.lps_to_index(point) + 0.5).astype(int)[::-1] - start, 0,
                   np.asarray(bone.shape) - 1)
    label = components[tuple(seed)]
    if label == 0:  # clicked just outside the bone: take the nearest component
        kji = np.argwhere(bone)
        label = components[tuple(kji[np.argmin(np.linalg.norm((kji - seed) * grid.spacing[::-1], axis=1))])]
    mask = components == label
    start_kji = tuple(int(v) for v in start)
    return mask, start_kji, structures.field_from_mask(mask, start_kji, "bone")


def infer_side(trajectory: Trajectory, anatomy: VertebraAnatomy) -> str:
    if trajectory.side in (Side.LEFT, Side.RIGHT):
        return trajectory.side.value
    return "left" if trajectory.entry[0] >= anatomy.canal_center_lps[0] else "right"


def align_transpedicular(case: Case, trajectory: Trajectory, radius_mm: float,
                         structures: BoneStructures | None = None) -> Trajectory:
    """The same path with its target kept and its entry moved so that the needle (of outer radius
    `radius_mm`) follows the pedicle as far from its cortex as possible; same length, unless the
    new entry would lie in the vertebra, when it is pulled back out of it."""
    structures = structures or BoneStructures(case)
    mask, start, field = vertebra_at(structures, trajectory.target, trajectory.target_structure)
    anatomy = analyse_vertebra(mask, start, field)
    side = infer_side(trajectory, anatomy)
    if side not in anatomy.pedicles:
        raise ValueError(f"no {side} pedicle found on this vertebra")
    entry = aligned_entry(anatomy.field, anatomy.pedicles[side], trajectory.target, -trajectory.axis,
                          trajectory.length_mm, radius_mm)
    return Trajectory.model_validate({**trajectory.model_dump(), "entry_lps": tuple(float(v) for v in entry)})


def aligned_entry(field: CropField, pedicle: PedicleEstimate, target: np.ndarray, outward: np.ndarray,
                  length_mm: float, radius_mm: float) -> np.ndarray:
    """The entry `length_mm` from the target along the aligned direction, pulled back (by up to
    ENTRY_PULL_BACK_MM) while the needle there would still touch the vertebra."""
    direction = aligned_direction(field, pedicle, target, outward, length_mm)
    length = length_mm
    while (float(field.sample(target + length * direction)) < radius_mm + ENTRY_CLEARANCE_MM
           and length < length_mm + ENTRY_PULL_BACK_MM):
        length += 1.0
    return target + length * direction
