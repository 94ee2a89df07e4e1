"""Rasterising shapes on a voxel grid and painting labels and HU (no per-voxel Python).

`Canvas` holds the label map and the float32 HU image being painted (later paint wins);
`cortical_bone` paints a bone as a cortical shell round a cancellous interior;
`finish_ct` blurs slightly, adds correlated noise and rounds to int16.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from .shapes import F, Difference, Intersection, Shape, Union


@dataclass(frozen=True)
class Grid:
    """Voxel centres origin + spacing * (i, j, k), array shape (nz, ny, nx)."""

    origin: tuple[float, float, float]
    spacing: float
    shape: tuple[int, int, int]

    @classmethod
    def covering(cls, lo, hi, spacing: float) -> "Grid":
        lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
        n = np.maximum(1, np.round((hi - lo) / spacing).astype(int))
        origin = (lo + hi) / 2 - (n - 1) / 2 * spacing
        return cls(tuple(float(o) for o in origin), float(spacing), (int(n[2]), int(n[1]), int(n[0])))

    def axis(self, dim: int, start: int, stop: int) -> np.ndarray:
        return (self.origin[dim] + self.spacing * np.arange(start, stop)).astype(F)

    def window(self, lo, hi, margin_voxels: int = 2):
        """Index ranges ((i0, i1), (j0, j1), (k0, k1)) of voxels in the box, or None."""
        size = (self.shape[2], self.shape[1], self.shape[0])
        ranges = []
        for d in range(3):
            a = int(np.floor((lo[d] - self.origin[d]) / self.spacing)) - margin_voxels
            b = int(np.ceil((hi[d] - self.origin[d]) / self.spacing)) + 1 + margin_voxels
            a, b = max(a, 0), min(b, size[d])
            if a >= b:
                return None
            ranges.append((a, b))
        return tuple(ranges)

    def coords(self, win):
        (i0, i1), (j0, j1), (k0, k1) = win
        return (self.axis(0, i0, i1)[None, None, :], self.axis(1, j0, j1)[None, :, None],
                self.axis(2, k0, k1)[:, None, None])

    @staticmethod
    def slices(win):
        (i0, i1), (j0, j1), (k0, k1) = win
        return (slice(k0, k1), slice(j0, j1), slice(i0, i1))

    def full(self, win):
        (i0, i1), (j0, j1), (k0, k1) = win
        return (k1 - k0, j1 - j0, i1 - i0)


def _intersect(win, other):
    out = []
    for (a0, a1), (b0, b1) in zip(win, other):
        lo, hi = max(a0, b0), min(a1, b1)
        if lo >= hi:
            return None
        out.append((lo, hi))
    return tuple(out)


def _relative(sub, win):
    (i0, i1), (j0, j1), (k0, k1) = sub
    return (slice(k0 - win[2][0], k1 - win[2][0]), slice(j0 - win[1][0], j1 - win[1][0]),
            slice(i0 - win[0][0], i1 - win[0][0]))


def _raster(shape: Shape, grid: Grid, win) -> np.ndarray:
    if isinstance(shape, Union):
        mask = np.zeros(grid.full(win), dtype=bool)
        for part in shape.parts:
            sub = grid.window(part.lo, part.hi, margin_voxels=1)
            sub = sub and _intersect(win, sub)
            if sub:
                mask[_relative(sub, win)] |= _raster(part, grid, sub)
        return mask
    if isinstance(shape, Difference):
        mask = _raster(shape.base, grid, win)
        sub = grid.window(shape.cut.lo, shape.cut.hi, margin_voxels=1)
        sub = sub and _intersect(win, sub)
        if sub:
            mask[_relative(sub, win)] &= ~_raster(shape.cut, grid, sub)
        return mask
    if isinstance(shape, Intersection):
        mask = np.zeros(grid.full(win), dtype=bool)
        sub = grid.window(shape.lo, shape.hi, margin_voxels=1)
        sub = sub and _intersect(win, sub)
        if sub:
            mask[_relative(sub, win)] = _raster(shape.a, grid, sub) & _raster(shape.b, grid, sub)
        return mask
    x, y, z = grid.coords(win)
    mask = shape.inside(x, y, z)
    if mask.shape != grid.full(win):
        mask = np.broadcast_to(mask, grid.full(win)).copy()
    return mask


def rasterize(grid: Grid, shape: Shape, margin_voxels: int = 2):
    """(slices into the volume, boolean mask of the shape there), or None if it misses the grid."""
    win = grid.window(shape.lo, shape.hi, margin_voxels)
    if win is None:
        return None
    return grid.slices(win), _raster(shape, grid, win), win


# --- painting -----------------------------------------------------------------------
class Canvas:
    """The label map and the HU image being painted; later paint wins."""

    def __init__(self, grid: Grid, rng: np.random.Generator, background_hu: float = -1000.0):
        self.grid, self.rng = grid, rng
        self.labels = np.zeros(grid.shape, dtype=np.uint8)
        self.hu = np.full(grid.shape, background_hu, dtype=F)

    def paint(self, shape: Shape, label: int | None, hu, texture: float = 0.0, texture_mm: float = 1.0):
        """Set label (None: keep the labels) and HU (a number, or f(sl, mask, win) -> array)."""
        hit = rasterize(self.grid, shape)
        if hit is None:
            return None
        sl, mask, win = hit
        self.set(sl, mask, label, hu, win, texture, texture_mm)
        return hit

    def set(self, sl, mask, label, hu, win=None, texture: float = 0.0, texture_mm: float = 1.0):
        if label is not None:
            self.labels[sl][mask] = label
        values = hu(sl, mask, win) if callable(hu) else hu
        if texture:
            values = values + texture * smooth_noise(self.rng, mask.shape, texture_mm / self.grid.spacing)
        target = self.hu[sl]
        target[mask] = values[mask] if np.ndim(values) else values


def outline_depth(x, y, center, half_x, half_y_front, half_y_back, p: float = 2.4) -> np.ndarray:
    """Approximate depth (mm, > 0 inside) below a superelliptic body outline in the axial plane.

    First-order distance (1 - rho) / |grad rho|: accurate within a few cm of the skin,
    which is where skin, fat and abdominal-wall layers are drawn.
    """
    dx = np.abs(x - float(center[0])) + 1e-3
    dy = y - float(center[1])
    hy = np.where(dy < 0, F(half_y_front), F(half_y_back))
    u, v = dx / F(half_x), np.abs(dy) / hy + 1e-3
    s = u ** p + v ** p
    rho = s ** (1.0 / p)
    # d rho / du = rho^(1-p) u^(p-1), chain rule through u = dx / half_x
    gx = rho ** (1.0 - p) * u ** (p - 1.0) / F(half_x)
    gy = rho ** (1.0 - p) * v ** (p - 1.0) / hy
    return (1.0 - rho) / np.sqrt(gx * gx + gy * gy)


def smooth_noise(rng: np.random.Generator, shape, sigma_voxels: float) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian-correlated noise (float32)."""
    noise = rng.standard_normal(shape, dtype=F)
    if sigma_voxels >= 0.3:
        noise = ndimage.gaussian_filter(noise, sigma_voxels, mode="nearest")
        std = float(noise.std())
        if std > 0:
            noise *= 1.0 / std
    return noise


