"""The zone of a thermal ablation: the interactive ("table") zone model, its parameters
(resources/ablation_model.json), and what a zone model is asked (`ZoneRequest`). The plan's
values (`Ablation`, `Thermocouple`) are `osteoplan.core.planning.ablation`.

The table model (`compute_zone`): the catalog's lethal ellipsoid along the probe axis
(length along it, width across), centred ``tip - axis * (tip_offset_mm + offset_mm)``,
with an outer shell: the 45 degC line ``shell_45c_mm`` beyond it (RF/MW) or the isotherms
(cryo; the 0 degC one is the outer shell). RF/MW zones are clipped by intact cortex: a
voxel is left out when the straight segment from the zone centre to it crosses at least
``cortex.min_path_mm`` of CT >= ``cortex.hu_min`` (resources/ablation_model.json, with
its rationale); cryo zones never are. The segments are evaluated on a radial "reach map":
rays from the centre in 6 x REACH_FACE_BINS^2 cube-map directions (~4 deg apart), each cut
where it has crossed that much cortex; a voxel is kept when its distance from the centre is
within the reach of its direction's bin (at the edge of a clip this may differ from the
exact per-voxel segment by a voxel). The zone is a set of voxel masks on a box of the CT
grid (like `bone_fields.CropField`), computed vectorised in a few ms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.volume import Volume
from osteoplan.core.planning.ablation import Ablation
from osteoplan.core.planning.devices import AblationProbe, AblationSetting
from osteoplan.core.planning.trajectory import Trajectory
from osteoplan.core.resources import load_validated_resource

MODEL_RESOURCE = "ablation_model.json"
RAY_STEP_VOXELS = 0.5  # samples along each centre -> voxel segment: every half voxel (index units)


# --- model parameters (data) ----------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CortexRule(_Strict):
    hu_min: float
    min_path_mm: float = Field(gt=0)
    source: str = Field(min_length=1)


class TemperatureRule(_Strict):
    body_c: float
    lethal_c: float
    shell_c: float
    cold_shell_c: float
    decay_mm: float = Field(gt=0)
    source: str = Field(min_length=1)


class ThermocoupleRule(_Strict):
    near_mm: float = Field(gt=0)
    categories: tuple[str, ...]
    source: str = Field(min_length=1)


class AblationModel(_Strict):
    schema_version: int = Field(ge=1, le=1)
    description: str = ""
    cortex: CortexRule
    temperatures: TemperatureRule
    zone_for_category: dict[str, str]
    thermocouple: ThermocoupleRule

    def zone_for(self, category: str) -> str | None:
        """"shell" or "lethal": which zone a structure of `category` is measured from (None: not a hazard)."""
        return self.zone_for_category.get(category)


@lru_cache(maxsize=1)
def ablation_model() -> AblationModel:
    return load_validated_resource(AblationModel, MODEL_RESOURCE)


# --- geometry -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ZoneGeometry:
    """The ellipsoids of one ablation: semi-axes (along, across) in mm, about `centre` along `axis`."""

    centre: np.ndarray
    axis: np.ndarray  # unit, entry -> tip
    lethal: tuple[float, float]
    outer: tuple[float, float]  # 45 degC line (RF/MW) or 0 degC isotherm (cryo)
    isotherms: tuple[tuple[float, tuple[float, float]], ...]  # (degC, semi-axes), outermost first; cryo only
    cryo: bool

    @classmethod
    def of(cls, tip_lps, axis, setting: AblationSetting, cryo: bool, offset_mm: float = 0.0) -> "ZoneGeometry":
        axis = np.asarray(axis, dtype=float)
        axis = axis / np.linalg.norm(axis)
        centre = np.asarray(tip_lps, dtype=float) - axis * (setting.tip_offset_mm + offset_mm)
        lethal = (setting.lethal_length_mm / 2.0, setting.lethal_width_mm / 2.0)
        if cryo:
            iso = tuple((float(t), (setting.isotherms[t][0] / 2.0, setting.isotherms[t][1] / 2.0))
                        for t in sorted(setting.isotherms, key=float, reverse=True))
            outer = iso[0][1]
        else:
            iso = ()
            outer = (lethal[0] + setting.shell_45c_mm, lethal[1] + setting.shell_45c_mm)
        return cls(centre, axis, lethal, outer, iso, cryo)

    def boundary_radius(self, directions: np.ndarray, semi: tuple[float, float]) -> np.ndarray:
        """Distance from the centre to the ellipsoid `semi` along unit `directions` (N, 3)."""
        cos = directions @ self.axis
        sin2 = np.clip(1.0 - cos * cos, 0.0, None)
        return 1.0 / np.sqrt((cos / semi[0]) ** 2 + sin2 / semi[1] ** 2)


# --- the zone on the grid -------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class AblationZone:
    """Voxel masks of one ablation on a box of the CT grid (voxels [start_kji + index])."""

    geometry: ZoneGeometry
    grid: Volume
    start_kji: tuple[int, int, int]
    lethal: np.ndarray  # bool [k, j, i]
    outer: np.ndarray  # bool, the 45 degC shell (RF/MW) or the 0 degC isotherm (cryo), lethal included
    isotherms: dict[float, np.ndarray]  # cryo: degC -> mask
    clipped_voxels: int  # voxels of the outer zone left out behind intact cortex
    model: str = "table"  # which zone model made it (`ablation_models`; shown in reports)
    notes: tuple[str, ...] = ()  # what the user must know about how it was made (a plugin that failed)

    @property
    def voxel_ml(self) -> float:
        return float(np.prod(self.grid.spacing)) / 1000.0

    @property
    def volume_ml(self) -> float:
        return float(np.count_nonzero(self.lethal)) * self.voxel_ml

    def mask(self, which: str = "lethal") -> np.ndarray:
        return self.outer if which in ("shell", "outer") else self.lethal

    def points(self, which: str = "lethal") -> np.ndarray:
        """LPS centres (N, 3) of the voxels of a mask."""
        kji = np.argwhere(self.mask(which)) + np.asarray(self.start_kji)
        return self.grid.index_to_lps(kji[:, ::-1].astype(float))

    @cached_property
    def _extents(self) -> tuple[float, float]:
        points = self.points("lethal")
        if len(points) == 0:
            return 0.0, 0.0
        rel = points - self.geometry.centre
        axis = self.geometry.axis
        helper = np.eye(3)[int(np.argmin(np.abs(axis)))]
        e1 = np.cross(axis, helper)
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(axis, e1)
        voxel = float(np.mean(self.grid.spacing))  # a voxel centre stands for a voxel's width

        def extent(direction: np.ndarray) -> float:
            values = rel @ direction
            return float(values.max() - values.min()) + voxel

        return extent(axis), max(extent(e1), extent(e2))

    @property
    def length_mm(self) -> float:
        """Extent of the lethal zone along the probe axis (voxel centres + one voxel)."""
        return self._extents[0]

    @property
    def width_mm(self) -> float:
        """Largest extent of the lethal zone across the probe axis (two perpendicular directions)."""
        return self._extents[1]


def _box(grid: Volume, geometry: ZoneGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Index box [lo, hi) (k, j, i) holding the outer ellipsoid, clamped to the grid."""
    a, b = geometry.outer
    d = geometry.axis
    half = np.sqrt(a * a * d * d + b * b * (1.0 - d * d)) + 1e-6
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * half
    ijk = grid.lps_to_index(geometry.centre + corners)
    lo = np.floor(ijk.min(axis=0)).astype(int)[::-1]
    hi = np.ceil(ijk.max(axis=0)).astype(int)[::-1] + 1
    shape = np.asarray(grid.array.shape)
    return np.clip(lo, 0, shape), np.clip(hi, 0, shape)


