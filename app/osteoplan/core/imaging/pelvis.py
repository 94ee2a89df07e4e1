"""The femoral heads and necks and the iliac (hip) bones, on a CT that holds the sacrum.

On the `spine.analysis_grid`, below the top of the sacrum, on each side:

- the **femoral head** is the sphere whose surface best follows the hip joint: brighter just
  inside (the head's subchondral bone) and just outside (the acetabulum) than on it (the cartilage of
  the joint space), over the cranial half of the sphere that the acetabulum covers. The search
  starts at the deepest point of the filled bone on that side (the head sits in the thickest bone of
  the pelvis) and tries centres within `SEARCH_MM` and radii in `HEAD_RADIUS_MM` (adult femoral
  heads are 20-27 mm in radius; prosthetic heads 14-18 mm).
- the **femur** is that head with the bone that leaves it within `NECK_CONE_DEG` of the neck's
  usual direction (lateral, inferior and a little anterior: neck-shaft angle ~130°, anteversion ~15°):
  the neck, the trochanters and the shaft where the scan holds them. The ischium and the pubis lie
  outside that cone, and the acetabular rim above the head's centre within `RIM_MM` of its surface.
- the **hip bone** (ilium, ischium, pubis) is the largest piece of the remaining bone on that side,
  in the slices up to `ILIAC_CREST_MM` above the sacrum's top, without the vertebrae and the sacrum.

Metal (an arthroplasty) is reported, not hidden: the head is then the implant's, and a note says so.
Limits: the joint space is a few millimetres; on slices of 3 mm or more the fit is coarse (a few mm),
a head without joint space (ankylosis, advanced arthrosis) is found where the bone is thickest, and
the boundary between the sacrum and the ilium is the sacrum's lateral reach, not the sacroiliac joint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

SEARCH_MM = 12.0  # the head's centre lies this close to the deepest point of the hip's filled bone
HEAD_RADIUS_MM = (14.0, 30.0)
JOINT_INSIDE_MM, JOINT_OUTSIDE_MM = 2.0, 2.5  # the head's bone and the acetabulum's, from the joint's sphere
MIN_JOINT_CONTRAST_HU = 8.0  # a sphere whose surface is not darker than both sides is not a joint
NECK_DIRECTION = (-0.60, -0.25, 0.75)  # (z, y, x) on the LPS grid, left femur: down (-z), forwards (-y), lateral (+x)
NECK_CONE_DEG = 55.0
NECK_REACH_MM = 120.0
RIM_MM = 15.0  # the acetabular rim lies within this of the head's surface; the greater trochanter beyond it
SIDE_MARGIN_MM = 50.0  # the head lies at least this far from the canal's left-right position
ILIAC_CREST_MM = 80.0
MIN_HIP_ML = 20.0
METAL_HU = 2500.0
SIDES = {"left": 1, "right": -1}  # LPS: +x is the patient's left


@dataclass(frozen=True)
class FemoralHead:
    side: str
    centre: np.ndarray  # (z, y, x) analysis-grid voxels
    radius_mm: float
    contrast_hu: float  # how much darker the joint is than the bone on both sides of it
    metal_hu: float | None  # the highest HU in the head when it holds metal (an implant), else None


def _directions(count: int = 160) -> np.ndarray:
    """Unit vectors (z, y, x) spread evenly over the cranial half of a sphere (and a little below it)."""
    g = np.arange(2 * count) + 0.5
    polar = np.arccos(1 - g / count)  # 0..pi
    azimuth = np.pi * (1 + 5 ** 0.5) * g
    u = np.stack([np.cos(polar), np.sin(polar) * np.sin(azimuth), np.sin(polar) * np.cos(azimuth)], axis=1)
    return u[u[:, 0] > -0.1]


def _fit_head(smooth: np.ndarray, start: np.ndarray, spacing: float) -> tuple[float, np.ndarray, float]:
    """(contrast, centre, radius mm) of the best joint sphere near `start`: coarse grid, then finer."""
    directions = _directions()
    best = (-np.inf, start, HEAD_RADIUS_MM[0])
    for step_mm, reach_mm, radius_step in ((4.0, SEARCH_MM, 2.0), (1.0, 3.0, 1.0)):
        centre0, radius0 = best[1], best[2]
        offsets = np.arange(-reach_mm, reach_mm + 1e-6, step_mm) / spacing
        grid = np.stack(np.meshgrid(offsets, offsets, offsets, indexing="ij"), -1).reshape(-1, 3) + centre0
        low, high = HEAD_RADIUS_MM if radius_step == 2.0 else (radius0 - 2.0, radius0 + 2.0)
        for radius in np.arange(max(low, HEAD_RADIUS_MM[0]), min(high, HEAD_RADIUS_MM[1]) + 1e-6, radius_step):
            def shell(r_mm):
                points = grid[:, None, :] + directions[None] * (r_mm / spacing)
                return ndimage.map_coordinates(smooth, points.reshape(-1, 3).T, order=1).reshape(len(grid), -1).mean(1)
            joint = shell(radius)
            contrast = np.minimum(shell(radius - JOINT_INSIDE_MM), shell(radius + JOINT_OUTSIDE_MM)) - joint
            i = int(np.argmax(contrast))
            if contrast[i] > best[0]:
                best = (float(contrast[i]), grid[i], float(radius))
    return best


def find_femoral_heads(hu: np.ndarray, bone: np.ndarray, sacrum_top: int, canal_x: float,
                       spacing: float) -> list[FemoralHead]:
    """The femoral heads below the sacrum's top slice (see the module docstring), left and/or right."""
    # the heads lie below the sacrum's top: the search needs only those slices and a margin for the spheres
    top = min(bone.shape[0], sacrum_top + 1 + int(np.ceil((HEAD_RADIUS_MM[1] + SEARCH_MM) / spacing)))
    filled = np.zeros((top, *bone.shape[1:]), bool)
    filled[:sacrum_top + 1] = [ndimage.binary_fill_holes(b) for b in bone[:sacrum_top + 1]]
    depth = ndimage.distance_transform_edt(filled) * spacing
    smooth = ndimage.gaussian_filter(np.clip(hu[:top], -200, 1500).astype(np.float32), 0.7)
    xx = np.arange(bone.shape[2])
    heads = []
    for side, sign in SIDES.items():
        lateral = (xx - canal_x) * sign * spacing >= SIDE_MARGIN_MM
        side_depth = np.where(lateral[None, None, :], depth, 0.0)
        if side_depth.max() < HEAD_RADIUS_MM[0] * 0.5:
            continue
        start = np.asarray(np.unravel_index(int(np.argmax(side_depth)), depth.shape), float)
        contrast, centre, radius = _fit_head(smooth, start, spacing)
        if contrast < MIN_JOINT_CONTRAST_HU:
            continue
        inside = _sphere(filled.shape, centre, radius / spacing)
        peak = float(hu[:top][inside].max()) if inside.any() else 0.0
        heads.append(FemoralHead(side, centre, radius, contrast, peak if peak >= METAL_HU else None))
    return heads


