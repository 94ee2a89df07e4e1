"""What an ablation zone means: peak temperatures at points, distances to structures, lesion coverage.

Peak temperature (table model, `peak_temperature`), along the ray from the zone centre to
the point, with r_L, r_S the distances to the lethal and outer ellipsoids on that ray
(RF/MW: both cut at r_c, where the ray has crossed ``cortex.min_path_mm`` of cortex):
inside the lethal zone from the setting's temperature (or the lethal temperature) at the
centre down to ``lethal_c`` (60 degC) at its edge, linear to ``shell_c`` (45 degC) at the
shell edge, then an exponential return to ``body_c`` over ``decay_mm``. Cryo: -40 degC
inside the -40 degC isotherm, linear between the isotherms, then back to body temperature
beyond the 0 degC one. For cryo "peak" is the coldest temperature. An estimate of the
table model (resources/ablation_model.json), not a bioheat solution.

Distance from a zone to a structure: the minimum of the structure's signed distance field
over the zone's voxel centres, less half a voxel (the zone's edge lies between voxel
centres); negative when the zone enters the structure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
from scipy import ndimage

from osteoplan.core.ablation.zones import AblationModel, AblationZone, ZoneGeometry, ablation_model
from osteoplan.core.imaging.bone_fields import signed_distance_mm
from osteoplan.core.imaging.volume import Volume
from osteoplan.core.safety.distances import DistanceFields
from osteoplan.core.safety.structures import Structure

TEMPERATURE_STEP_MM = 0.5


def _cortex_radius(ct: Volume, centre: np.ndarray, directions: np.ndarray, reach_mm: np.ndarray,
                   model: AblationModel) -> np.ndarray:
    """Per direction, the distance from the centre at which the ray has crossed min_path_mm of cortex (inf: never)."""
    steps = max(1, int(np.ceil(float(np.max(reach_mm, initial=0.0)) / TEMPERATURE_STEP_MM)))
    t = (np.arange(steps) + 0.5) * TEMPERATURE_STEP_MM
    points = centre + t[:, None, None] * directions[None, :, :]  # (steps, N, 3)
    kji = np.rint(ct.lps_to_index(points)[..., ::-1]).astype(np.intp)
    shape = np.asarray(ct.array.shape)
    inside = np.all((kji >= 0) & (kji < shape), axis=-1)
    np.clip(kji, 0, shape - 1, out=kji)
    cortex = (ct.array[kji[..., 0], kji[..., 1], kji[..., 2]] >= model.cortex.hu_min) & inside
    crossed = np.cumsum(cortex, axis=0) * TEMPERATURE_STEP_MM
    reached = crossed >= model.cortex.min_path_mm
    first = np.argmax(reached, axis=0)
    return np.where(reached.any(axis=0), t[first], np.inf)


def peak_temperature(geometry: ZoneGeometry, ct: Volume | None, points_lps, core_c: float | None = None,
                     model: AblationModel | None = None) -> np.ndarray:
    """Table-model peak (cryo: lowest) temperature in degC at points (N, 3) or one point (3,)."""
    model = model or ablation_model()
    temps = model.temperatures
    points = np.asarray(points_lps, dtype=float)
    flat = points.reshape(-1, 3)
    rel = flat - geometry.centre
    d = np.linalg.norm(rel, axis=1)
    directions = np.where(d[:, None] > 1e-9, rel / np.maximum(d, 1e-9)[:, None], geometry.axis)
    if geometry.cryo:
        radii = [geometry.boundary_radius(directions, semi) for _, semi in geometry.isotherms]  # warm first
        levels = [t for t, _ in geometry.isotherms]
        out = np.full(len(d), levels[-1])
        for n in range(len(levels) - 1):  # between isotherm n+1 (colder, inner) and n
            r_in, r_out = radii[n + 1], radii[n]
            between = (d > r_in) & (d <= r_out)
            frac = (d - r_in) / np.maximum(r_out - r_in, 1e-9)
            out = np.where(between, levels[n + 1] + frac * (levels[n] - levels[n + 1]), out)
        r0, t0 = radii[0], levels[0]
        beyond = temps.body_c + (t0 - temps.body_c) * np.exp(-(d - r0) / temps.decay_mm)
        out = np.where(d > r0, beyond, out)
        return out.reshape(points.shape[:-1])
    r_l = geometry.boundary_radius(directions, geometry.lethal)
    r_s = geometry.boundary_radius(directions, geometry.outer)
    if ct is not None:
        r_c = _cortex_radius(ct, geometry.centre, directions, np.minimum(d, r_s), model)
        r_l, r_s = np.minimum(r_l, r_c), np.minimum(r_s, r_c)
    core = max(temps.lethal_c, core_c if core_c is not None else temps.lethal_c)
    inner = core + (temps.lethal_c - core) * d / np.maximum(r_l, 1e-9)
    shell = temps.lethal_c + (temps.shell_c - temps.lethal_c) * (d - r_l) / np.maximum(r_s - r_l, 1e-9)
    beyond = temps.body_c + (temps.shell_c - temps.body_c) * np.exp(-(d - r_s) / temps.decay_mm)
    out = np.where(d <= r_l, inner, np.where(d <= r_s, shell, beyond))
    return out.reshape(points.shape[:-1])


@dataclass(frozen=True)
class ZoneDistance:
    structure: Structure
    which: str  # "lethal" or "shell"
    distance_mm: float  # zone edge to structure surface; < 0 when the zone enters the structure
    closest_on_zone_lps: np.ndarray
    closest_on_structure_lps: np.ndarray


def _box_values(field, start_kji: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray | None:
    """The field's values at the voxel centres of the case-grid box [start_kji, start_kji + shape), as
    `field.sample` reads them there (trilinear at a voxel centre = the voxel's value; outside its box the
    nearest border value), gathered without interpolation; None when the field is subsampled."""
    if tuple(field.step_kji) != (1, 1, 1):
        return None
    index = [np.clip(np.arange(n) + int(s) - int(f), 0, m - 1)
             for n, s, f, m in zip(shape, start_kji, field.start_kji, field.values.shape)]
    return field.values[np.ix_(*index)]


def zone_structure_distances(zone: AblationZone, fields: DistanceFields, structures: Iterable[Structure],
                             which: str = "lethal") -> list[ZoneDistance]:
    """Distance from the zone (`which`: "lethal" or "shell") to each structure, nearest first."""
    mask = zone.mask(which)
    half_voxel = float(np.mean(zone.grid.spacing)) / 2.0
    found = []
    if not mask.any():
        return found
    start = np.asarray(zone.start_kji)
    surface_mask = mask & ~ndimage.binary_erosion(mask)
    points_kji = np.argwhere(mask) + start
    points = zone.grid.index_to_lps(points_kji[:, ::-1].astype(float))
    surface = zone.grid.index_to_lps((np.argwhere(surface_mask) + start)[:, ::-1].astype(float))
    reach = 2.0 * max(zone.geometry.outer)  # a structure this near may lie wholly inside the zone
    for structure in structures:
        field = fields.field(structure)
        box = _box_values(field, start, mask.shape)
        # the field is 1-Lipschitz: its minimum over the zone is on its surface, unless the structure lies
        # inside: then look at every voxel
        values = field.sample(surface) if box is None else box[surface_mask]
        if float(values.min()) <= reach:
            values = field.sample(points) if box is None else box[mask]
            points_used = points
        else:
            points_used = surface
        best = int(np.argmin(values))
        found.append(_distance(structure, which, field, points_used[best], float(values[best]), half_voxel))
    return sorted(found, key=lambda z: z.distance_mm)


def _distance(structure, which, field, point, value, half_voxel) -> ZoneDistance:
    normal = field.gradient(point)
    norm = float(np.linalg.norm(normal))
    normal = normal / norm if norm > 1e-6 else np.zeros(3)
    return ZoneDistance(structure, which, value - half_voxel, point + normal * half_voxel, point - normal * value)


@dataclass(frozen=True)
class Coverage:
    lesion: str
    percent: float  # of the lesion's voxels inside the union of the lethal zones
    margin_mm: float  # lesion surface to zone surface, minimum; < 0 when the lesion sticks out by that much


def lesion_coverage(zones: Iterable[AblationZone], lesion: Structure, grid: Volume) -> Coverage | None:
    """Coverage of `lesion` by the union of the zones' lethal masks, and the minimum margin."""
    zones = [z for z in zones if z.lethal.size]
    if lesion.empty:
        return None
    lo = np.asarray(lesion.start_kji)
    hi = lo + lesion.box_mask.shape
    for zone in zones:
        lo = np.minimum(lo, zone.start_kji)
        hi = np.maximum(hi, np.asarray(zone.start_kji) + zone.lethal.shape)
    lo, hi = np.maximum(lo - 2, 0), np.minimum(hi + 2, grid.array.shape)
    union = np.zeros(tuple(hi - lo), dtype=bool)
    for zone in zones:
        at = tuple(slice(s - l, s - l + n) for s, l, n in zip(zone.start_kji, lo, zone.lethal.shape))
        union[at] |= zone.lethal
    lesion_mask = np.zeros_like(union)
    at = tuple(slice(s - l, s - l + n) for s, l, n in zip(lesion.start_kji, lo, lesion.box_mask.shape))
    lesion_mask[at] = lesion.box_mask
    covered = np.count_nonzero(union & lesion_mask) / max(1, np.count_nonzero(lesion_mask))
    if not union.any():
        margin = -float("inf")
    else:
        sdf = signed_distance_mm(union, grid.spacing)  # < 0 inside the zones
        margin = -float(sdf[lesion_mask].max())
    return Coverage(lesion.name, 100.0 * covered, margin)
