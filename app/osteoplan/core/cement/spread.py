"""Cement (PMMA) spread: volume-limited front propagation through trabecular bone and lesion.

Model (parameters with sources in ``resources/cement_model.json``; resources/sources.md "Cement
spread"): HU -> density -> bone volume fraction -> porosity phi (lesion label: lytic, phi
~ 1); Kozeny permeability k = C phi^3/(1-phi)^2 (C from k(0.9) = 4.45e-8 m2), transverse
k x 0.78, clamped; cortical bone ~closed; outside bone each destination (canal, foramen,
vein, disc, soft tissue) has its own k. Front speed F = (k/k_ref)^((n+1)/(2n)) for a
power-law cement of index n. The arrival time T is a Dijkstra search on the 26-neighbour
voxel graph of a box cropped around the tips (edge cost = distance / mean speed); the
trocar shafts and spindles are solid (their voxels are left out). `CementSolution.fill`
then takes voxels in order of T until the porosity-weighted volume equals the injected
volume: a lookup (cumulative sums + searchsorted), no new solve.

Several injections filling together (bilateral trocars; `CementSolution` docstring): each has its
own front, they advance at the same time, each at a rate proportional to its volume (so all end
together), and the fronts meet instead of crossing. Injections in portions with pauses:
`core.cement_steps`; gateways inside bone (basivertebral foramen): `core.cement_gateways`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from osteoplan.core.planning.injection import CementError, Injection
from osteoplan.core.resources import load_validated_resource

CEMENT_RESOURCE = "cement_model.json"
# Region codes of the cropped box: what a voxel is for the cement.
BONE, LESION, CANAL, FORAMEN, VEIN, DISC, SOFT = 0, 1, 2, 3, 4, 5, 6
INTO = {CANAL: "epidural canal", FORAMEN: "foramen", VEIN: "vein", DISC: "disc", SOFT: "soft tissue"}
GATEWAY_KIND = {CANAL: "posterior wall breach", FORAMEN: "foraminal breach", VEIN: "vascular breach",
                DISC: "endplate", SOFT: "cortical breach"}
TRACK = "needle track"


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


class _Meeting(_Strict):
    other_cement_k_ratio: float = Field(gt=0, le=1)
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
    meeting: _Meeting | None = None
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

    def arrival_times(self, sources_kji: list[np.ndarray], k_scale: np.ndarray | None = None) -> np.ndarray:
        """Each source's own arrival time per voxel of the box (inf where not reached), shape (sources, *box);
        a source may have several seed voxels (kji rows)."""
        field, shape = self.field, self.field.region.shape
        k = field.k if k_scale is None else field.k * k_scale
        slowness = 1.0 / np.maximum(k ** self.exponent, 1e-300)  # 1 / (k^e): once, not per neighbour offset
        costs = np.concatenate([factor * (slowness[a][both] + slowness[b][both]) for a, b, both, factor in self._edges])
        self._graph.data = costs[self._slot_edge]
        times = np.empty((len(sources_kji), int(np.prod(shape))))
        for number, kji in enumerate(sources_kji):
            times[number] = dijkstra(self._graph, directed=False, indices=np.ravel_multi_index(kji.T, shape),
                                     min_only=True)
        return times.reshape(len(sources_kji), *shape)


def arrival_times(graph: SpreadGraph, sources_kji: list[np.ndarray], k_scale: np.ndarray | None = None) -> np.ndarray:
    """Each source's own arrival time per voxel of the graph's box (inf where not reached): (sources, *box)."""
    return graph.arrival_times(sources_kji, k_scale)


@dataclass(frozen=True)
class GatewayMarks:
    """Which leak gateways a voxel opens when cement fills it: bit `number` of `bits` (flat, on the box) for
    `kinds[number]` = (kind, into)."""

    kinds: tuple[tuple[str, str], ...]
    bits: np.ndarray


def gateway_marks(field: Field3) -> GatewayMarks:
    """The voxels that reach each gateway of the box when filled. A gateway outside bone is reached when a
    filled inside voxel neighbours a voxel of its destination; the needle track when the track annulus
    outside the target fills (or an inside voxel next to it); an inner gateway (e.g. the basivertebral
    foramen) when one of its voxels fills."""
    from scipy.ndimage import binary_dilation

    region = field.region
    inside = field.target | (region == LESION)
    around = np.ones((3, 3, 3), dtype=bool)
    marks = [(GATEWAY_KIND[code], INTO[code], (region == code) & ~inside) for code in INTO]
    outer = [(kind, into, inside & binary_dilation(m, around) if m.any() else m) for kind, into, m in marks]
    track = field.track & ~inside
    outer.append((TRACK, "soft tissue", (inside & binary_dilation(track, around) if track.any() else track) | track))
    outer += [(kind, into, mask) for kind, into, mask in field.inner_gateways]
    bits = np.zeros(region.size, dtype=np.uint16)
    for number, (_, _, mask) in enumerate(outer):
        bits[mask.ravel()] |= np.uint16(1 << number)
    return GatewayMarks(tuple((kind, into) for kind, into, _ in outer), bits)


def first_reaches(marks: GatewayMarks, times: np.ndarray, order: np.ndarray, cum: np.ndarray) -> list[dict]:
    """When one front first reaches each gateway, as the volume it has then injected.

    `order`: the voxels this front fills, by arrival time `times` (flat, on the box); `cum`: their cumulative
    porosity-weighted volume. Sorted by volume: [{kind, into, reached_at}]."""
    if not len(cum):
        return []
    sorted_t = times[order]
    bits = marks.bits[order]
    found = []
    for number, (kind, into) in enumerate(marks.kinds):
        hits = np.flatnonzero(bits & np.uint16(1 << number))
        if not hits.size:
            continue
        at = min(int(np.searchsorted(sorted_t, sorted_t[hits[0]], side="right")), len(cum)) - 1  # ties included
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
    """The arrival times of one (case, tips, viscosity) set, re-queried for any volumes without solving.

    One injection fills its voxels in order of arrival time up to its volume. Several injections fill
    together: they start at the same time and each advances at a rate proportional to its volume, so all
    end together. A voxel goes to the injection that reaches it at the smaller fraction of its own volume:
    the fraction of injection i at voxel v is the volume its front fills (alone) before reaching v, over
    V_i; each injection then fills its own voxels in its arrival order up to V_i, so every injection
    places its whole volume and no voxel is counted twice. The injections' regions are thereby a fixed
    partition for one ratio of the volumes, and a query is a few vectorised comparisons on the fronts'
    first voxels. (Ownership by the first arrival *time* instead let a front flooding a lytic lesion
    claim most of the bone, and the other injection fell short of its volume.) `meeting` refines this:
    each front is solved again with the others' planned cement in its way, so fronts meet instead of
    counting the volume the other one filled (e.g. a lesion it will never enter).
    """

    def __init__(self, field: Field3, times: np.ndarray, injections: list[Injection],
                 marks: GatewayMarks | None = None) -> None:
        self.field = field
        self.injections = injections
        self.times = times  # (injections, *box): each injection's own front
        self._weights = (field.phi * field.voxel_ml).ravel()
        self._marks = marks or gateway_marks(field)
        self._order, self._cum, self._before = [], [], []
        for flat_t in times.reshape(len(injections), -1):
            reached = np.flatnonzero(np.isfinite(flat_t))
            order = reached[np.argsort(flat_t[reached], kind="stable")]
            cum = np.cumsum(self._weights[order])
            self._order.append(order)
            self._cum.append(cum)
            if len(injections) > 1:  # the volume this front fills before reaching each voxel (inf: never)
                before = np.full(flat_t.size, np.inf)
                before[order] = cum - self._weights[order]
                self._before.append(before)
        self._complete: dict[tuple[float, ...], list[tuple[np.ndarray, np.ndarray]]] = {}  # by volume ratio
        self._reached: dict[tuple, list[dict]] = {}  # (injection number, volume ratio) -> its gateways

    def _shares(self, volumes: list[float], complete: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per injection: the voxels it fills, in its arrival order, with their cumulative volume -- enough of
        them to hold its volume (or, `complete`, all it would fill if the injections went on until the box
        is full)."""
        if len(volumes) == 1:
            return [(self._order[0], self._cum[0])]
        total = sum(volumes)
        out = []
        for number, volume in enumerate(volumes):
            order, cum = self._order[number], self._cum[number]
            # its first voxels, as many as hold all the volumes (others may own some): doubled when short
            length = len(order) if complete else min(len(order), int(np.searchsorted(cum, total, side="right")) + 64)
            while True:
                part = order[:length]
                fraction = self._before[number][part] / volume
                mine = np.ones(length, dtype=bool)
                for other, other_volume in enumerate(volumes):  # ties go to the first injection
                    if other != number:
                        theirs = self._before[other][part] / other_volume
                        mine &= fraction < theirs if other < number else fraction <= theirs
                own = part[mine]
                own_cum = np.cumsum(self._weights[own])
                if length == len(order) or (len(own_cum) and own_cum[-1] > volume + 1e-9):
                    break
                length = min(len(order), 2 * length)
            out.append((own, own_cum))
        return out

    def _complete_shares(self, volumes: list[float]) -> list[tuple[np.ndarray, np.ndarray]]:
        key = tuple(round(v / sum(volumes), 12) for v in volumes)
        if key not in self._complete:
            if len(self._complete) > 3:
                self._complete.clear()
            self._complete[key] = self._shares(volumes, complete=True)
        return self._complete[key]

    def _number(self, injection_id: str) -> int:
        return next(n for n, i in enumerate(self.injections) if i.id == injection_id)

    def reachable_ml(self, injection_id: str, volumes_ml: dict[str, float] | None = None) -> float:
        """The most this injection can place in the box while the others inject with it (at the ratio of
        `volumes_ml`, None: as planned)."""
        volumes = requested_volumes(self.injections, volumes_ml)
        cum = self._complete_shares(list(volumes.values()))[self._number(injection_id)][1]
        return float(cum[-1]) if len(cum) else 0.0

    def fill(self, volumes_ml: dict[str, float] | float | None = None) -> Fill:
        """The cement for these volumes (mL per injection id; a number: every injection; None: as planned)."""
        volumes_ml = requested_volumes(self.injections, volumes_ml)
        shape = self.field.region.shape
        mask = np.zeros(self.field.region.size, dtype=bool)
        owners, filled, gateways = {}, {}, {}
        shares = self._shares([volumes_ml[i.id] for i in self.injections])
        for number, (injection, (own, cum)) in enumerate(zip(self.injections, shares)):
            volume = volumes_ml[injection.id]
            count = take_count(cum, volume)
            chosen = own[:count]
            mask[chosen] = True
            mine = np.zeros(self.field.region.size, dtype=bool)
            mine[chosen] = True
            owners[injection.id] = mine.reshape(shape)
            filled[injection.id] = float(cum[count - 1]) if count else 0.0
            # the gateways reached up to this volume: the voxels up to it (and the one after) decide
            upto = min(len(cum), int(np.searchsorted(cum, volume + 1e-9, side="right")) + 1)
            gateways[injection.id] = [
                {"kind": g["kind"], "into": g["into"], "reached_at_ml": round(g["reached_at"], 3)}
                for g in first_reaches(self._marks, self.times[number].ravel(), own[:upto], cum[:upto])
                if g["reached_at"] <= volume + 1e-9]
        return Fill(dict(volumes_ml), filled, mask.reshape(shape), owners, self.field.start, gateways)

    def first_reach_ml(self, injection_id: str) -> list[dict]:
        """Every gateway of the box the front reaches, with the volume at first reach (beyond the plan too)."""
        number, volumes = self._number(injection_id), [i.volume_ml for i in self.injections]
        key = (number, *(round(v / sum(volumes), 12) for v in volumes))
        if key not in self._reached:
            own, cum = self._complete_shares(volumes)[number]
            self._reached[key] = first_reaches(self._marks, self.times[number].ravel(), own, cum)
        return [dict(g) for g in self._reached[key]]

    def meeting(self, graph: SpreadGraph, sources_kji: list[np.ndarray], other_cement_k_ratio: float,
                k_scale: np.ndarray | None = None) -> CementSolution:
        """The fronts solved again, each with the other injections' planned cement in its way (permeability
        x `other_cement_k_ratio`): a front no longer counts, nor runs through, the cement of another (e.g. a
        lesion the other injection floods), so the injections' regions meet where their cement does. A query
        at other volumes (the preview slider) keeps the planned cement as the obstacle, as portions do."""
        if len(self.injections) < 2:
            return self
        planned = self.fill()
        times = []
        for number, (injection, seeds) in enumerate(zip(self.injections, sources_kji)):
            others = planned.mask & ~planned.owner_mask[injection.id]
            scale = np.where(others, other_cement_k_ratio, 1.0)
            times.append(graph.arrival_times([seeds], scale if k_scale is None else scale * k_scale)[0])
        return CementSolution(self.field, np.stack(times), self.injections, self._marks)