def inner_distance_mm(mask: np.ndarray, spacing: float) -> np.ndarray:
    """Distance (mm) from each voxel inside `mask` to the nearest voxel outside (0 outside)."""
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    image.SetSpacing((spacing,) * 3)
    dist = sitk.SignedMaurerDistanceMap(image, insideIsPositive=True, squaredDistance=False,
                                        useImageSpacing=True, backgroundValue=0)
    out = sitk.GetArrayFromImage(dist).astype(F, copy=False)
    # Maurer measures to the boundary between voxels; shift to "voxel centre to outside centre".
    out += spacing * 0.5
    out[~mask] = 0.0
    return out


def cortical_bone(canvas: Canvas, shape: Shape, label: int, cortex_mm, cortex_hu: float, inner_hu,
                  cortex_texture: float = 70.0, inner_texture: float = 40.0, texture_mm: float = 0.6):
    """Paint a bone: a cortical shell `cortex_mm` thick (a number or f(x, y, z) -> mm) round an inner HU.

    `inner_hu` is a number or f(x, y, z) -> HU array (e.g. marrow fading in along a shaft).
    Returns (slices, mask, cortex mask) or None.
    """
    hit = rasterize(canvas.grid, shape)
    if hit is None:
        return None
    sl, mask, win = hit
    dist = inner_distance_mm(mask, canvas.grid.spacing)
    x, y, z = canvas.grid.coords(win)
    thick = cortex_mm(x, y, z) if callable(cortex_mm) else cortex_mm
    cortex = mask & (dist <= np.maximum(thick, canvas.grid.spacing * 1.01))
    inner = inner_hu(x, y, z) if callable(inner_hu) else inner_hu
    inner = np.broadcast_to(inner, mask.shape)
    rng, sp = canvas.rng, canvas.grid.spacing
    values = inner + inner_texture * smooth_noise(rng, mask.shape, texture_mm / sp)
    values = np.where(cortex, cortex_hu + cortex_texture * smooth_noise(rng, mask.shape, 0.6 / sp), values)
    canvas.set(sl, mask, label, values.astype(F, copy=False))
    return sl, mask, cortex


def finish_ct(canvas: Canvas, noise_hu: float = 14.0, blur_mm: float = 0.45) -> np.ndarray:
    """Blur the painted HU slightly (no blocky edges), add correlated noise, round to int16."""
    sigma = blur_mm / canvas.grid.spacing
    hu = canvas.hu
    if sigma >= 0.3:
        # Noise added before the blur comes out correlated, like CT noise; scale it so
        # that its standard deviation after the blur is `noise_hu` (the variance gain of
        # the filter is the sum of its squared impulse response).
        def blur(a):
            return sitk.GetArrayFromImage(sitk.DiscreteGaussian(
                sitk.GetImageFromArray(a), variance=float(sigma) ** 2, maximumKernelWidth=64, useImageSpacing=False))

        impulse = np.zeros((17, 17, 17), dtype=F)
        impulse[8, 8, 8] = 1.0
        gain = float(np.sum(blur(impulse).astype(float) ** 2))
        hu += canvas.rng.standard_normal(hu.shape, dtype=F) * F(noise_hu / np.sqrt(gain))
        hu = blur(hu)
    else:
        hu += canvas.rng.standard_normal(hu.shape, dtype=F) * F(noise_hu)
    np.clip(hu, -1024, 3071, out=hu)
    return np.rint(hu).astype(np.int16)
