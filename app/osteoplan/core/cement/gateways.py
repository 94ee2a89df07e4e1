"""Leak gateways that lie inside bone: the basivertebral foramen region of a vertebral body.

The basivertebral vein leaves the body through the centre of its posterior wall, at mid-height,
into the epidural venous plexus (resources/sources.md). The region is found from the labels alone, so
it works on the phantom and on a segmented CT alike: the canal (or cord) label gives the local
spine axis (its principal direction) and the midline; the vertebra's centroid lies in front of
the canal, which gives "anterior". The posterior wall is the hindmost body voxel in front of the
canal at the midline, mid-height of the body; the gateway is the strip of body (or lesion) voxels
from there `depth_mm` forwards, `half_width_mm` either side of the midline and `half_height_mm`
above and below mid-height (sizes in resources/cement_model.json). No canal label: no gateway.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BASIVERTEBRAL = "basivertebral foramen"
BASIVERTEBRAL_INTO = "epidural veins"  # a venous gateway: reaching it warns (resources/sources.md)
_MIN_CANAL_VOXELS = 10


@dataclass(frozen=True)
class WallStrip:
    """The basivertebral strip of one vertebra in LPS mm: a box in the (lateral, anterior, axial) frame."""

    center: np.ndarray  # the canal's centre at this level
    lateral: np.ndarray
    anterior: np.ndarray
    axis: np.ndarray
    wall: float  # anterior coordinate of the posterior wall (hindmost body voxel)
    mid_height: float  # axial coordinate of the body's mid-height
    half_width: float
    half_height: float
    depth: float

    def contains(self, points: np.ndarray) -> np.ndarray:
        d = points - self.center
        a = d @ self.anterior
        return ((np.abs(d @ self.lateral) <= self.half_width) & (np.abs(d @ self.axis - self.mid_height)
                                                                 <= self.half_height)
                & (a >= self.wall - 0.01) & (a <= self.wall + self.depth))


def _voxels_in(structure, box: tuple[slice, slice, slice]) -> np.ndarray:
    """kji indices (N, 3) of a structure's voxels inside a box of the CT grid."""
    sub = tuple(slice(max(b.start, s), min(b.stop, s + n))
                for b, s, n in zip(box, structure.start_kji, structure.box_mask.shape))
    if any(s.start >= s.stop for s in sub):
        return np.empty((0, 3), dtype=int)
    local = structure.box_mask[tuple(slice(s.start - st, s.stop - st) for s, st in zip(sub, structure.start_kji))]
    return np.argwhere(local) + np.array([s.start for s in sub])


def _lps(ct, kji: np.ndarray) -> np.ndarray:
    return ct.index_to_lps(kji[:, ::-1].astype(float))


def wall_strip(ct, vertebra, canals: list, lesions: list, params) -> WallStrip | None:
    """The basivertebral strip of `vertebra` (a Structure), or None where the labels do not show it."""
    box = vertebra.box
    canal = np.concatenate([_voxels_in(c, box) for c in canals]) if canals else np.empty((0, 3), dtype=int)
    if len(canal) < _MIN_CANAL_VOXELS:
        return None
    body = np.concatenate([np.argwhere(vertebra.box_mask) + np.asarray(vertebra.start_kji)]
                          + [_voxels_in(s, box) for s in lesions])  # a lytic wall still belongs to the body
    canal_pts, body_pts = _lps(ct, canal), _lps(ct, body)
    center = canal_pts.mean(axis=0)
    sample = canal_pts[:: max(1, len(canal_pts) // 20000)] - center
    axis = np.linalg.svd(sample, full_matrices=False)[2][0]  # the canal's principal direction
    axis = axis if axis[2] >= 0 else -axis
    forward = body_pts.mean(axis=0) - center
    forward -= (forward @ axis) * axis
    if np.linalg.norm(forward) < 1e-6:
        return None
    anterior = forward / np.linalg.norm(forward)
    lateral = np.cross(axis, anterior)
    spacing = float(max(ct.spacing))
    half_width = max(params.half_width_mm, 0.5 * spacing)
    half_height = max(params.half_height_mm, 0.5 * spacing)
    d = body_pts - center
    a, lat, h = d @ anterior, d @ lateral, d @ axis
    midline = (np.abs(lat) <= half_width) & (a > 0)  # body in front of the canal's centre
    if not midline.any():
        return None
    mid_height = 0.5 * float(h[midline].min() + h[midline].max())
    strip = midline & (np.abs(h - mid_height) <= half_height)
    if not strip.any():
        return None
    return WallStrip(center, lateral, anterior, axis, float(a[strip].min()), mid_height, half_width, half_height,
                     max(params.depth_mm, 1.5 * spacing))
