"""Geometry of a lumbar vertebra (body, pedicles, laminae, processes, facets) in LPS mm.

The column is straight along z (no lordosis): every body's posterior wall lies at
y = POSTERIOR_WALL_Y, the canal is an elliptic cylinder behind it. Level centres are
LEVEL_Z apart by one body (26 mm) plus one disc (10 mm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .shapes import F, AxisTube, Box, Shape, SuperEllipsoid, Union, unit

LEVELS = ("T12", "L1", "L2", "L3", "L4")
LEVEL_Z = {"T12": 72.0, "L1": 36.0, "L2": 0.0, "L3": -36.0, "L4": -72.0}
BODY_HALF_WIDTH_MM = {"T12": 19.0, "L1": 20.0, "L2": 21.0, "L3": 22.0, "L4": 23.0}
BODY_HALF_DEPTH_MM = {"T12": 14.5, "L1": 15.0, "L2": 16.0, "L3": 16.5, "L4": 17.0}
BODY_HALF_HEIGHT_MM = 13.0
DISC_HEIGHT_MM = 10.0
POSTERIOR_WALL_Y = 16.0
CANAL_CENTER_Y = 21.5
CANAL_HALF_WIDTH_MM = 11.0
CANAL_HALF_DEPTH_FRONT_MM = 7.5  # to the (concave) posterior wall
CANAL_HALF_DEPTH_BACK_MM = 9.0  # to the ligamenta flava; the back half is a rounded triangle
# Pedicles: elliptic cylinders along their axis; half-width across the axis in the axial
# plane (the medial/lateral breach margin), half-height along z.
PEDICLE_HALF_WIDTH_MM = {"T12": 3.75, "L1": 4.0, "L2": 4.5, "L3": 5.0, "L4": 5.5}
PEDICLE_HALF_HEIGHT_MM = 7.5
PEDICLE_MEDIAL_ANGLE_DEG = {"T12": 0.0, "L1": 5.0, "L2": 10.0, "L3": 15.0, "L4": 20.0}
PEDICLE_CENTER_Y = 20.0
PEDICLE_Z_OFFSET_MM = 3.0  # pedicles attach to the upper half of the body
TRANSVERSE_TIP_X = {"T12": 26.0, "L1": 38.0, "L2": 44.0, "L3": 50.0, "L4": 47.0}
FACET_ANGLE_DEG = {"T12": 20.0, "L1": 25.0, "L2": 30.0, "L3": 35.0, "L4": 40.0}  # joint above the level
SIDES = {"left": 1.0, "right": -1.0}
SPINOUS_BASE = np.array([0.0, 35.0, -2.0])  # relative to the level centre
SPINOUS_AXIS = np.array([0.0, math.cos(math.radians(12)), -math.sin(math.radians(12))])
SPINOUS_LENGTH_MM = 30.0  # +x is patient left in LPS


def body_center(level: str) -> np.ndarray:
    return np.array([0.0, POSTERIOR_WALL_Y - BODY_HALF_DEPTH_MM[level], LEVEL_Z[level]])


class VertebralBody(Shape):
    """Kidney-shaped cylinder: concave posterior wall, waisted sides, concave endplates.

    `waist` < 0 makes it bulge instead (an intervertebral disc).
    """

    def __init__(self, center, half_width, half_depth, half_height, concavity=2.0, waist=0.05,
                 endplate_dip=1.2, p=2.3, flat=14.0):
        self.center = np.asarray(center, dtype=float)
        self.a, self.b, self.h = float(half_width), float(half_depth), float(half_height)
        self.concavity, self.waist, self.dip, self.p, self.flat = concavity, waist, endplate_dip, p, flat
        bulge = max(0.0, -waist) * max(self.a, self.b)
        extent = np.array([self.a + bulge, self.b + bulge, self.h])
        self.lo, self.hi = self.center - extent, self.center + extent

    def level(self, x, y, z):
        cx, cy, cz = (float(c) for c in self.center)
        dx, dy, dz = np.abs(x - cx), y - cy, z - cz
        rz = np.minimum(np.abs(dz) * (1.0 / self.h), 1.0)
        waist = 1.0 - self.waist * (1.0 - rz * rz)
        back = np.clip(dy * (1.0 / self.b), 0.0, 1.0)
        dy_eff = np.abs(dy + self.concavity * np.exp(-(dx * (2.0 / self.a)) ** 2) * back * back)
        radial = (dx / (self.a * waist)) ** self.p + (dy_eff / (self.b * np.where(dy < 0, waist, 1.0))) ** self.p
        height = self.h - self.dip * np.clip(1.0 - radial, 0.0, 1.0)
        return radial + (np.abs(dz) / height) ** self.flat

    def inside(self, x, y, z):
        return self.level(x, y, z) <= 1.0


def body_shape(level: str, inflate: float = 0.0) -> VertebralBody:
    return VertebralBody(body_center(level), BODY_HALF_WIDTH_MM[level] + inflate,
                         BODY_HALF_DEPTH_MM[level] + inflate, BODY_HALF_HEIGHT_MM + inflate)


def disc_shape(upper: str, lower: str) -> VertebralBody:
    a = (BODY_HALF_WIDTH_MM[upper] + BODY_HALF_WIDTH_MM[lower]) / 2 + 0.8
    b = (BODY_HALF_DEPTH_MM[upper] + BODY_HALF_DEPTH_MM[lower]) / 2 + 0.8
    z = (LEVEL_Z[upper] + LEVEL_Z[lower]) / 2
    center = (0.0, POSTERIOR_WALL_Y + 0.8 - b, z)
    return VertebralBody(center, a, b, DISC_HEIGHT_MM / 2 + 1.6, concavity=1.5, waist=-0.03, endplate_dip=0.0)


def canal_shape(z_lo: float = -400.0, z_hi: float = 400.0) -> Shape:
    """The bony canal along z: oval in front, a rounded triangle behind (flat ends far off the grid)."""
    half_z, zc = (z_hi - z_lo) / 2, (z_lo + z_hi) / 2
    c = (0.0, CANAL_CENTER_Y, zc)
    front = SuperEllipsoid(c, (CANAL_HALF_WIDTH_MM, CANAL_HALF_DEPTH_FRONT_MM, half_z), p=2.0, q=16.0)
    back = SuperEllipsoid(c, (CANAL_HALF_WIDTH_MM, CANAL_HALF_DEPTH_BACK_MM, half_z), p=1.6, q=16.0)
    return Union([front & Box((-50, -100, z_lo), (50, CANAL_CENTER_Y, z_hi)),
                  back & Box((-50, CANAL_CENTER_Y, z_lo), (50, 100, z_hi))])


@dataclass(frozen=True)
class PedicleAxis:
    """Ground truth of one pedicle: its centre, axis and cross-section (LPS mm)."""

    level: str
    side: str
    center: tuple[float, float, float]
    direction: tuple[float, float, float]  # unit, from posterior entry towards the body
    entry: tuple[float, float, float]  # where the axis leaves the bone posteriorly
    half_width_mm: float  # across the axis in the axial plane
    half_height_mm: float  # along z
    medial_angle_deg: float


def pedicle_center(level: str, side: str) -> np.ndarray:
    s = SIDES[side]
    return np.array([s * (CANAL_HALF_WIDTH_MM + PEDICLE_HALF_WIDTH_MM[level]), PEDICLE_CENTER_Y,
                     LEVEL_Z[level] + PEDICLE_Z_OFFSET_MM])


def pedicle_direction(level: str, side: str) -> np.ndarray:
    """Unit axis from posterior to anterior, converging medially by the level's angle."""
    theta = math.radians(PEDICLE_MEDIAL_ANGLE_DEG[level])
    return np.array([-SIDES[side] * math.sin(theta), -math.cos(theta), 0.0])


