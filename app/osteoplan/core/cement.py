"""Cement (PMMA) spread: volume-limited front propagation through trabecular bone and lesion.

Model (parameters with sources in ``resources/cement_model.json``; docs/domain.md "Cement
spread"): HU -> density -> bone volume fraction -> porosity phi (lesion label: lytic, phi
~ 1); Kozeny permeability k = C phi^3/(1-phi)^2 (C from k(0.9) = 4.45e-8 m2), transverse
k x 0.78, clamped; cortical bone ~closed; outside bone each destination (canal, foramen,
vein, disc, soft tissue) has its own k. Front speed F = (k/k_ref)^((n+1)/(2n)) for a
power-law cement of index n. The arrival time T is a Dijkstra search on the 26-neighbour
voxel graph of a box cropped around the tips (edge cost = distance / mean speed); the
trocar shafts and spindles are solid (their voxels are left out). `CementSolution.fill`
then takes voxels in order of T until the porosity-weighted volume equals the injected
volume: a lookup (cumulative sums + searchsorted), no new solve. Injections in portions with
pauses: `core.cement_steps`; gateways inside bone (basivertebral foramen): `core.cement_gateways`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.injection import Injection
from osteoplan.core.resources import load_validated_resource

CEMENT_RESOURCE = "cement_model.json"
# Region codes of the cropped box: what a voxel is for the cement.
BONE, LESION, CANAL, FORAMEN, VEIN, DISC, SOFT = 0, 1, 2, 3, 4, 5, 6
INTO = {CANAL: "epidural canal", FORAMEN: "foramen", VEIN: "vein", DISC: "disc", SOFT: "soft tissue"}
GATEWAY_KIND = {CANAL: "posterior wall breach", FORAMEN: "foraminal breach", VEIN: "vascular breach",
                DISC: "endplate", SOFT: "cortical breach"}
TRACK = "needle track"


class CementError(OsteoPlanError):
    """An injection that cannot be simulated (unknown trocar, tip outside bone or in a vessel...)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Density(_Strict):
    a_mg_cc: float
    b_mg_cc_per_hu: float = Field(gt=0)
    tissue_mg_cc: float = Field(gt=0)
    source: str = Field(min_length=1)
    verified: bool


class _Kozeny(_Strict):
    k_ref_m2: float = Field(gt=0)
    phi_ref: float = Field(gt=0, lt=1)
    transverse_ratio: float = Field(gt=0, le=1)
    k_min_m2: float = Field(gt=0)
    k_max_m2: float = Field(gt=0)
    source: str = Field(min_length=1)
    verified: bool

    @property
    def c(self) -> float:
        return self.k_ref_m2 * (1 - self.phi_ref) ** 2 / self.phi_ref ** 3


class _Cortical(_Strict):
    hu_min: float
    k_m2: float = Field(gt=0)
    source: str = Field(min_length=1)
    verified: bool


class _Viscosity(_Strict):
    n: float = Field(gt=0, le=1)
    source: str = Field(min_length=1)


class _Outside(_Strict):
    k_m2: float = Field(gt=0)
    fill_fraction: float = Field(gt=0, le=1)
    source: str = Field(min_length=1)
    verified: bool


class _MonteCarlo(_Strict):
    runs: int = Field(ge=1, le=1000)
    log_sigma: float = Field(ge=0, le=5)
    source: str = Field(min_length=1)


class _Pause(_Strict):
    set_viscosity_ratio: float = Field(ge=1, le=1e6)
    source: str = Field(min_length=1)
    verified: bool


class _Basivertebral(_Strict):
    half_width_mm: float = Field(gt=0, le=20)
    half_height_mm: float = Field(gt=0, le=20)
    depth_mm: float = Field(gt=0, le=20)
    source: str = Field(min_length=1)
    verified: bool