REACH_FACE_BINS = 20  # reach map: directions on a cube map, REACH_FACE_BINS^2 per face (2400, ~4 deg apart)


@lru_cache(maxsize=4)
def _reach_directions(bins: int) -> np.ndarray:
    """Unit directions (6 * bins^2, 3) at the bin centres of a cube map (see `_direction_bins`)."""
    centres = (np.arange(bins) + 0.5) / bins * 2.0 - 1.0
    u, v = np.meshgrid(centres, centres, indexing="ij")
    u, v = u.ravel(), v.ravel()
    one = np.ones_like(u)
    faces = []
    for axis in range(3):
        others = [a for a in range(3) if a != axis]
        for sign in (1.0, -1.0):
            d = np.empty((len(u), 3))
            d[:, axis] = sign * one
            d[:, others[0]], d[:, others[1]] = u, v
            faces.append(d)
    d = np.concatenate(faces)
    return d / np.linalg.norm(d, axis=1)[:, None]


def _direction_bins(rel: np.ndarray, bins: int) -> np.ndarray:
    """Cube-map bin (index into `_reach_directions(bins)`) of each vector of rel (N, 3)."""
    absolute = np.abs(rel)
    axis = np.argmax(absolute, axis=1)
    n = np.arange(len(rel))
    major = np.maximum(absolute[n, axis], 1e-12)
    negative = rel[n, axis] < 0
    first = np.where(axis == 0, 1, 0)
    second = np.where(axis == 2, 1, 2)
    scale = bins / 2.0
    u = np.clip(((rel[n, first] / major + 1.0) * scale).astype(np.intp), 0, bins - 1)
    v = np.clip(((rel[n, second] / major + 1.0) * scale).astype(np.intp), 0, bins - 1)
    face = axis * 2 + negative
    return (face * bins + u) * bins + v


