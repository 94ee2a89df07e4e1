"""Ablation "refine" model: steady-state Pennes bioheat on a voxel grid around the probe.

Scheme (core only: numpy / scipy / SimpleITK)
-----------------------------------------------
1. Grid: an axis-aligned LPS box around the catalog ellipsoid (centre ``tip - tip_offset·d``)
   plus ``margin_mm``, at ``spacing_mm``. The CT is resampled linearly (HU), the labels by
   nearest neighbour; each voxel gets a tissue (``bioheat_tissue``: HU class, then label rules)
   and its k, ω ρ_b c_b and electrical σ from ``resources/tissue_properties.json``.
2. Source. The effective source is a segment of length ``L_s`` on the probe axis, centred on
   the zone centre (voxels within 0.87 voxel of it).
   - RF / MW (heat): quasi-static Joule heating. ∇·(σ∇V) = 0 with V = 1 on the segment and
     V = 0 on a box 5 mm beyond the zone; Q = σ|∇V|². Low-σ cortex carries little current, so
     it is not heated and shields what lies behind it (the cortex "insulates" RF, AJNR 2017).
     MW uses the same source model (an approximation).
   - Cryo: the segment voxels are held at the probe temperature (Dirichlet); no electrical part,
     so cortex does not stop the ice.
3. Steady-state Pennes, 7-point finite volumes (harmonic-mean face conductivity), 37 °C at the
   box faces and in large-vessel blood (heat sink): −∇·(k∇θ) + ω ρ_b c_b θ = Q, θ = T − 37,
   sparse SPD solves (Jacobi-preconditioned conjugate gradient). Fast scheme (default): one solve
   on a 2× coarser grid (properties and heat block-averaged), then the full-resolution solve only
   in the bounding box of the voxels whose coarse rise exceeds 0.25 °C, its inner faces held at
   the interpolated coarse field (also the field outside it and the initial guess); matches the
   one-grid reference (``reference=True``) within a few hundredths of a °C. The field is linear in the
   source, so it is normalised to a unit mean rise on the source voxels; the temperature is
   ``37 + P·u``, P being the electrode rise the generator holds (temperature control), or the
   cryoprobe's temperature − 37.
4. Damage. Heat: every voxel is taken to sit at its steady-state (peak) temperature for the
   whole ``duration_s``; lethal ⇔ CEM43 ≥ 240 min, i.e. T ≥ T_crit(duration) (47.6 °C at
   10 min). The Arrhenius threshold (liver constants ✱, Ω ≥ 1) is reported beside it but not
   used: with those constants it falls to ~42.5 °C at 10 min, inside the 45 °C neural shell.
   Cryo: lethal ⇔ T ≤ −40 °C (sources.md: the lethal −40 °C line; latent heat is ignored).
5. Calibration (per spec, spacing and margin ≤ 20 mm, cached in ``_CALIBRATION``; a larger margin
   reuses the one a whole number of voxels smaller, ≤ 20 mm, so that the source voxels are the same;
   the rise 20 mm beyond the zone is small): in a uniform
   cancellous block with the probe along a grid axis, P is bisected so that the lethal width
   matches the catalog, and ``L_s`` is adjusted by secant steps so that the length matches
   (both within 0.25 mm when reachable). A refine in real anatomy then costs one solve (plus
   the small electrical solve for RF/MW). The transient is not simulated: ρ and c are loaded
   but unused, the calibrated P absorbs the heating time.
Lengths/widths are measured on rays from the zone centre through the peak-temperature field
(trilinear, 0.1 mm steps): length along the axis, width = the largest of 8 diameters across.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.sparse as sp
import SimpleITK as sitk
from scipy.ndimage import map_coordinates

from osteoplan.core.ablation.bioheat_tissue import TissuePropertyTable, tissue_index_map, tissue_properties
from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.imaging.volume import Volume

KINDS = ("rf", "mw", "cryo")
CRYO_LETHAL_C = -40.0
ARRHENIUS_A, ARRHENIUS_EA, GAS_R = 7.39e39, 2.577e5, 8.314
ELECTRODE_RADIUS_VOXELS = 0.87
ELECTRIC_PAD_MM = 5.0
FAST_CUT_C = 0.25  # fast scheme: fine solve where the coarse rise exceeds this (°C)
FAST_RTOL = 1e-5
CALIBRATION_MARGIN_MM = 20.0  # calibrations are made at min(margin, this) and reused above it
T_BODY = 37.0

class BioheatError(OsteoPlanError, ValueError):
    """A bioheat request that cannot be computed (bad spec, bad geometry)."""


class BioheatCancelled(OsteoPlanError):
    """The user cancelled a refine."""


@dataclass(frozen=True)
class ZoneSpec:
    kind: str
    lethal_length_mm: float
    lethal_width_mm: float
    tip_offset_mm: float
    active_tip_mm: float
    duration_s: float

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise BioheatError(f"unknown ablation kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        for name in ("lethal_length_mm", "lethal_width_mm", "active_tip_mm", "duration_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise BioheatError(f"ablation setting: {name} must be a positive number, got {value!r}")
        if not math.isfinite(self.tip_offset_mm) or self.tip_offset_mm < 0:
            raise BioheatError(f"ablation setting: tip_offset_mm must be >= 0, got {self.tip_offset_mm!r}")
        if self.lethal_length_mm < self.lethal_width_mm * 0.9:
            raise BioheatError("ablation setting: the bioheat model needs a zone at least about as long as it is "
                               f"wide (got {self.lethal_length_mm} x {self.lethal_width_mm} mm)")


def lethal_threshold_c(spec: ZoneSpec) -> float:
    """Temperature at the lethal boundary: CEM43 = 240 min over the duration (heat), −40 °C (cryo)."""
    if spec.kind == "cryo":
        return CRYO_LETHAL_C
    minutes = spec.duration_s / 60.0
    t = 43.0 + math.log(240.0 / minutes, 2.0)
    return t if t >= 43.0 else 43.0 - math.log(240.0 / minutes, 4.0)


def arrhenius_threshold_c(duration_s: float) -> float:
    """Constant temperature at which Ω = 1 after `duration_s` (liver constants, ✱)."""
    return ARRHENIUS_EA / (GAS_R * math.log(ARRHENIUS_A * duration_s)) - 273.15


@dataclass(frozen=True)
class Calibration:
    source_length_mm: float  # L_s, the effective source segment
    electrode_rise_c: float  # P: held electrode temperature − 37 (negative for cryo)
    length_mm: float  # what the uniform-bone solve gives
    width_mm: float
    threshold_c: float
    seconds: float

    @property
    def electrode_temperature_c(self) -> float:
        return T_BODY + self.electrode_rise_c


_CALIBRATION: dict[tuple, Calibration] = {}


@dataclass(frozen=True, eq=False)
class BioheatResult:
    grid: Volume  # temperature (°C, float32): the peak field, on the cropped grid
    lethal: np.ndarray
    peak_c: np.ndarray
    lethal_length_mm: float
    lethal_width_mm: float
    lethal_volume_ml: float
    zone_center_lps: np.ndarray
    axis: np.ndarray
    threshold_c: float
    kind: str
    calibration: Calibration
    timings_s: dict = field(default_factory=dict)

    def temperature_at(self, points_lps) -> np.ndarray:
        """Trilinear peak temperature at LPS points (..., 3); 37 °C outside the grid."""
        pts = np.asarray(points_lps, dtype=float)
        return _sample(self.grid, self.peak_c, pts.reshape(-1, 3)).reshape(pts.shape[:-1])

    def extent_mm(self, direction) -> float:
        """Distance from the zone centre to the lethal boundary along `direction`."""
        return _ray_extent(self.grid, self._signed, self.zone_center_lps, np.asarray(direction, dtype=float))

    @property
    def _signed(self) -> np.ndarray:
        return _signed_field(self.peak_c, self.threshold_c, self.kind)


# --- geometry and sampling -------------------------------------------------------------
def _signed_field(peak: np.ndarray, threshold: float, kind: str) -> np.ndarray:
    return (threshold - peak) if kind == "cryo" else (peak - threshold)


def _sample(grid: Volume, field_: np.ndarray, pts: np.ndarray, fill: float = T_BODY) -> np.ndarray:
    ijk = grid.lps_to_index(pts)
    return map_coordinates(field_, [ijk[:, 2], ijk[:, 1], ijk[:, 0]], order=1, mode="constant", cval=fill)


def _ray_extent(grid: Volume, signed: np.ndarray, centre: np.ndarray, direction: np.ndarray,
                max_mm: float = 200.0, step: float = 0.1) -> float:
    direction = direction / np.linalg.norm(direction)
    s = np.arange(0.0, max_mm, step)
    v = _sample(grid, signed, centre[None, :] + s[:, None] * direction[None, :], fill=-1.0)
    if v[0] < 0:
        return 0.0
    below = np.nonzero(v < 0)[0]
    if len(below) == 0:
        return float(s[-1])
    i = below[0]
    return float(s[i - 1] + step * v[i - 1] / (v[i - 1] - v[i]))


def _perpendicular(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = np.cross(d, ref)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(d, e1)


def _length_width(grid: Volume, signed: np.ndarray, centre: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    length = _ray_extent(grid, signed, centre, d) + _ray_extent(grid, signed, centre, -d)
    e1, e2 = _perpendicular(d)
    widths = []
    for a in np.arange(8) * np.pi / 8:
        u = math.cos(a) * e1 + math.sin(a) * e2
        widths.append(_ray_extent(grid, signed, centre, u) + _ray_extent(grid, signed, centre, -u))
    return length, max(widths)


def _make_grid(centre: np.ndarray, d: np.ndarray, spec: ZoneSpec, margin_mm: float, h: float) -> Volume:
    half = np.sqrt((spec.lethal_length_mm / 2) ** 2 * d ** 2 + (spec.lethal_width_mm / 2) ** 2 * (1 - d ** 2))
    n = np.ceil(2 * (half + margin_mm) / h).astype(int) + 1
    origin = centre - (n - 1) / 2 * h
    return Volume(np.zeros((n[2], n[1], n[0]), np.float32), (h, h, h), tuple(origin))


def _segment_mask(grid: Volume, centre: np.ndarray, d: np.ndarray, length: float) -> np.ndarray:
    k, j, i = np.indices(grid.array.shape, dtype=np.float32)
    h = grid.spacing[0]
    p = np.stack([i, j, k], axis=-1) * h + np.asarray(grid.origin, np.float32) - centre.astype(np.float32)
    t = np.clip(p @ d.astype(np.float32), -length / 2, length / 2)
    dist2 = np.sum((p - t[..., None] * d.astype(np.float32)) ** 2, axis=-1)
    mask = dist2 <= (ELECTRODE_RADIUS_VOXELS * h) ** 2
    if not mask.any():
        ijk = np.round(grid.lps_to_index(centre)).astype(int)
        mask[ijk[2], ijk[1], ijk[0]] = True
    return mask


# --- the sparse solver ----------------------------------------------------------------
def _operator(cond: np.ndarray, reaction: np.ndarray, fixed: np.ndarray, fixed_value: np.ndarray):
    """SPD system for −∇·(c∇x) + r x = b (times h²), x = 0 beyond the box, x = value on `fixed`."""
    shape, n = cond.shape, cond.size
    diag = reaction.astype(float).copy()
    rhs = np.zeros(shape)
    offs = []
    strides = (shape[1] * shape[2], shape[2], 1)
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(0, -1), slice(1, None)
        lo, hi = tuple(lo), tuple(hi)
        g = 2 * cond[lo] * cond[hi] / (cond[lo] + cond[hi] + 1e-30)
        flo, fhi = fixed[lo], fixed[hi]
        diag[lo] += np.where(flo, 0, g)
        diag[hi] += np.where(fhi, 0, g)
        rhs[lo] += np.where(~flo & fhi, g * fixed_value[hi], 0)
        rhs[hi] += np.where(flo & ~fhi, g * fixed_value[lo], 0)
        off = np.zeros(shape)
        off[lo] = np.where(flo | fhi, 0.0, -g)
        offs.append((off.ravel()[: n - strides[axis]], strides[axis]))
        for edge in (0, -1):  # Dirichlet 0 half a voxel beyond the box
            sl = [slice(None)] * 3
            sl[axis] = edge
            diag[tuple(sl)] += 2 * cond[tuple(sl)]
    diag[fixed] = 1.0
    rhs[fixed] = fixed_value[fixed]
    data = [diag.ravel()] + [o for o, _ in offs] + [o for o, _ in offs]
    offsets = [0] + [s for _, s in offs] + [-s for _, s in offs]
    a = sp.diags(data, offsets, shape=(n, n), format="csr")
    return a, rhs.ravel(), diag.ravel()


def _solve(a, b, diag, x0=None, cancel=None, rtol=1e-6, maxiter=3000) -> np.ndarray:
    """Jacobi-preconditioned conjugate gradient (in place: fewer temporaries than scipy's cg)."""
    inv = 1.0 / diag
    x = np.zeros_like(b) if x0 is None else np.array(x0, dtype=float)
    r = b - a @ x if x0 is not None else b.copy()
    stop = rtol * float(np.linalg.norm(b))
    z = inv * r
    p = z.copy()
    rz = float(r @ z)
    for _ in range(maxiter):
        if math.sqrt(float(r @ r)) <= stop:
            return x
        if cancel is not None and cancel():
            raise BioheatCancelled("The bioheat refine was cancelled.")
        ap = a @ p
        alpha = rz / float(p @ ap)
        x += alpha * p
        r -= alpha * ap
        np.multiply(inv, r, out=z)
        rz_new = float(r @ z)
        p *= rz_new / rz
        p += z
        rz = rz_new
    if math.sqrt(float(r @ r)) <= stop:
        return x
    raise BioheatError(f"the bioheat solver did not converge ({maxiter} iterations)")


def _solve_heat(k: np.ndarray, w: np.ndarray, source: np.ndarray, q: np.ndarray, fixed: np.ndarray,
                fixed_value: np.ndarray, rel_tol: float | None, cancel=None) -> np.ndarray:
    """Pennes solve −∇·(k∇θ) + wθ = q (θ = value on `fixed`), unnormalised.

    ``rel_tol`` None: one Jacobi-CG solve on the whole grid (the reference). Otherwise the fast
    scheme: a 2×-coarser solve on the whole grid (properties and source block-averaged), then the
    fine solve only in the bounding box of the voxels whose coarse rise exceeds ``rel_tol`` × the
    mean rise on the source, the box's inner faces held at the interpolated coarse field (which
    is also the field outside the box and the fine initial guess).
    """
    fv = np.where(fixed, fixed_value, 0.0)
    if rel_tol is None:
        a, b, diag = _operator(k, w, fixed, fv)
        return _solve(a, b + q.ravel(), diag, cancel=cancel).reshape(k.shape)
    shape = np.asarray(k.shape)
    nc = (shape + 1) // 2

    def restrict(x, mode):
        pad = [(0, int(2 * c - s)) for c, s in zip(nc, shape)]
        x = np.pad(x, pad, mode="edge").reshape(nc[0], 2, nc[1], 2, nc[2], 2)
        return x.max(axis=(1, 3, 5)) if mode == "max" else x.mean(axis=(1, 3, 5))

    fixed_c = restrict(fixed.astype(float), "max") > 0
    # a coarse cell holding a fixed voxel takes the largest fixed value (the source beats a sink)
    fv_c = np.where(fixed_c, restrict(np.where(fixed, fv, -np.inf), "max"), 0.0)
    q_c = 4.0 * restrict(q, "mean")  # the system is scaled by h²: (2h)² = 4 h²
    a, b, diag = _operator(restrict(k, "mean"), 4.0 * restrict(w, "mean"), fixed_c, fv_c)
    theta_c = _solve(a, b + q_c.ravel(), diag, cancel=cancel, rtol=1e-5).reshape(tuple(nc))
    coords = [np.clip((np.arange(s) - 0.5) / 2.0, 0, c - 1) for s, c in zip(shape, nc)]
    guess = map_coordinates(theta_c, np.meshgrid(*coords, indexing="ij"), order=1, mode="nearest")
    ref = float(np.abs(guess[source]).mean())
    hot = np.abs(guess) > rel_tol * ref
    if not hot.any():
        return guess
    idx = np.nonzero(hot)
    lo = [max(int(i.min()) - 2, 0) for i in idx]
    hi = [min(int(i.max()) + 3, s) for i, s in zip(idx, shape)]
    box = tuple(slice(l, h_) for l, h_ in zip(lo, hi))
    fixed_b, fv_b = fixed[box].copy(), fv[box].copy()
    for axis in range(3):  # inner faces of the box: Dirichlet from the coarse field
        for edge, inner in ((0, lo[axis] > 0), (-1, hi[axis] < shape[axis])):
            if inner:
                sl = [slice(None)] * 3
                sl[axis] = edge
                sl = tuple(sl)
                fv_b[sl] = np.where(fixed_b[sl], fv_b[sl], guess[box][sl])
                fixed_b[sl] = True
    a, b, diag = _operator(k[box], w[box], fixed_b, fv_b)
    x0 = np.where(fixed_b, fv_b, guess[box]).ravel()
    out = guess.copy()
    out[box] = _solve(a, b + np.where(fixed_b, 0.0, q[box]).ravel(), diag, x0=x0, cancel=cancel,
                      rtol=FAST_RTOL).reshape(fixed_b.shape)
    return out


def _unit_field(kind: str, tissue: np.ndarray, table: TissuePropertyTable, source: np.ndarray, h_mm: float,
                sub_box: tuple[slice, ...], cancel=None, rel_tol: float | None = None) -> np.ndarray:
    """Temperature rise per unit electrode rise (mean over the source voxels = 1)."""
    h = h_mm * 1e-3
    k = table.column("conductivity_w_mk")[tissue]
    w = table.perfusion_w_m3k[tissue] * h * h
    sink = table.heat_sink[tissue]
    if kind == "cryo":
        fixed = source | sink
        u = _solve_heat(k, w, source, np.zeros(tissue.shape), fixed, source.astype(float), rel_tol, cancel)
        return u
    sigma = table.column("electrical_conductivity_s_m")[tissue[sub_box]]
    src = source[sub_box]
    a, b, diag = _operator(sigma, np.zeros_like(sigma), src, src.astype(float))
    v = _solve(a, b, diag, cancel=cancel).reshape(sigma.shape)
    grad = np.gradient(v)
    q = np.zeros(tissue.shape)
    q[sub_box] = sigma * sum(g * g for g in grad)  # σ|∇V|² (per h², scaled away below)
    q[source] = 0.0
    u = _solve_heat(k, w, source, q, sink, np.zeros(tissue.shape), rel_tol, cancel)
    return u / max(float(u[source].mean()), 1e-30)


# --- public entry point -----------------------------------------------------------------
def _sub_box(grid: Volume, centre: np.ndarray, spec: ZoneSpec) -> tuple[slice, ...]:
    r = max(spec.lethal_length_mm, spec.lethal_width_mm) / 2 + ELECTRIC_PAD_MM
    lo = np.floor(grid.lps_to_index(centre - r)).astype(int)
    hi = np.ceil(grid.lps_to_index(centre + r)).astype(int) + 1
    size = np.asarray(grid.size)
    lo, hi = np.clip(lo, 0, size), np.clip(hi, 0, size)
    return tuple(slice(lo[a], hi[a]) for a in (2, 1, 0))


def _resample(volume: Volume, grid: Volume, interpolator, default: float) -> np.ndarray:
    ref = grid.to_sitk()
    out = sitk.Resample(volume.to_sitk(), ref, sitk.Transform(), interpolator, default, sitk.sitkFloat32)
    return sitk.GetArrayFromImage(out)


def _run(grid: Volume, tissue: np.ndarray, table: TissuePropertyTable, centre, d, spec: ZoneSpec,
         source_length: float, cancel=None, rel_tol: float | None = None) -> np.ndarray:
    source = _segment_mask(grid, centre, d, source_length)
    return _unit_field(spec.kind, tissue, table, source, grid.spacing[0], _sub_box(grid, centre, spec), cancel,
                       rel_tol)


def calibrate(spec: ZoneSpec, *, margin_mm: float = 25.0, spacing_mm: float = 1.0,
              cancel: Callable[[], bool] | None = None) -> Calibration:
    """Fit (L_s, P) so that a uniform cancellous block reproduces the catalog zone (cached)."""
    if margin_mm > CALIBRATION_MARGIN_MM:  # shrink by whole voxels: same grid parity, same source voxels
        margin_mm = float(margin_mm) - spacing_mm * math.ceil((margin_mm - CALIBRATION_MARGIN_MM) / spacing_mm - 1e-9)
    key = (spec, round(margin_mm, 3), round(float(spacing_mm), 3))
    if key in _CALIBRATION:
        return _CALIBRATION[key]
    started = time.perf_counter()
    table = tissue_properties()
    d, centre = np.array([0.0, 0.0, 1.0]), np.zeros(3)
    grid = _make_grid(centre, d, spec, margin_mm, spacing_mm)
    tissue = np.full(grid.array.shape, table.index("cancellous_bone"), np.int16)
    threshold = lethal_threshold_c(spec)
    sign = -1.0 if spec.kind == "cryo" else 1.0

    def fit(source_length: float) -> tuple[float, float, float]:
        u = _run(grid, tissue, table, centre, d, spec, source_length, cancel)
        lo, hi = 1.0, 2000.0  # |P| in °C
        for _ in range(40):
            p = math.sqrt(lo * hi)
            _, width = _length_width(grid, _signed_field(T_BODY + sign * p * u, threshold, spec.kind), centre, d)
            lo, hi = (p, hi) if width < spec.lethal_width_mm else (lo, p)
        p = math.sqrt(lo * hi)
        length, width = _length_width(grid, _signed_field(T_BODY + sign * p * u, threshold, spec.kind), centre, d)
        return sign * p, length, width

    target = spec.lethal_length_mm
    xs = [min(spec.active_tip_mm, 0.9 * target), max(1.0, 0.5 * target)]
    results = [fit(x) for x in xs]
    for _ in range(8):
        errs = [r[1] - target for r in results]
        if abs(errs[-1]) < 0.25 or abs(errs[-1] - errs[-2]) < 1e-6:
            break
        x = xs[-1] - errs[-1] * (xs[-1] - xs[-2]) / (errs[-1] - errs[-2])
        x = float(np.clip(x, 0.0, 1.5 * target))
        xs.append(x)
        results.append(fit(x))
    best = int(np.argmin([abs(r[1] - target) + abs(r[2] - spec.lethal_width_mm) for r in results]))
    p, length, width = results[best]
    cal = Calibration(xs[best], p, length, width, threshold, time.perf_counter() - started)
    _CALIBRATION[key] = cal
    return cal


def refine_zone(case, tip_lps, direction_unit, spec: ZoneSpec, *, margin_mm: float = 25.0, spacing_mm: float = 1.0,
                progress: Callable[[float, str], None] | None = None,
                cancel: Callable[[], bool] | None = None, reference: bool = False) -> BioheatResult:
    """Steady-state Pennes refine of one probe's zone in the case's anatomy (see the module doc).

    ``reference=True`` solves the whole grid at full resolution instead of the fast coarse-to-fine
    scheme (for validation; several times slower).
    """
    if not isinstance(spec, ZoneSpec):
        raise BioheatError("refine_zone needs a ZoneSpec")
    if not (0.25 <= spacing_mm <= 5.0) or not (0.0 <= margin_mm <= 100.0):
        raise BioheatError(f"bioheat grid: spacing must be 0.25-5 mm and margin 0-100 mm, got {spacing_mm}, {margin_mm}")
    d = np.asarray(direction_unit, dtype=float)
    if d.shape != (3,) or not np.isfinite(d).all() or np.linalg.norm(d) < 1e-9:
        raise BioheatError("the probe direction must be a non-zero 3-vector")
    d = d / np.linalg.norm(d)
    tip = np.asarray(tip_lps, dtype=float)
    report = progress or (lambda f, m: None)

    def check():
        if cancel is not None and cancel():
            raise BioheatCancelled("The bioheat refine was cancelled.")

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    check()
    report(0.0, "calibrating the source on uniform bone")
    cal = calibrate(spec, margin_mm=margin_mm, spacing_mm=spacing_mm, cancel=cancel)
    timings["calibration"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    report(0.3, "building the tissue grid")
    centre = tip - spec.tip_offset_mm * d
    grid = _make_grid(centre, d, spec, margin_mm, spacing_mm)
    table = tissue_properties()
    hu = _resample(case.ct, grid, sitk.sitkLinear, table.outside_hu)
    labels, names = None, {}
    if case.labels is not None:
        labels = _resample(case.labels.volume, grid, sitk.sitkNearestNeighbor, 0).astype(np.int32)
        names = case.labels.names
    tissue = tissue_index_map(hu, labels, names, table)
    check()
    report(0.4, "solving the bioheat equation")
    rel_tol = None if reference else FAST_CUT_C / max(abs(cal.electrode_rise_c), 1e-6)
    u = _run(grid, tissue, table, centre, d, spec, cal.source_length_mm, cancel, rel_tol)
    peak = (T_BODY + cal.electrode_rise_c * u).astype(np.float32)
    check()
    report(0.95, "measuring the lethal zone")
    signed = _signed_field(peak, cal.threshold_c, spec.kind)
    length, width = _length_width(grid.with_array(peak), signed, centre, d)
    lethal = signed >= 0
    timings["solve"] = time.perf_counter() - t1
    report(1.0, "done")
    return BioheatResult(grid.with_array(peak), lethal, peak, length, width, float(lethal.sum()) * spacing_mm ** 3 / 1000,
                         centre, d, cal.threshold_c, spec.kind, cal, timings)
