"""Solid shapes in LPS millimetres (the primitives the phantom anatomy is built from).

A `Shape` answers `inside(x, y, z)` for broadcastable coordinate arrays (points or a
grid window) and knows a bounding box, so that rasterising a union (see `canvas`) only
evaluates each part inside its own box. Everything is float32 and vectorised.
"""

from __future__ import annotations

import numpy as np

F = np.float32


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def frame(axis, ref) -> np.ndarray:
    """Rows (a, e1, e2): `a` along `axis`, e1 = `ref` made orthogonal to `a`, e2 = a x e1."""
    a = unit(axis)
    e1 = np.asarray(ref, dtype=float) - np.dot(ref, a) * a
    e1 = unit(e1)
    return np.array([a, e1, np.cross(a, e1)])


def _local(x, y, z, center, row):
    """Coordinate of points along one frame row (python floats keep float32 arrays float32)."""
    cx, cy, cz = (float(c) for c in center)
    r0, r1, r2 = (float(r) for r in row)
    out = None
    for coord, c, r in ((x, cx, r0), (y, cy, r1), (z, cz, r2)):
        if r != 0.0:
            term = (coord - c) * r
            out = term if out is None else out + term
    if out is None:
        out = (x - cx) * 0.0 + (y - cy) * 0.0
    return out


# --- shapes ------------------------------------------------------------------------
class Shape:
    lo: np.ndarray
    hi: np.ndarray

    def inside(self, x, y, z) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __or__(self, other: "Shape") -> "Shape":
        return Union([self, other])

    def __sub__(self, other: "Shape") -> "Shape":
        return Difference(self, other)

    def __and__(self, other: "Shape") -> "Shape":
        return Intersection(self, other)

    def contains(self, point) -> bool:
        p = np.asarray(point, dtype=F).reshape(3, 1)
        return bool(self.inside(p[0], p[1], p[2])[0])


class Union(Shape):
    def __init__(self, parts):
        self.parts = [p for p in parts if p is not None]
        self.lo = np.min([p.lo for p in self.parts], axis=0)
        self.hi = np.max([p.hi for p in self.parts], axis=0)

    def inside(self, x, y, z):
        result = self.parts[0].inside(x, y, z)
        for part in self.parts[1:]:
            result = result | part.inside(x, y, z)
        return result


class Difference(Shape):
    def __init__(self, base: Shape, cut: Shape):
        self.base, self.cut = base, cut
        self.lo, self.hi = base.lo, base.hi

    def inside(self, x, y, z):
        return self.base.inside(x, y, z) & ~self.cut.inside(x, y, z)


class Intersection(Shape):
    def __init__(self, a: Shape, b: Shape):
        self.a, self.b = a, b
        self.lo = np.maximum(a.lo, b.lo)
        self.hi = np.minimum(a.hi, b.hi)

    def inside(self, x, y, z):
        return self.a.inside(x, y, z) & self.b.inside(x, y, z)


class SuperEllipsoid(Shape):
    """((|u1|/h1)^p + (|u2|/h2)^p)^(q/p) + (|u3|/h3)^q <= 1 in a rotated frame.

    p = q = 2: ellipsoid; large q: elliptic cylinder with flat ends; large p and q: box.
    `axes` are the frame rows (u1, u2, u3); identity when omitted.
    """

    def __init__(self, center, half, axes=None, p: float = 2.0, q: float = 2.0):
        self.center = np.asarray(center, dtype=float)
        self.half = np.asarray(half, dtype=float)
        self.axes = np.eye(3) if axes is None else np.array([unit(a) for a in axes])
        self.p, self.q = float(p), float(q)
        extent = np.abs(self.axes.T) @ self.half
        self.lo, self.hi = self.center - extent, self.center + extent

    def level(self, x, y, z):
        u = [np.abs(_local(x, y, z, self.center, row)) * (1.0 / float(h)) for row, h in zip(self.axes, self.half)]
        p, q = self.p, self.q
        if p == 2.0:
            r = u[0] * u[0] + u[1] * u[1]
            rq = r if q == 2.0 else r ** (q / 2.0)
        else:
            r = u[0] ** p + u[1] ** p
            rq = r ** (q / p)
        return rq + (u[2] * u[2] if q == 2.0 else u[2] ** q)

    def inside(self, x, y, z):
        return self.level(x, y, z) <= 1.0


