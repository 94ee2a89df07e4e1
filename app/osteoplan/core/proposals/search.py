"""The coarse stage of the path proposals: many straight rays from the target outwards, vectorised.

Every ray is sampled every `step_mm` from its tip outwards at once (rays x samples x 3):
- the skin is the first exit from the body (the readouts' body mask, nearest voxel) that is
  followed by AIR_RUN_MM of air, as the path templates find it; a ray that does not leave
  the body within the device's reach is "too long";
- each hazard's distance field (the safety engine's cached `CropField`s) is sampled only at the
  samples inside that field's box (elsewhere it reads "at least the field's margin"), which
  gives every ray's minimum distance to every hazard;
- bone along the ray (the readouts' bone bit) gives the length in soft tissue;
- for transpedicular rays, the vertebra's signed distance over the pedicle's narrow band (as
  `pedicle.pedicle_clearance_cost` reads it) gives a coarse breach.

Only the best of these are then evaluated exactly (whole-needle distances and readouts, see
`proposals`); the coarse numbers also colour the risk map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from osteoplan.core.imaging.bone_fields import BODY_BIT, BONE_BIT, CropField
from osteoplan.core.imaging.volume import Volume
from osteoplan.core.planning.pedicle import PEDICLE_BAND_MARGIN_MM, PedicleEstimate
from osteoplan.core.planning.templates import AIR_RUN_MM

PEDICLE_REACH_MM = 20.0  # samples this close to the pedicle's centre, in its band, are "in the pedicle"


def sided_directions(transverse_range, sagittal_range, step_deg: float, side: str) -> tuple[np.ndarray, np.ndarray]:
    """Outward unit vectors (target -> entry) of a posterior sided approach on a grid of angles,
    and their (transverse, sagittal) angles in degrees (readouts' convention: medial positive,
    tip caudal positive). `side`: "left" (entry on the patient's left, +x) or "right"."""
    sign = 1.0 if side == "left" else -1.0
    transverse = np.arange(transverse_range[0], transverse_range[1] + 1e-9, step_deg)
    sagittal = np.arange(sagittal_range[0], sagittal_range[1] + 1e-9, step_deg)
    t, s = np.meshgrid(np.radians(transverse), np.radians(sagittal), indexing="ij")
    t, s = t.ravel(), s.ravel()
    directions = np.column_stack([sign * np.sin(t) * np.cos(s), np.cos(t) * np.cos(s), np.sin(s)])
    return directions, np.degrees(np.column_stack([t, s]))


def sphere_directions(step_deg: float) -> np.ndarray:
    """About uniformly spread unit vectors (a Fibonacci sphere) about `step_deg` apart."""
    count = max(12, int(round(4.0 * math.pi / math.radians(step_deg) ** 2)))
    index = np.arange(count) + 0.5
    z = 1.0 - 2.0 * index / count
    azimuth = math.pi * (1.0 + 5.0 ** 0.5) * index
    r = np.sqrt(1.0 - z * z)
    return np.column_stack([r * np.cos(azimuth), r * np.sin(azimuth), z])


def turned_directions(direction, angle_deg: float) -> np.ndarray:
    """The 8 directions around `direction`, `angle_deg` away along two perpendicular axes and their diagonals."""
    d = np.asarray(direction, dtype=float)
    helper = np.array([0.0, 0.0, 1.0]) if abs(d[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(d, helper)
    u /= np.linalg.norm(u)
    v = np.cross(d, u)
    offsets = [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0)]
    tan = math.tan(math.radians(angle_deg))
    turned = np.array([d + tan * (a * u + b * v) for a, b in offsets])
    return turned / np.linalg.norm(turned, axis=1, keepdims=True)


def field_box_lps(field: CropField) -> tuple[np.ndarray, np.ndarray]:
    """The LPS bounding box of a field's samples (axis-aligned; generous on an oblique grid)."""
    last = np.asarray(field.start_kji) + np.asarray(field.step_kji) * (np.asarray(field.values.shape) - 1)
    corners_kji = np.array([[a, b, c] for a in (field.start_kji[0], last[0]) for b in (field.start_kji[1], last[1])
                            for c in (field.start_kji[2], last[2])], dtype=float)
    corners = field.grid.index_to_lps(corners_kji[:, ::-1])
    return corners.min(axis=0), corners.max(axis=0)


@dataclass(frozen=True)
class RayNumbers:
    """Coarse numbers of rays (one row per ray)."""

    skin_mm: np.ndarray  # tip to skin along the ray; nan when the skin is beyond reach
    bone_mm: np.ndarray  # bone between the tip and the skin
    hazard_min_mm: np.ndarray  # (rays, hazards): minimum of each hazard's field along the ray (axis, not surface)
    pedicle_excess_mm: np.ndarray  # max of the vertebra's field (+ radius) in the pedicle band; nan: not asked; inf: missed


def coarse_rays(grid: Volume, bits: np.ndarray, tips: np.ndarray, directions: np.ndarray, reach_mm: float,
                fields: list[CropField], step_mm: float = 1.0, radius_mm: float = 0.0,
                vertebra: CropField | None = None, pedicle: PedicleEstimate | None = None) -> RayNumbers:
    """Skin crossing, bone length, hazard minima and pedicle excess of rays from `tips` along `directions`.

    `bits`: the readouts' case masks (`CaseMasks.bits`, body and bone bits). `reach_mm`: how
    far the skin may be (the device's length); rays are sampled AIR_RUN_MM beyond it.
    """
    rays = len(tips)
    s = np.arange(0.0, reach_mm + AIR_RUN_MM + step_mm, step_mm)
    points = tips[:, None, :] + s[None, :, None] * directions[:, None, :]  # (rays, samples, 3)
    flat = points.reshape(-1, 3)
    # the grid is affine: index the rays' samples from their tips' indices (no per-sample conversion)
    tip_ijk = grid.lps_to_index(tips)
    step_ijk = grid.lps_to_index(tips + directions) - tip_ijk
    ijk = tip_ijk[:, None, :] + s[None, :, None] * step_ijk[:, None, :]
    kji = np.floor(ijk.reshape(-1, 3)[:, ::-1] + 0.5).astype(np.int64)
    shape = np.asarray(bits.shape)
    on_grid = np.all((kji >= 0) & (kji < shape), axis=1)
    kji = np.clip(kji, 0, shape - 1)
    values = np.where(on_grid, bits[kji[:, 0], kji[:, 1], kji[:, 2]], 0).reshape(rays, len(s))
    body = (values & BODY_BIT) > 0
    air = ~body & on_grid.reshape(rays, len(s))
    # Beyond the image counts as air only after real air: a ray that leaves the image while
    # still in the body (cut by the scan range) has no skin to enter through.
    run = max(1, int(round(AIR_RUN_MM / step_mm)))
    beyond = np.full((rays, run), np.iinfo(np.int64).max // 4)  # past the last sample: no body
    not_body = np.concatenate([np.cumsum(~body, axis=1), beyond], axis=1)
    air_ahead = not_body[:, run:run + len(s)] - not_body[:, :len(s)] >= run  # the next `run` samples hold no body
    exits = body & air_ahead & np.concatenate([air[:, 1:], np.zeros((rays, 1), bool)], axis=1)
    exits[:, s > reach_mm] = False
    found = exits.any(axis=1)
    first = np.argmax(exits, axis=1)
    skin = np.where(found, s[first] + step_mm / 2.0, np.nan)
    inside = s[None, :] <= np.where(found, skin, -1.0)[:, None]  # samples between the tip and the skin
    bone = ((values & BONE_BIT) > 0) & inside
    bone_mm = bone.sum(axis=1) * step_mm

    minima = np.full((rays, len(fields)), np.inf)
    far_end = tips + directions * np.nan_to_num(skin, nan=0.0)[:, None]
    ray_low, ray_high = np.minimum(tips, far_end), np.maximum(tips, far_end)
    for column, field in enumerate(fields):
        low, high = field_box_lps(field)
        rows = np.flatnonzero(np.all((ray_high >= low) & (ray_low <= high), axis=1))  # rays that meet its box
        if len(rows) == 0:
            continue
        near = points[rows].reshape(-1, 3)
        selected = inside[rows].reshape(-1) & np.all((near >= low) & (near <= high), axis=1)
        sampled = np.full(near.shape[0], np.inf)
        sampled[selected] = field.sample(near[selected])
        minima[rows, column] = sampled.reshape(len(rows), len(s)).min(axis=1)

    excess = np.full(rays, np.nan)
    if vertebra is not None and pedicle is not None:
        lo, hi = pedicle.band_y_mm
        band = ((flat[:, 1] >= lo - PEDICLE_BAND_MARGIN_MM) & (flat[:, 1] <= hi + PEDICLE_BAND_MARGIN_MM)
                & (np.linalg.norm(flat - pedicle.center_lps, axis=1) < PEDICLE_REACH_MM) & inside.reshape(-1))
        sampled = np.full(flat.shape[0], -np.inf)
        if band.any():
            sampled[band] = vertebra.sample(flat[band]) + radius_mm
        per_ray = sampled.reshape(rays, len(s)).max(axis=1)
        excess = np.where(np.isfinite(per_ray), np.maximum(per_ray, 0.0), np.inf)
    return RayNumbers(skin, bone_mm, minima, excess)