def _cortex_reach(cortex: np.ndarray, centre_kji: np.ndarray, directions_kji: np.ndarray, reach_mm: float,
                  step_mm: float, min_path_mm: float) -> np.ndarray:
    """Per direction (rows of directions_kji: index units per mm), the distance from the centre (mm) at which
    the ray has crossed min_path_mm of `cortex` (inf: not within reach_mm). Samples outside the box are not cortex."""
    steps = max(1, int(math.ceil(reach_mm / step_mm)))
    t = ((np.arange(steps, dtype=np.float32) + 0.5) * np.float32(step_mm))
    padded = np.zeros(tuple(n + 2 for n in cortex.shape), dtype=bool)  # a rim of "not cortex" for samples outside
    padded[1:-1, 1:-1, 1:-1] = cortex
    samples = np.rint(centre_kji.astype(np.float32)[None, None, :] + np.float32(1.0)
                      + t[:, None, None] * directions_kji.astype(np.float32)[None, :, :]).astype(np.intp)
    shape = np.asarray(padded.shape)
    np.clip(samples, 0, shape - 1, out=samples)
    flat = (samples[..., 0] * shape[1] + samples[..., 1]) * shape[2] + samples[..., 2]
    hits = padded.ravel()[flat]  # (steps, N)
    need = int(math.ceil(min_path_mm / step_mm - 1e-9))
    crossed = np.cumsum(hits, axis=0, dtype=np.int32)
    reached = crossed >= need
    first = np.argmax(reached, axis=0)
    return np.where(reached[-1], t[first].astype(float), np.inf)


def compute_zone(ct: Volume, tip_lps, axis, setting: AblationSetting, cryo: bool, offset_mm: float = 0.0,
                 model: AblationModel | None = None) -> AblationZone:
    """The table-model zone of one setting with the probe tip at `tip_lps`, pointing along `axis`.

    Cortex clipping (RF/MW) uses a radial reach map: rays from the zone centre in the
    directions of a cube map (`REACH_FACE_BINS`), each sampled every half voxel and cut where
    it has crossed ``cortex.min_path_mm`` of cortex; a voxel is kept when its distance from
    the centre is within the reach of its direction's bin."""
    geometry = ZoneGeometry.of(tip_lps, axis, setting, cryo, offset_mm)
    return rasterize_zone(ct, geometry, clip_cortex=not cryo, model=model)