def _joint_frame(level_below: str, side: str):
    """Facet joint between `level_below` and the level above: centre, line direction u, normal n.

    The joint line runs from antero-medial to postero-lateral; n points from the superior
    articular process (lower vertebra, lateral) to the inferior one (upper, medial).
    """
    s, phi = SIDES[side], math.radians(FACET_ANGLE_DEG[level_below])
    center = np.array([s * 14.5, 37.0, LEVEL_Z[level_below] + 12.0])
    u = np.array([s * math.sin(phi), math.cos(phi), 0.0])
    n = np.array([-s * math.cos(phi), math.sin(phi), 0.0])
    return center, u, n


def vertebra_parts(level: str) -> list[Shape]:
    zc = LEVEL_Z[level]
    parts: list[Shape] = [body_shape(level)]
    below = LEVELS[LEVELS.index(level) + 1] if level != LEVELS[-1] else None
    for side, s in SIDES.items():
        d = pedicle_direction(level, side)
        p = pedicle_center(level, side)
        parts.append(AxisTube(p - 13.0 * d, d, 27.0, (0, 0, 1), [0, 27], [PEDICLE_HALF_HEIGHT_MM] * 2,
                              [PEDICLE_HALF_WIDTH_MM[level]] * 2))
        # lamina: from the articular pillar to the spinous base, lower edge further back
        a, b = np.array([s * 15.5, 29.0, zc - 4.0]), np.array([0.0, 36.5, zc - 4.0])
        psi = math.radians(18.0)
        parts.append(AxisTube(b, a - b, float(np.linalg.norm(a - b)), (0, -math.sin(psi), math.cos(psi)),
                              [0, 1], [10.0, 10.0], [3.2, 3.2], p=3.0, cap=3.0))
        # transverse process, pointing laterally and slightly back
        origin = np.array([s * 16.0, 25.5, zc + 2.5])
        tip = np.array([s * TRANSVERSE_TIP_X[level], 29.0, zc + 1.5])
        length = float(np.linalg.norm(tip - origin))
        parts.append(AxisTube(origin, tip - origin, length, (0, 0, 1), [0, length], [5.5, 4.2], [4.0, 2.6],
                              p=2.5, cap=2.5))
        # superior articular process (joint with the level above)
        jc, u, n = _joint_frame(level, side)
        parts.append(SuperEllipsoid(jc - 5.0 * n + np.array([0, 0, 0.25]), (9.0, 4.0, 7.75), (u, n, (0, 0, 1)),
                                    p=2.5, q=2.5))
        # inferior articular process (joint with the level below)
        if below is not None:
            jc, u, n = _joint_frame(below, side)
            parts.append(SuperEllipsoid(jc + 5.0 * n + np.array([0, 0, 4.25]), (8.0, 4.0, 8.75),
                                        (u, n, (0, 0, 1)), p=2.5, q=2.5))
    # spinous process: a plate pointing back and down, taller at its tip
    parts.append(AxisTube(SPINOUS_BASE + (0.0, 0.0, zc), SPINOUS_AXIS, SPINOUS_LENGTH_MM, (0, 0, 1), [0, 20, 30],
                          [9.0, 9.5, 10.5], [3.6, 3.0, 4.0], p=4.0, cap=4.0))
    return parts