def ellipsoid(center, half, axes=None) -> SuperEllipsoid:
    return SuperEllipsoid(center, half, axes, 2.0, 2.0)


def sphere(center, radius) -> SuperEllipsoid:
    return SuperEllipsoid(center, (radius,) * 3)


class AxisTube(Shape):
    """A straight tube with a superelliptic cross-section whose radii vary along it.

    `t` runs from 0 at `start` to `length` along `axis`; `r1` is measured along `ref`
    (made orthogonal to the axis), `r2` along axis x ref. Radii are piecewise linear
    over `knots` (in mm along the axis). `cap` > 0 rounds both ends over that length.
    """

    def __init__(self, start, axis, length, ref, knots, r1, r2, p: float = 2.0, cap: float = 0.0):
        self.start = np.asarray(start, dtype=float)
        self.frame = frame(axis, ref)
        self.length, self.cap, self.p = float(length), float(cap), float(p)
        self.knots = np.asarray(knots, dtype=float)
        self.r1 = np.asarray(r1, dtype=float)
        self.r2 = np.asarray(r2, dtype=float)
        a = self.frame[0]
        rmax = float(max(self.r1.max(), self.r2.max()))
        ends = np.array([self.start - self.cap * a, self.start + (self.length + self.cap) * a])
        self.lo, self.hi = ends.min(axis=0) - rmax, ends.max(axis=0) + rmax

    def point(self, t: float) -> np.ndarray:
        return self.start + t * self.frame[0]

    def inside(self, x, y, z):
        t = _local(x, y, z, self.start, self.frame[0])
        u = np.abs(_local(x, y, z, self.start, self.frame[1]))
        v = np.abs(_local(x, y, z, self.start, self.frame[2]))
        tc = np.clip(t, 0.0, self.length)
        r1 = np.interp(tc, self.knots, self.r1).astype(F, copy=False)
        r2 = np.interp(tc, self.knots, self.r2).astype(F, copy=False)
        if self.p == 2.0:
            level = (u / r1) ** 2 + (v / r2) ** 2
        else:
            level = (u / r1) ** self.p + (v / r2) ** self.p
        if self.cap > 0:
            over = (t - tc) * (1.0 / self.cap)
            level = level + over * over
            return (level <= 1.0) & (np.abs(t - tc) <= self.cap)
        return (level <= 1.0) & (t == tc)


class Capsule(Shape):
    """Segment p0-p1 swept by a sphere whose radius goes linearly from r0 to r1."""

    def __init__(self, p0, p1, r0: float, r1: float):
        self.p0, self.p1 = np.asarray(p0, dtype=float), np.asarray(p1, dtype=float)
        self.r0, self.r1 = float(r0), float(r1)
        r = max(self.r0, self.r1)
        self.lo = np.minimum(self.p0, self.p1) - r
        self.hi = np.maximum(self.p0, self.p1) + r

    def inside(self, x, y, z):
        d = self.p1 - self.p0
        length2 = float(np.dot(d, d))
        t = _local(x, y, z, self.p0, d / max(length2, 1e-12))
        t = np.clip(t, 0.0, 1.0)
        qx = (x - float(self.p0[0])) - t * float(d[0])
        qy = (y - float(self.p0[1])) - t * float(d[1])
        qz = (z - float(self.p0[2])) - t * float(d[2])
        r = self.r0 + (self.r1 - self.r0) * t
        return qx * qx + qy * qy + qz * qz <= r * r