def rasterize_zone(ct: Volume, geometry: ZoneGeometry, clip_cortex: bool = True,
                   model: AblationModel | None = None) -> AblationZone:
    """The voxel masks of `geometry`'s ellipsoids on the CT grid, clipped by intact cortex when
    `clip_cortex` (as `compute_zone` explains). Public for zone-model plugins (plugins/README.md)."""
    model = model or ablation_model()
    lo, hi = _box(ct, geometry)
    shape = tuple(int(v) for v in np.maximum(hi - lo, 0))
    if min(shape) == 0:
        empty = np.zeros((0, 0, 0), dtype=bool)
        return AblationZone(geometry, ct, tuple(int(v) for v in lo), empty, empty, {}, 0)
    m = ct.index_to_lps_matrix
    base = ((m[:3, 3] - geometry.centre) + lo[0] * m[:3, 2] + lo[1] * m[:3, 1] + lo[2] * m[:3, 0]).astype(np.float32)
    k, j, i = (np.arange(n, dtype=np.float32) for n in shape)
    a = geometry.axis
    # u (along the axis) and r^2 (squared distance) from separable per-axis terms: no (K, J, I, 3) array
    comps = [(base[c] + k[:, None, None] * np.float32(m[c, 2]) + j[None, :, None] * np.float32(m[c, 1])
              + i[None, None, :] * np.float32(m[c, 0])) for c in range(3)]
    u = comps[0] * np.float32(a[0]) + comps[1] * np.float32(a[1]) + comps[2] * np.float32(a[2])
    r2 = comps[0] * comps[0] + comps[1] * comps[1] + comps[2] * comps[2]
    u2 = u * u
    w2 = r2 - u2

    def inside(semi: tuple[float, float]) -> np.ndarray:
        return u2 * np.float32(1.0 / semi[0] ** 2) + w2 * np.float32(1.0 / semi[1] ** 2) <= 1.0

    outer = inside(geometry.outer)
    lethal = inside(geometry.lethal) & outer
    isotherms = {t: inside(semi) for t, semi in geometry.isotherms}
    clipped = 0
    if clip_cortex:
        box = tuple(slice(int(a_), int(b_)) for a_, b_ in zip(lo, hi))
        cortex = ct.array[box] >= model.cortex.hu_min
        if cortex.any():
            bins = REACH_FACE_BINS
            directions = _reach_directions(bins)
            reach_mm = max(geometry.outer) + float(max(ct.spacing))
            inverse = np.linalg.inv(m[:3, :3])  # mm (LPS) -> index units (i, j, k)
            directions_kji = (directions @ inverse.T)[:, ::-1]
            centre_kji = ct.lps_to_index(geometry.centre)[::-1] - lo
            step_mm = RAY_STEP_VOXELS * float(min(ct.spacing))
            reach = _cortex_reach(cortex, centre_kji, directions_kji, reach_mm, step_mm, model.cortex.min_path_mm)
            if np.isfinite(reach).any():
                where = np.nonzero(outer)
                rel = np.stack([c[where] for c in comps], axis=1)
                blocked = np.sqrt(r2[where]) >= reach[_direction_bins(rel, bins)]
                if blocked.any():
                    drop = tuple(w[blocked] for w in where)
                    outer[drop] = False
                    lethal[drop] = False
                    clipped = int(np.count_nonzero(blocked))
    return AblationZone(geometry, ct, tuple(int(v) for v in lo), lethal, outer, isotherms, clipped)


def zone_for(ct: Volume, trajectory, probe: AblationProbe, setting: AblationSetting, ablation: Ablation,
             model: AblationModel | None = None) -> AblationZone:
    """The table-model zone of an ablation on its trajectory (tip = the trajectory's target); the zone a
    session shows comes from the probe's zone model (`ablation_models.model_zone`), this one by default."""
    return compute_zone(ct, trajectory.target, trajectory.axis, setting, probe.is_cryo, ablation.offset_mm, model)


@dataclass(frozen=True, eq=False)
class ZoneRequest:
    """What a zone model is asked: one ablation of `probe` at `setting` on `trajectory`, in `case` (LPS mm)."""

    case: "Case"
    trajectory: "Trajectory"
    probe: "AblationProbe"
    setting: "AblationSetting"
    offset_mm: float = 0.0  # pulled back along the probe from the trajectory's target

    @property
    def ct(self):
        return self.case.ct

    @property
    def axis(self) -> np.ndarray:
        """Unit vector along the probe, entry -> tip."""
        return self.trajectory.axis

    @property
    def tip_lps(self) -> np.ndarray:
        """The probe tip: the trajectory's target, pulled back by `offset_mm`."""
        return self.trajectory.target - self.axis * self.offset_mm

    def table_zone(self) -> AblationZone:
        """The built-in table model's zone of this request."""
        return compute_zone(self.ct, self.trajectory.target, self.axis, self.setting, self.probe.is_cryo,
                            self.offset_mm)