def _sphere(shape, centre, radius_voxels) -> np.ndarray:
    zz, yy, xx = np.ogrid[:shape[0], :shape[1], :shape[2]]
    return ((zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2) <= radius_voxels ** 2


def femur_mask(bone: np.ndarray, head: FemoralHead, spacing: float) -> np.ndarray:
    """The femur of `head`: the head's sphere and the bone connected to it inside the neck's cone."""
    radius = head.radius_mm / spacing
    sphere = _sphere(bone.shape, head.centre, radius)
    axis = np.asarray(NECK_DIRECTION) * [1, 1, SIDES[head.side]]
    axis = axis / np.linalg.norm(axis)
    zz, yy, xx = np.ogrid[:bone.shape[0], :bone.shape[1], :bone.shape[2]]
    offset = [zz - head.centre[0], yy - head.centre[1], xx - head.centre[2]]
    distance = np.sqrt(offset[0] ** 2 + offset[1] ** 2 + offset[2] ** 2)
    along = offset[0] * axis[0] + offset[1] * axis[1] + offset[2] * axis[2]
    cone = (along >= distance * np.cos(np.radians(NECK_CONE_DEG))) & (distance * spacing <= NECK_REACH_MM)
    # above the head's centre, near it, is the acetabulum's rim (the cup opens laterally and downwards)
    cone &= (offset[0] <= 0) | (distance * spacing >= head.radius_mm + RIM_MM)
    candidates = (bone & cone) | sphere
    labels, _ = ndimage.label(candidates)
    keep = np.unique(labels[sphere])
    return np.isin(labels, keep[keep > 0])


def hip_mask(bone: np.ndarray, taken: np.ndarray, side: str, sacrum_top: int, canal_x: float,
             spacing: float) -> np.ndarray | None:
    """The hip bone of `side`: the largest piece of bone on that side, not `taken` (vertebrae, sacrum, femur),
    up to ILIAC_CREST_MM above the sacrum's top; None when there is none of MIN_HIP_ML."""
    top = min(bone.shape[0], sacrum_top + int(round(ILIAC_CREST_MM / spacing)) + 1)
    xx = np.arange(bone.shape[2])
    region = np.zeros(bone.shape, bool)
    region[:top] = bone[:top] & ~taken[:top] & ((xx - canal_x) * SIDES[side] > 0)[None, None, :]
    labels, count = ndimage.label(region)
    if not count:
        return None
    sizes = ndimage.sum(region, labels, range(1, count + 1))
    largest = int(np.argmax(sizes))
    if sizes[largest] * spacing ** 3 / 1000.0 < MIN_HIP_ML:
        return None
    return labels == largest + 1