def tube(points, radii) -> Union:
    """A polyline tube (e.g. a nerve root or a bowel loop): a union of capsules."""
    points = np.asarray(points, dtype=float)
    radii = np.broadcast_to(np.asarray(radii, dtype=float), (len(points),))
    return Union([Capsule(points[i], points[i + 1], radii[i], radii[i + 1]) for i in range(len(points) - 1)])


class Box(Shape):
    """An axis-aligned box (e.g. "anterior of this height" for a gas level)."""

    def __init__(self, lo, hi):
        self.lo, self.hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)

    def inside(self, x, y, z):
        lo, hi = self.lo, self.hi
        return ((x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1]) & (z >= lo[2]) & (z <= hi[2]))


class Lobulated(Shape):
    """An ellipsoid whose radius swells in a few random directions (a lobulated tumour)."""

    def __init__(self, center, half, rng: np.random.Generator, lobes: int = 5, amplitude: float = 0.15):
        self.center = np.asarray(center, dtype=float)
        self.half = np.asarray(half, dtype=float)
        dirs = rng.standard_normal((lobes, 3))
        self.dirs = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
        self.amps = amplitude * rng.uniform(0.4, 1.0, lobes) * rng.choice([-1.0, 1.0], lobes)
        extent = self.half * (1.0 + np.abs(self.amps).sum())
        self.lo, self.hi = self.center - extent, self.center + extent

    def inside(self, x, y, z):
        u = [(c - float(c0)) * (1.0 / float(h)) for c, c0, h in zip((x, y, z), self.center, self.half)]
        r2 = u[0] * u[0] + u[1] * u[1] + u[2] * u[2]
        r = np.sqrt(r2) + 1e-6
        bound = 1.0
        for d, a in zip(self.dirs, self.amps):
            cos = (u[0] * float(d[0]) + u[1] * float(d[1]) + u[2] * float(d[2])) / r
            bound = bound + float(a) * np.exp((cos - 1.0) * 3.0)
        return r <= bound


class Loft(Shape):
    """A superelliptic cross-section swept along z: centre and semi-axes piecewise linear in z.

    Suits muscles and vessels that run cranio-caudally (psoas, aorta, paraspinal muscles).
    `angle_deg` (also per knot) turns the section about z (from +x towards +y).
    """

    def __init__(self, z_knots, cx, cy, ax, ay, p: float = 2.0, angle_deg=0.0):
        self.z = np.asarray(z_knots, dtype=float)
        n = len(self.z)
        self.cx, self.cy, self.ax, self.ay, self.angle = (
            np.broadcast_to(np.asarray(v, dtype=float), (n,)) for v in (cx, cy, ax, ay, angle_deg))
        self.p = float(p)
        r = np.hypot(self.ax, self.ay) if np.any(self.angle) else None
        ex = r if r is not None else self.ax
        ey = r if r is not None else self.ay
        self.lo = np.array([np.min(self.cx - ex), np.min(self.cy - ey), self.z.min()])
        self.hi = np.array([np.max(self.cx + ex), np.max(self.cy + ey), self.z.max()])

    def inside(self, x, y, z):
        zc = np.clip(z, self.z[0], self.z[-1])
        cx, cy, ax, ay = (np.interp(zc, self.z, v).astype(F) for v in (self.cx, self.cy, self.ax, self.ay))
        dx, dy = x - cx, y - cy
        if np.any(self.angle):
            a = np.deg2rad(np.interp(zc, self.z, self.angle)).astype(F)
            c, s = np.cos(a), np.sin(a)
            dx, dy = dx * c + dy * s, -dx * s + dy * c
        u, v = np.abs(dx) / ax, np.abs(dy) / ay
        level = u * u + v * v if self.p == 2.0 else u ** self.p + v ** self.p
        return (level <= 1.0) & (z >= self.z[0]) & (z <= self.z[-1])