class CementModel(_Strict):
    schema_version: int = Field(ge=1, le=1)
    description: str = ""
    density: _Density
    lytic_porosity: float = Field(gt=0, lt=1)
    kozeny: _Kozeny
    cortical: _Cortical
    track_k_m2: float = Field(gt=0)
    viscosity: dict[str, _Viscosity]
    outside: dict[str, _Outside]
    # optional so that a plugin's parameter set need not state them: None = the built-in resource's
    pause: _Pause | None = None
    basivertebral: _Basivertebral | None = None
    monte_carlo: _MonteCarlo

    def porosity(self, hu: np.ndarray) -> np.ndarray:
        rho = self.density.a_mg_cc + self.density.b_mg_cc_per_hu * hu
        return np.clip(1.0 - rho / self.density.tissue_mg_cc, 0.0, self.lytic_porosity)

    def permeability(self, phi: np.ndarray) -> np.ndarray:
        kz = self.kozeny
        return np.clip(kz.c * phi ** 3 / np.maximum(1.0 - phi, 1e-6) ** 2, kz.k_min_m2, kz.k_max_m2)

    def exponent(self, viscosity: str) -> float:
        n = self.viscosity[viscosity].n
        return (n + 1.0) / (2.0 * n)


@lru_cache(maxsize=1)
def cement_model() -> CementModel:
    return load_validated_resource(CementModel, CEMENT_RESOURCE)


@dataclass(frozen=True)
class Source:
    """One injection point: the trocar tip and the solid parts (shaft and spindles) as segments."""

    injection: Injection
    tip_lps: np.ndarray
    entry_lps: np.ndarray
    radius_mm: float
    spindles: tuple[tuple[np.ndarray, np.ndarray, float], ...] = ()  # (start, tip, radius)


@dataclass(frozen=True)
class Field3:
    """The cropped box the solver works on (arrays [k, j, i] of the box)."""

    start: tuple[int, int, int]
    region: np.ndarray  # int8 region codes
    phi: np.ndarray  # fill fraction of each voxel (porosity in bone)
    k: np.ndarray  # SI permeability, m2
    solid: np.ndarray  # bool: trocar shaft / spindle voxels
    track: np.ndarray  # bool: the annulus around the trocar shafts
    target: np.ndarray  # bool: the target bones (+ lesion)
    lesion: np.ndarray  # bool
    voxel_ml: float
    # gateways lying inside bone, reached when the front fills one of their voxels: (kind, into, bool mask),
    # e.g. the basivertebral foramen region (core.cement_gateways)
    inner_gateways: tuple[tuple[str, str, np.ndarray], ...] = ()


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of points (..., 3) to the segment a-b, and the fraction t along it."""
    ab = b - a
    t = np.clip(((points - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[..., None] * ab), axis=-1), t


def _offsets(connectivity: int) -> list[tuple[int, int, int]]:
    out = []
    for dk in (-1, 0, 1):
        for dj in (-1, 0, 1):
            for di in (-1, 0, 1):
                o = (dk, dj, di)
                if o <= (0, 0, 0) or (connectivity == 6 and sum(map(abs, o)) != 1):
                    continue
                if connectivity == 18 and sum(map(abs, o)) == 3:
                    continue
                out.append(o)
    return out


class SpreadGraph:
    """The voxel graph of a field: edges between open neighbours with the geometric and anisotropic
    factor of their direction, built once; `arrival_times` weights it by a permeability (so the
    portions of a stepwise injection re-solve on new speeds without rebuilding the graph)."""

    def __init__(self, field: Field3, ct, exponent: float, k_ref: float, transverse_ratio: float,
                 connectivity: int = 26) -> None:
        self.field, self.exponent = field, exponent
        shape = field.region.shape
        n = int(np.prod(shape))
        open_ = ~field.solid
        idx = np.arange(n).reshape(shape)
        matrix = ct.direction * np.asarray(ct.spacing)[None, :]  # columns: LPS step of i, j, k
        rows, cols = [], []
        self._edges = []  # per neighbour offset: the two voxel slices, the open pairs, the direction's factor
        for dk, dj, di in _offsets(connectivity):
            step = matrix @ np.array([di, dj, dk], dtype=float)
            length = float(np.linalg.norm(step))
            uz2 = (step[2] / length) ** 2
            speed_factor = ((transverse_ratio + (1.0 - transverse_ratio) * uz2) / k_ref) ** exponent
            a = tuple(slice(max(0, -d), s - max(0, d)) for d, s in zip((dk, dj, di), shape))
            b = tuple(slice(max(0, d), s - max(0, -d)) for d, s in zip((dk, dj, di), shape))
            both = open_[a] & open_[b]
            rows.append(idx[a][both])
            cols.append(idx[b][both])
            self._edges.append((a, b, both, 0.5 * length / speed_factor))
        rows_all, cols_all = np.concatenate(rows), np.concatenate(cols)
        # the CSR layout once: built with the edge numbers as data, its data order maps CSR slots to edges
        self._graph = sparse.csr_matrix((np.arange(1, len(rows_all) + 1, dtype=float), (rows_all, cols_all)),
                                        shape=(n, n))
        self._slot_edge = self._graph.data.astype(np.int64) - 1

    def arrival_times(self, sources_kji: list[np.ndarray],
                      k_scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Arrival time per voxel of the box (inf where not reached) and the index of the source reaching it."""
        field, shape = self.field, self.field.region.shape
        k = field.k if k_scale is None else field.k * k_scale
        slowness = 1.0 / np.maximum(k ** self.exponent, 1e-300)  # 1 / (k^e): once, not per neighbour offset
        costs = np.concatenate([factor * (slowness[a][both] + slowness[b][both]) for a, b, both, factor in self._edges])
        self._graph.data = costs[self._slot_edge]
        seeds, owner = [], []
        for number, kji in enumerate(sources_kji):
            flat = np.ravel_multi_index(kji.T, shape)
            seeds += list(flat)
            owner += [number] * len(flat)
        times, _, nearest = dijkstra(self._graph, directed=False, indices=np.asarray(seeds), min_only=True,
                                     return_predecessors=True)
        lookup = dict(zip(seeds, owner))
        who = np.full(times.size, -1, dtype=np.int32)
        reached = nearest >= 0
        who[reached] = np.vectorize(lookup.get, otypes=[np.int32])(nearest[reached]) if reached.any() else []
        return times.reshape(shape), who.reshape(shape)