class Vertebra(Shape):
    """All bone of one level (body and posterior elements) less the canal."""

    def __init__(self, level: str):
        self.level = level
        self.union = Union(vertebra_parts(level))
        self.canal = canal_shape()
        self.lo, self.hi = self.union.lo, self.union.hi

    def inside(self, x, y, z):
        return self.union.inside(x, y, z) & ~self.canal.inside(x, y, z)

    def shape(self) -> Shape:
        """The same solid as a composite (rasterised part by part, much faster on a grid)."""
        return self.union - self.canal


def spinous_tip(level: str) -> np.ndarray:
    return SPINOUS_BASE + (0.0, 0.0, LEVEL_Z[level]) + (SPINOUS_LENGTH_MM + 3.0) * SPINOUS_AXIS


def _exit_along(shape: Shape, start: np.ndarray, direction: np.ndarray, step: float = 0.02,
                max_mm: float = 60.0) -> np.ndarray:
    """Last point inside `shape` before the ray from `start` first leaves it."""
    t = np.arange(0.0, max_mm, step)
    pts = (start[None, :] + t[:, None] * direction[None, :]).astype(F)
    inside = shape.inside(pts[:, 0], pts[:, 1], pts[:, 2])
    outside = np.nonzero(~inside)[0]
    last = (outside[0] - 1) if len(outside) else len(t) - 1
    return start + t[max(last, 0)] * direction


def pedicle_axes() -> dict[str, PedicleAxis]:
    """Pedicle ground truth keyed "L2_left" etc., for every level of the phantom (T12-L4)."""
    return dict(_pedicle_axes())


@lru_cache(maxsize=None)
def _pedicle_axes() -> dict[str, PedicleAxis]:
    out = {}
    for level in LEVELS:
        vertebra = Vertebra(level)
        for side in SIDES:
            c, d = pedicle_center(level, side), pedicle_direction(level, side)
            entry = _exit_along(vertebra, c, -d)
            out[f"{level}_{side}"] = PedicleAxis(
                level, side, tuple(float(v) for v in c), tuple(float(v) for v in unit(d)),
                tuple(float(v) for v in entry), PEDICLE_HALF_WIDTH_MM[level], PEDICLE_HALF_HEIGHT_MM,
                PEDICLE_MEDIAL_ANGLE_DEG[level])
    return out