def arrival_times(field: Field3, ct, sources_kji: list[np.ndarray], exponent: float, k_ref: float,
                  transverse_ratio: float, k_scale: np.ndarray | None = None,
                  connectivity: int = 26) -> tuple[np.ndarray, np.ndarray]:
    """Arrival time per voxel of the box (inf where not reached) and the index of the source reaching it."""
    return SpreadGraph(field, ct, exponent, k_ref, transverse_ratio, connectivity).arrival_times(sources_kji, k_scale)


def first_reaches(field: Field3, times: np.ndarray, mine: np.ndarray, order: np.ndarray,
                  cum: np.ndarray) -> list[dict]:
    """When one injection's front first touches each gateway, as the volume it has then injected.

    `mine`: the voxels this front may fill (its own, not already cemented); `order`/`cum`: those voxels by
    arrival time and the cumulative porosity-weighted volume. A gateway outside bone is touched when a
    voxel of its destination neighbours a filled inside one; the needle track when the track annulus
    outside the target fills; an inner gateway (e.g. the basivertebral foramen) when one of its voxels fills.
    Sorted by volume: [{kind, into, reached_at}]."""
    from scipy.ndimage import minimum_filter

    if not len(cum):
        return []
    region = field.region
    inside = field.target | (region == LESION)
    sorted_t = times.ravel()[order]
    own_times = np.where(mine, times, np.inf)
    touch = minimum_filter(np.where(inside, own_times, np.inf), size=3, mode="constant", cval=np.inf)
    classes = [(GATEWAY_KIND[code], INTO[code], np.where((region == code) & ~inside, touch, np.inf))
               for code in INTO]
    track = field.track & ~inside
    classes.append((TRACK, "soft tissue", np.minimum(np.where(track, touch, np.inf),
                                                     np.where(track, own_times, np.inf))))
    classes += [(kind, into, np.where(mask, own_times, np.inf)) for kind, into, mask in field.inner_gateways]
    found = []
    for kind, into, reach_times in classes:
        first = float(reach_times.min()) if reach_times.size else np.inf
        if not np.isfinite(first):
            continue
        at = min(int(np.searchsorted(sorted_t, first, side="right")), len(cum)) - 1
        found.append({"kind": kind, "into": into, "reached_at": float(cum[max(at, 0)])})
    return sorted(found, key=lambda g: g["reached_at"])


def take_count(cum: np.ndarray, volume: float) -> int:
    """How many voxels of an arrival order hold `volume` (cumulative volumes `cum`): the count nearest to it."""
    count = min(int(np.searchsorted(cum, volume)) + 1, len(cum))
    if count > 1 and abs(cum[count - 2] - volume) < abs(cum[count - 1] - volume):
        count -= 1
    return count


def requested_volumes(injections: list[Injection], volumes_ml: dict[str, float] | float | None) -> dict[str, float]:
    """mL per injection id from a dict, one number for every injection, or None (as planned); each > 0."""
    if volumes_ml is None:
        volumes_ml = {i.id: i.volume_ml for i in injections}
    elif not isinstance(volumes_ml, dict):
        volumes_ml = {i.id: float(volumes_ml) for i in injections}
    out = {}
    for injection in injections:
        volume = float(volumes_ml[injection.id])
        if not volume > 0:
            raise CementError(f"injection {injection.id!r}: the volume must be > 0 mL, got {volume:g}")
        out[injection.id] = volume
    return out


@dataclass
class Fill:
    """The cement of one injected volume (per injection), from `CementSolution.fill`."""

    injected_ml: dict[str, float]
    filled_ml: dict[str, float]
    mask: np.ndarray  # bool on the box
    owner_mask: dict[str, np.ndarray]  # injection id -> bool on the box
    start: tuple[int, int, int]
    gateways: dict[str, list[dict]]  # injection id -> [{kind, into, reached_at_ml, structure}]


class CementSolution:
    """The arrival times of one (case, tips, viscosity) set, re-queried for any volume without solving."""

    def __init__(self, field: Field3, times: np.ndarray, owner: np.ndarray, injections: list[Injection],
                 structure_names: np.ndarray | None = None) -> None:
        self.field = field
        self.injections = injections
        self.times = times
        self.owner = owner
        flat_t = times.ravel()
        weights = (field.phi * field.voxel_ml).ravel()
        self._per: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for number, injection in enumerate(injections):
            mine = np.flatnonzero(np.isfinite(flat_t) & (owner.ravel() == number))
            order = mine[np.argsort(flat_t[mine], kind="stable")]
            self._per[injection.id] = (order, np.cumsum(weights[order]))
        self._gateway_order = {
            injection.id: first_reaches(field, times, owner == number, *self._per[injection.id])
            for number, injection in enumerate(injections)}

    def reachable_ml(self, injection_id: str) -> float:
        cum = self._per[injection_id][1]
        return float(cum[-1]) if len(cum) else 0.0

    def fill(self, volumes_ml: dict[str, float] | float | None = None) -> Fill:
        """The cement for these volumes (mL per injection id; a number: every injection; None: as planned)."""
        volumes_ml = requested_volumes(self.injections, volumes_ml)
        mask = np.zeros(self.times.size, dtype=bool)
        owners, filled, gateways = {}, {}, {}
        for injection in self.injections:
            volume = volumes_ml[injection.id]
            order, cum = self._per[injection.id]
            count = take_count(cum, volume)
            chosen = order[:count]
            mask[chosen] = True
            own = np.zeros(self.times.size, dtype=bool)
            own[chosen] = True
            owners[injection.id] = own.reshape(self.times.shape)
            filled[injection.id] = float(cum[count - 1]) if count else 0.0
            gateways[injection.id] = [
                {"kind": g["kind"], "into": g["into"], "reached_at_ml": round(g["reached_at"], 3)}
                for g in self._gateway_order[injection.id] if g["reached_at"] <= volume + 1e-9]
        return Fill(dict(volumes_ml), filled, mask.reshape(self.times.shape), owners, self.field.start, gateways)

    def first_reach_ml(self, injection_id: str) -> list[dict]:
        """Every gateway of the box the front reaches, with the volume at first reach (beyond the plan too)."""
        return [dict(g) for g in self._gateway_order[injection_id]]
