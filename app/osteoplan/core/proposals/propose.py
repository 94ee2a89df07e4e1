"""Automatic path proposals: the safest straight paths from the skin to a target, for one technique.

Given a target (a point, or a lesion label: then several tips spread through the lesion) and a
technique (resources/proposal_techniques.json: the cone of allowed angles, the search grid, the
score's weights), the search is coarse to fine:

1. rays from each tip outwards on a grid of directions within the technique's cone; the entry
   is where the ray leaves the skin (+ a few mm, within the device's length);
2. all rays at once (`proposal_search.coarse_rays`): rays that reach no skin within the device's
   length, that cross a structure with a stop distance, or (transpedicular) that miss the
   pedicle are rejected; the rest get a coarse score — the risk map;
3. the best `fine_candidates` are evaluated exactly as the plan's paths are: whole-needle
   distances of the safety engine (`structure_warnings.trajectory_distances`) and the readouts
   (skin depth, bone length, pedicle breach grade);
4. the best few are refined by turning them a fraction of the grid step.

The score (0..1, higher is safer) is a weighted mean of: the margin to the nearest hazard
(full at `margin_full_mm`), the length in soft tissue, the total length (vs the device's), the
pedicle breach (transpedicular), the distance from the technique's preferred angles and, for a
lesion, how central the tip is. A bilateral pair is a left and a right path of a sided technique
whose entries and tips are apart; its score is the worse of the two.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.planning.readouts import trajectory_angles_deg
from osteoplan.core.planning.templates import pedicle_convergence_deg
from osteoplan.core.planning.trajectory import Side, Trajectory, TrajectoryKind
from osteoplan.core.proposals.search import coarse_rays, sided_directions, sphere_directions, turned_directions
from osteoplan.core.resources import load_validated_resource
from osteoplan.core.safety.structure_warnings import distance_warning, structures_at, trajectory_distances
from osteoplan.core.safety.structures import hazards_excluding
from osteoplan.core.safety.warnings import Severity

TECHNIQUES_RESOURCE = "proposal_techniques.json"
COARSE_STEP_MM = 1.0
RAYS_PER_CHUNK = 1500  # bounds memory (rays x samples x 3 doubles) and paces progress / cancel
RISK_CELL_MM = 4.0  # the risk map keeps the best entry per cell of this size
Progress = Callable[[float, str], None]


# --- data ---------------------------------------------------------------------------------------
class ScoreWeights(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    margin: float = Field(ge=0)
    soft_tissue: float = Field(ge=0)
    length: float = Field(ge=0)
    pedicle: float = Field(ge=0)
    angle: float = Field(ge=0)
    centrality: float = Field(ge=0)


class TechniqueRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = Field(min_length=1)
    trajectory_kind: TrajectoryKind
    sided: bool  # a left and a right approach (posterior), else any direction in the cone
    posterior: bool  # the entry lies behind the target
    through_pedicle: bool
    transverse_deg: tuple[float, float]
    sagittal_deg: tuple[float, float]
    preferred_transverse_deg: float | Literal["level"]  # "level": the level's pedicle convergence
    preferred_sagittal_deg: float
    angle_step_deg: float = Field(gt=0.5, le=15)
    lesion_tips: int = Field(ge=1, le=64)
    weights: ScoreWeights
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _ranges(self) -> "TechniqueRule":
        for name in ("transverse_deg", "sagittal_deg"):
            low, high = getattr(self, name)
            if not -90.0 <= low < high <= 90.0:
                raise ValueError(f"{name} must be an increasing range within -90..90 degrees")
        return self


class ProposalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int = Field(ge=1, le=1)
    description: str = ""
    margin_full_mm: float = Field(gt=0)
    margin_full_source: str = Field(min_length=1)
    soft_tissue_full_mm: float = Field(gt=0)
    max_breach_mm: float = Field(gt=0)
    max_breach_source: str = Field(min_length=1)
    skin_margin_mm: float = Field(ge=0, le=20)
    min_entry_separation_mm: float = Field(ge=0)
    min_tip_separation_mm: float = Field(ge=0)
    pair_tip_offset_mm: float = Field(ge=0)
    fine_candidates: int = Field(ge=1, le=500)
    refine_best: int = Field(ge=0, le=20)
    techniques: dict[str, TechniqueRule]


@lru_cache(maxsize=1)
def proposal_settings() -> ProposalSettings:
    return load_validated_resource(ProposalSettings, TECHNIQUES_RESOURCE)


def technique_names() -> list[str]:
    return list(proposal_settings().techniques)


class ProposalError(OsteoPlanError):
    """A target or technique the search cannot work with (the message says what to do)."""


class ProposalCancelled(OsteoPlanError):
    def __init__(self) -> None:
        super().__init__("path proposals cancelled")


# --- targets ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tip:
    point: np.ndarray
    sides: tuple[str | None, ...]  # the sides that may aim at it ((None,) for side-less techniques)
    pair_only: bool = False  # an offset tip of a bilateral pair, not itself a proposal


@dataclass(frozen=True)
class ProposalTarget:
    """Where the needle should end: one point, or a lesion (several tips spread through it)."""

    points: np.ndarray  # (n, 3) candidate tips, the first the centre / the point itself
    description: str
    lesion: str | None = None  # the lesion label's name
    spread_mm: float = 0.0  # the farthest tip from the first (0 for a point)


def lesion_names(session) -> list[str]:
    return [s.name for s in session.structures.of_category("lesion")]


def target_at_point(session, point_lps) -> ProposalTarget:
    point = np.asarray(point_lps, dtype=float)
    if point.shape != (3,) or not np.all(np.isfinite(point)):
        raise ProposalError("the target must be three finite LPS coordinates x,y,z in mm")
    if not bool(session.case.ct.contains_index(session.case.ct.lps_to_index(point[None]))[0]):
        low, high = session.case.ct.bounds_lps()
        raise ProposalError(f"the target ({', '.join(f'{v:.1f}' for v in point)}) lies outside the image "
                            f"(LPS {np.round(low, 1).tolist()} .. {np.round(high, 1).tolist()} mm)")
    return ProposalTarget(point[None, :], f"point ({', '.join(f'{v:.1f}' for v in point)})")


def target_of_lesion(session, name: str, tips: int) -> ProposalTarget:
    """The lesion's centre (its voxel nearest the centroid) and up to `tips - 1` more points spread through it."""
    structure = session.structures.get(name)
    if structure is None or structure.category != "lesion" or structure.empty:
        known = ", ".join(lesion_names(session)) or "none (label a lesion first)"
        raise ProposalError(f"unknown lesion {name!r}; the lesion labels of this case are: {known}")
    grid = session.case.ct
    kji = np.argwhere(structure.box_mask) + np.asarray(structure.start_kji)
    points = grid.index_to_lps(kji[:, ::-1].astype(float))
    centre = points[np.argmin(np.linalg.norm(points - points.mean(axis=0), axis=1))]
    chosen = [centre]
    distance = np.linalg.norm(points - centre, axis=1)
    for _ in range(min(tips, len(points)) - 1):  # farthest-point sampling: spread, deterministic
        best = int(np.argmax(distance))
        if distance[best] < 2.0:
            break
        chosen.append(points[best])
        distance = np.minimum(distance, np.linalg.norm(points - points[best], axis=1))
    chosen = np.array(chosen)
    return ProposalTarget(chosen, f"{name} (lesion label)", name, float(np.linalg.norm(chosen - centre, axis=1).max()))


# --- results ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    technique: str
    kind: TrajectoryKind
    side: str | None
    entry_lps: tuple[float, float, float]
    target_lps: tuple[float, float, float]
    device_id: str
    score: float
    min_margin_mm: float | None  # whole-needle surface to the nearest hazard (safety engine); None: no hazard measured
    closest_structure: str | None
    length_mm: float
    skin_to_target_mm: float
    soft_tissue_mm: float
    angles_deg: dict[str, float]
    breach_grade: str | None = None
    breach_mm: float | None = None
    target_structure: str | None = None
    level: str | None = None
    warnings: tuple[str, ...] = ()  # warn-level texts of the safety engine (a stop is never proposed)

    def as_json(self) -> dict:
        """The `osteoplan propose --json` candidate object (exact keys)."""
        return {"entry_lps": [float(v) for v in self.entry_lps], "target_lps": [float(v) for v in self.target_lps],
                "min_margin_mm": None if self.min_margin_mm is None else round(float(self.min_margin_mm), 3),
                "closest_structure": self.closest_structure,
                "score": round(float(self.score), 4)}

    @property
    def label(self) -> str:
        side = f" {self.side}" if self.side else ""
        level = f"{self.level} " if self.level else ""
        return f"{level}{self.technique}{side}"

    def trajectory(self, session) -> Trajectory:
        """An ordinary trajectory (fresh id) for the plan."""
        made = session.new_trajectory(self.entry_lps, self.target_lps, self.kind, self.device_id,
                                      Side(self.side) if self.side else None)
        return made.model_copy(update={"name": f"{self.label} (proposed)", "target_structure": self.target_structure,
                                       "level": self.level})


@dataclass(frozen=True)
class CandidatePair:
    left: Candidate
    right: Candidate
    score: float  # the worse of the two

    def as_json(self) -> dict:
        return {"left": self.left.as_json(), "right": self.right.as_json(), "score": round(float(self.score), 4)}


# risk-map status of an entry point
RISK_OK, RISK_STOP, RISK_PEDICLE = "ok", "stop", "pedicle"


@dataclass(frozen=True)
class RiskMap:
    """Entry points on the skin with their coarse score (0..1) or why they are rejected."""

    entries_lps: np.ndarray  # (n, 3)
    scores: np.ndarray  # (n,) 0..1; 0 where rejected
    status: np.ndarray  # (n,) RISK_OK | RISK_STOP | RISK_PEDICLE


@dataclass(frozen=True)
class ProposalResult:
    technique: str
    target: ProposalTarget
    candidates: list[Candidate]
    pairs: list[CandidatePair]
    risk_map: RiskMap
    message: str
    rays: int = 0  # directions x tips searched
    evaluated: int = 0  # whole-needle evaluations
    seconds: float = 0.0
    counts: dict = field(default_factory=dict)  # rejected rays by reason

    def as_json(self) -> dict:
        return {"candidates": [c.as_json() for c in self.candidates], "pairs": [p.as_json() for p in self.pairs]}


# --- scoring --------------------------------------------------------------------------------------
def _score(settings: ProposalSettings, rule: TechniqueRule, margin, soft, length, reach, breach, angles,
           preferred, centrality):
    """Weighted mean of the terms (arrays broadcast; `breach` nan = no pedicle term)."""
    w = rule.weights
    terms = [(w.margin, np.clip(np.asarray(margin) / settings.margin_full_mm, 0.0, 1.0)),
             (w.soft_tissue, 1.0 - np.clip(np.asarray(soft) / settings.soft_tissue_full_mm, 0.0, 1.0)),
             (w.length, 1.0 - np.clip(np.asarray(length) / reach, 0.0, 1.0)),
             (w.centrality, np.clip(np.asarray(centrality), 0.0, 1.0))]
    transverse, sagittal = np.asarray(angles)[..., 0], np.asarray(angles)[..., 1]
    half_t = (rule.transverse_deg[1] - rule.transverse_deg[0]) / 2.0
    half_s = (rule.sagittal_deg[1] - rule.sagittal_deg[0]) / 2.0
    deviation = np.hypot((transverse - preferred[0]) / half_t, (sagittal - preferred[1]) / half_s)
    terms.append((w.angle, 1.0 - np.clip(deviation, 0.0, 1.0)))
    if rule.through_pedicle:
        breach = np.asarray(breach, dtype=float)
        terms.append((w.pedicle, np.where(np.isnan(breach), 0.5,
                                          1.0 - np.clip(np.nan_to_num(breach) / settings.max_breach_mm, 0.0, 1.0))))
    total = sum(weight for weight, _ in terms) or 1.0
    return sum(weight * term for weight, term in terms) / total


def _in_cone(rule: TechniqueRule, direction: np.ndarray, side: str | None) -> tuple[bool, np.ndarray]:
    """Whether an outward direction lies in the technique's cone, and its (transverse, sagittal) angles."""
    angles = trajectory_angles_deg(direction, (0.0, 0.0, 0.0), side)
    pair = np.array([angles["transverse"], angles["sagittal"]])
    inside = (rule.transverse_deg[0] - 1e-6 <= pair[0] <= rule.transverse_deg[1] + 1e-6
              and rule.sagittal_deg[0] - 1e-6 <= pair[1] <= rule.sagittal_deg[1] + 1e-6)
    if rule.posterior and direction[1] <= 0:
        inside = False
    return inside, pair


# --- the search -----------------------------------------------------------------------------------
class _Search:
    def __init__(self, session, target: ProposalTarget, technique: str, progress: Progress | None,
                 cancel: threading.Event | None) -> None:
        self.settings = settings = proposal_settings()
        if technique not in settings.techniques:
            raise ProposalError(f"unknown technique {technique!r}; choose one of {', '.join(settings.techniques)}")
        self.session, self.target, self.technique = session, target, technique
        self.rule = settings.techniques[technique]
        self.kind = self.rule.trajectory_kind
        self.device = session.default_device(self.kind)
        if self.device.length_mm is None:
            raise ProposalError(f"the device {self.device.id} has no length; choose a trocar with a length")
        self.reach = float(self.device.length_mm)
        self.radius = self.device.outer_diameter_mm / 2.0
        self._progress, self._cancel = progress, cancel
        engine = session.engine
        self.grid = session.case.ct
        self.bits = engine.masks.bits
        structures = session.structures
        centre = target.points[0]
        self.target_structure = target.lesion or next(iter(structures_at(structures, self.grid, centre)), None)
        excluded = {self.target_structure}
        for point in target.points:
            excluded.update(structures_at(structures, self.grid, point))
        self.hazards = hazards_excluding(structures, excluded)
        self.stop_mm = np.array([h.needle_thresholds().stop_mm if h.needle_thresholds().stop_mm is not None
                                 else -np.inf for h in self.hazards])
        self.step(0.02, "Distance fields of the structures")
        self.fields = [session.distance_fields.field(h) for h in self.hazards]
        vertebra = engine.structures.field_near(centre, self.target_structure)
        self.vertebra = vertebra if vertebra is not None and vertebra.name.startswith("vertebrae_") else None
        self.level = self.vertebra.name.removeprefix("vertebrae_") if self.vertebra is not None else None
        if self.kind in (TrajectoryKind.TRANSPEDICULAR, TrajectoryKind.PARAPEDICULAR) and self.vertebra is not None:
            self.target_structure = self.target_structure or self.vertebra.name
        preferred_t = (pedicle_convergence_deg(self.level) if self.rule.preferred_transverse_deg == "level"
                       else float(self.rule.preferred_transverse_deg))
        self.preferred = (float(np.clip(preferred_t, *self.rule.transverse_deg)), self.rule.preferred_sagittal_deg)
        self.pedicles = {}
        if self.rule.through_pedicle and self.vertebra is not None:
            for side in ("left", "right"):
                probe = Trajectory(id="probe", kind=self.kind, side=Side(side), entry_lps=tuple(centre + [0, 50, 0]),
                                   target_lps=tuple(centre), device=self.device.id)
                self.pedicles[side] = engine.pedicle(self.vertebra.name, probe)
        self.evaluated = 0
        self._directions: dict = {}

    def step(self, fraction: float, message: str) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise ProposalCancelled()
        if self._progress is not None:
            self._progress(fraction, message)

    # --- tips and directions --------------------------------------------------------------
    def tips(self) -> list[Tip]:
        points = self.target.points
        if not self.rule.sided:
            return [Tip(p, (None,)) for p in points]
        found = [Tip(p, ("left", "right")) for p in points]
        if self.target.lesion is None and self.settings.pair_tip_offset_mm > 0:  # a pair's tips, each on its side
            offset = np.array([self.settings.pair_tip_offset_mm, 0.0, 0.0])
            found += [Tip(points[0] + offset, ("left",), True), Tip(points[0] - offset, ("right",), True)]
        return found

    def directions(self, side: str | None) -> tuple[np.ndarray, np.ndarray]:
        """The cone's grid of outward directions for a side (None: any side) and their angles (cached)."""
        if side not in self._directions:
            rule = self.rule
            if side is not None:
                self._directions[side] = sided_directions(rule.transverse_deg, rule.sagittal_deg,
                                                          rule.angle_step_deg, side)
            else:
                kept, angles = [], []
                for direction in sphere_directions(rule.angle_step_deg):
                    inside, pair = _in_cone(rule, direction, None)
                    if inside:
                        kept.append(direction)
                        angles.append(pair)
                self._directions[side] = (np.array(kept).reshape(-1, 3), np.array(angles).reshape(-1, 2))
        return self._directions[side]

    # --- coarse ---------------------------------------------------------------------------
    def coarse(self, tips: np.ndarray, directions: np.ndarray, sides: list, report: bool = True) -> dict:
        """Coarse numbers and rejections of rays (arrays, one row per ray); `report`: progress of the search stage."""
        skin, bone, minima, excess = [], [], [], []
        for start in range(0, len(tips), RAYS_PER_CHUNK):
            chunk = slice(start, start + RAYS_PER_CHUNK)
            side_rows = sides[chunk]
            numbers_by_side = []
            for side in sorted({s or "" for s in side_rows}):
                rows = np.array([(s or "") == side for s in side_rows])
                pedicle = self.pedicles.get(side) if side else None
                numbers = coarse_rays(self.grid, self.bits, tips[chunk][rows], directions[chunk][rows], self.reach,
                                      self.fields, COARSE_STEP_MM, self.radius, self.vertebra if pedicle else None,
                                      pedicle)
                numbers_by_side.append((rows, numbers))
            n = len(side_rows)
            chunk_skin, chunk_bone = np.full(n, np.nan), np.zeros(n)
            chunk_min, chunk_excess = np.full((n, len(self.fields)), np.inf), np.full(n, np.nan)
            for rows, numbers in numbers_by_side:
                chunk_skin[rows], chunk_bone[rows] = numbers.skin_mm, numbers.bone_mm
                chunk_min[rows], chunk_excess[rows] = numbers.hazard_min_mm, numbers.pedicle_excess_mm
            skin.append(chunk_skin)
            bone.append(chunk_bone)
            minima.append(chunk_min)
            excess.append(chunk_excess)
            if report:
                self.step(0.05 + 0.4 * min(1.0, (start + RAYS_PER_CHUNK) / max(len(tips), 1)), "Searching directions")
        skin, bone = np.concatenate(skin), np.concatenate(bone)
        minima, excess = np.concatenate(minima), np.concatenate(excess)
        surface = minima - self.radius  # needle surface to each hazard
        stop = np.any(surface < self.stop_mm[None, :], axis=1) if len(self.hazards) else np.zeros(len(tips), bool)
        # no hazard to measure: the margin is unknown and earns no score (a fabricated margin would flatter)
        margin = surface.min(axis=1) if len(self.hazards) else np.zeros(len(tips))
        margin = np.where(np.isfinite(margin), margin, 25.0)
        pedicle_miss = np.isfinite(excess) & (excess > self.settings.max_breach_mm) | np.isposinf(excess)
        return {"skin": skin, "bone": bone, "margin": margin, "stop": stop, "excess": excess,
                "pedicle_miss": pedicle_miss, "reachable": np.isfinite(skin)}

    def centrality(self, tips: np.ndarray) -> np.ndarray:
        if self.target.spread_mm <= 0:
            return np.ones(len(tips))
        return 1.0 - np.linalg.norm(tips - self.target.points[0], axis=1) / self.target.spread_mm

    def coarse_score(self, numbers: dict, tips, angles) -> np.ndarray:
        skin = np.nan_to_num(numbers["skin"], nan=self.reach)
        return _score(self.settings, self.rule, numbers["margin"], skin - numbers["bone"], skin, self.reach,
                      numbers["excess"], angles, self.preferred, self.centrality(tips))

    # --- fine -----------------------------------------------------------------------------
    def evaluate(self, tip: np.ndarray, direction: np.ndarray, skin_mm: float, side: str | None) -> Candidate | None:
        """The exact evaluation of one path (safety engine + readouts); None when it must be rejected."""
        self.evaluated += 1
        margin = min(self.settings.skin_margin_mm, max(0.5, self.reach - skin_mm))
        entry = tip + direction * (skin_mm + margin)
        trajectory = Trajectory(id="proposal", kind=self.kind, side=Side(side) if side else None,
                                target_structure=self.target_structure, level=self.level,
                                entry_lps=tuple(float(v) for v in entry), target_lps=tuple(float(v) for v in tip),
                                device=self.device.id)
        readout = self.session.engine.compute(trajectory, self.device)
        if readout.device_long_enough is False or readout.skin_to_target_mm is None:
            return None
        breach = readout.breach_mm
        if self.rule.through_pedicle and (breach is None or breach >= self.settings.max_breach_mm):
            return None
        distances = trajectory_distances(self.session, trajectory)[trajectory.id]
        notes = []
        for found in distances:
            warning = distance_warning(trajectory.id, "path", found)
            if warning is not None and warning.severity == Severity.STOP:
                return None
            if warning is not None:
                notes.append(warning.message)
        nearest = distances[0] if distances else None
        min_margin = nearest.distance_mm if nearest is not None else None
        soft = max(0.0, readout.skin_to_target_mm - readout.bone_path_mm)
        angles = readout.angles_deg
        centrality = self.centrality(tip[None])[0]
        score = float(_score(self.settings, self.rule, 0.0 if min_margin is None else min_margin, soft, readout.skin_to_target_mm, self.reach,
                             np.nan if readout.breach_mm is None else readout.breach_mm,
                             np.array([angles["transverse"], angles["sagittal"]]), self.preferred, centrality))
        return Candidate(self.technique, self.kind, side, trajectory.entry_lps, trajectory.target_lps, self.device.id,
                         score, None if min_margin is None else float(min_margin),
                         nearest.structure.name if nearest is not None else None,
                         trajectory.length_mm, float(readout.skin_to_target_mm), float(soft), dict(angles),
                         readout.breach_grade, readout.breach_mm, self.target_structure, self.level, tuple(notes))


def _spread(rows: list[int], tips: np.ndarray, directions: np.ndarray, count: int, apart_deg: float) -> list[int]:
    """Up to `count` of `rows` (best first), each at least `apart_deg` from the others with the same tip,
    so that the exact evaluation covers the distinct good regions (refinement then polishes each)."""
    cos_apart = math.cos(math.radians(apart_deg))
    picked: list[int] = []
    for i in rows:
        if all(not np.array_equal(tips[i], tips[j]) or float(directions[i] @ directions[j]) < cos_apart
               for j in picked):
            picked.append(i)
            if len(picked) >= count:
                break
    return picked


def _pick_diverse(candidates: list[Candidate], count: int, min_entry_mm: float) -> list[Candidate]:
    """Best first, skipping a candidate whose entry and tip lie close to one already picked (near duplicates)."""
    picked: list[Candidate] = []
    for candidate in sorted(candidates, key=lambda c: -c.score):
        if all(np.linalg.norm(np.subtract(candidate.entry_lps, p.entry_lps)) >= min_entry_mm / 2.0
               or np.linalg.norm(np.subtract(candidate.target_lps, p.target_lps)) >= 2.0 for p in picked):
            picked.append(candidate)
        if len(picked) >= count:
            break
    return picked


def best_pairs(candidates: list[Candidate], settings: ProposalSettings, count: int = 3) -> list[CandidatePair]:
    """Left + right pairs (entries and tips apart), best (worse-of-two score) first."""
    left = sorted((c for c in candidates if c.side == "left"), key=lambda c: -c.score)[:12]
    right = sorted((c for c in candidates if c.side == "right"), key=lambda c: -c.score)[:12]
    pairs = []
    for a in left:
        for b in right:
            if (np.linalg.norm(np.subtract(a.entry_lps, b.entry_lps)) >= settings.min_entry_separation_mm
                    and np.linalg.norm(np.subtract(a.target_lps, b.target_lps)) >= settings.min_tip_separation_mm):
                pairs.append(CandidatePair(a, b, min(a.score, b.score)))
    pairs.sort(key=lambda p: -p.score)
    chosen: list[CandidatePair] = []
    apart = settings.min_entry_separation_mm / 2.0
    for pair in pairs:  # distinct pairs: not the same two entries again, give or take a few mm
        if all(np.linalg.norm(np.subtract(pair.left.entry_lps, p.left.entry_lps)) >= apart
               or np.linalg.norm(np.subtract(pair.right.entry_lps, p.right.entry_lps)) >= apart for p in chosen):
            chosen.append(pair)
        if len(chosen) >= count:
            break
    return chosen


def propose_paths(session, target: ProposalTarget, technique: str, count: int = 5,
                  progress: Progress | None = None, cancel: threading.Event | None = None) -> ProposalResult:
    """The best `count` paths to `target` for `technique`, the best bilateral pairs and the risk map.

    Raises ProposalError for an unknown technique, ProposalCancelled when `cancel` is set.
    """
    started = time.perf_counter()
    search = _Search(session, target, technique, progress, cancel)
    settings, rule = search.settings, search.rule
    tips, directions, sides, angles, pair_only = [], [], [], [], []
    for tip in search.tips():
        for side in tip.sides:
            dirs, ang = search.directions(side)
            tips.append(np.repeat(tip.point[None], len(dirs), axis=0))
            directions.append(dirs)
            angles.append(ang)
            sides += [side] * len(dirs)
            pair_only += [tip.pair_only] * len(dirs)
    tips, directions, angles = np.concatenate(tips), np.concatenate(directions), np.concatenate(angles)
    pair_only = np.array(pair_only)
    search.step(0.05, f"Searching {len(tips)} directions")
    numbers = search.coarse(tips, directions, sides)
    scores = search.coarse_score(numbers, tips, angles)
    viable = numbers["reachable"] & ~numbers["stop"] & ~numbers["pedicle_miss"]
    counts = {"rays": int(len(tips)), "beyond_reach": int((~numbers["reachable"]).sum()),
              "stop": int((numbers["reachable"] & numbers["stop"]).sum()),
              "pedicle": int((numbers["reachable"] & ~numbers["stop"] & numbers["pedicle_miss"]).sum())}

    # exact evaluation of the best coarse rays, balanced between sides (a pair needs both)
    order = np.flatnonzero(viable)[np.argsort(-scores[viable], kind="stable")]
    groups = sorted({(s or "", bool(p)) for s, p in zip(sides, pair_only)})
    per_group = max(4, settings.fine_candidates // max(1, len(groups)))
    chosen = []
    for side, only in groups:
        rows = [i for i in order if (sides[i] or "") == side and bool(pair_only[i]) == only]
        chosen += _spread(rows, tips, directions, per_group, 2.0 * rule.angle_step_deg)
    evaluated: list[tuple[Candidate, int]] = []
    for n, i in enumerate(chosen):
        if n % 5 == 0:
            search.step(0.45 + 0.4 * n / max(len(chosen), 1), "Evaluating the best paths")
        found = search.evaluate(tips[i], directions[i], float(numbers["skin"][i]), sides[i])
        if found is not None:
            evaluated.append((found, i))

    # local refinement: turn the best few by half, then a quarter, of the grid step
    refined = {id(c): (c, tips[i], directions[i], sides[i], bool(pair_only[i])) for c, i in evaluated}
    for fraction in (0.5, 0.25):
        search.step(0.85 + 0.1 * (fraction == 0.25), "Refining the best paths")
        best = sorted(refined.values(), key=lambda r: -r[0].score)[:settings.refine_best]
        for candidate, tip, direction, side, only in best:
            turned = [d for d in turned_directions(direction, rule.angle_step_deg * fraction)
                      if _in_cone(rule, d, side)[0]]
            if not turned:
                continue
            turned = np.array(turned)
            more = search.coarse(np.repeat(tip[None], len(turned), axis=0), turned, [side] * len(turned), report=False)
            keep = more["reachable"] & ~more["stop"] & ~more["pedicle_miss"]
            for d, skin in zip(turned[keep], more["skin"][keep]):
                found = search.evaluate(tip, d, float(skin), side)
                if found is not None and found.score > candidate.score:
                    refined[id(found)] = (found, tip, d, side, only)

    everything = [r[0] for r in refined.values()]
    proposals = [r[0] for r in refined.values() if not r[4]]
    candidates = _pick_diverse(proposals, count, settings.min_entry_separation_mm)
    pairs = best_pairs(everything, settings) if rule.sided else []
    risk = _risk_map(tips, directions, numbers, scores)
    message = _message(search, target, candidates, counts)
    search.step(1.0, "Proposals ready")
    return ProposalResult(technique, target, candidates, pairs, risk, message, int(len(tips)), search.evaluated,
                          time.perf_counter() - started, counts)


def _risk_map(tips, directions, numbers, scores) -> RiskMap:
    """Coarse entries coloured by score; one (the best) per RISK_CELL_MM cell so overlaps stay readable."""
    reachable = numbers["reachable"]
    entries = tips[reachable] + directions[reachable] * numbers["skin"][reachable][:, None]
    status = np.where(numbers["stop"][reachable], RISK_STOP,
                      np.where(numbers["pedicle_miss"][reachable], RISK_PEDICLE, RISK_OK))
    value = np.where(status == RISK_OK, scores[reachable], 0.0)
    order = np.argsort(-value, kind="stable")
    _, first = np.unique(np.floor(entries[order] / RISK_CELL_MM).astype(np.int64), axis=0, return_index=True)
    keep = order[np.sort(first)]
    return RiskMap(entries[keep], value[keep], status[keep])


def _message(search: _Search, target: ProposalTarget, candidates: list[Candidate], counts: dict) -> str:
    reach = f"{search.reach:g} mm ({search.device.id})"
    if candidates:
        return (f"{len(candidates)} {search.rule.label.lower()} path(s) to the {target.description}; "
                f"{counts['rays']} directions searched, {search.evaluated} evaluated with the whole needle.")
    parts = [f"{counts['stop']} cross a stop structure" if counts["stop"] else "",
             f"{counts['beyond_reach']} find no skin within the device's {reach}" if counts["beyond_reach"] else "",
             f"{counts['pedicle']} miss the pedicle" if counts["pedicle"] else ""]
    why = "; ".join(p for p in parts if p) or "none passed the whole-needle check"
    hint = " or a lesion label (tips are then tried through the whole lesion)" if target.lesion is None else ""
    return (f"No safe {search.rule.label.lower()} path to the {target.description}: of {counts['rays']} directions, "
            f"{why}. Try another technique or target{hint}.")


def accept_proposals(session, candidates: list[Candidate]) -> list[Trajectory]:
    """Add the candidates to the plan as ordinary trajectories, in one undo step."""
    added = []
    label = "Add proposed path" if len(candidates) == 1 else "Add proposed paths"
    with session.history.group(label):
        for candidate in candidates:
            added.append(session.editor.add_trajectory(candidate.trajectory(session), label))
    return added


# --- the command line -------------------------------------------------------------------------------
def _vector_text(point) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in point) + ")"


def margin_text(candidate: Candidate) -> str:
    """``margin 4.2 mm``, or ``margin unknown`` when no hazard structure was there to measure."""
    return "margin unknown" if candidate.min_margin_mm is None else f"margin {candidate.min_margin_mm:.1f} mm"


def candidate_line(candidate: Candidate) -> str:
    """One line a radiologist reads: score, margin and nearest structure, length, angles, breach."""
    nearest = f" to {candidate.closest_structure}" if candidate.closest_structure else ""
    breach = f", breach {candidate.breach_grade}" if candidate.breach_grade else ""
    return (f"{candidate.label}: score {candidate.score:.2f}, {margin_text(candidate)}{nearest}, "
            f"skin to target {candidate.skin_to_target_mm:.0f} mm ({candidate.soft_tissue_mm:.0f} mm soft tissue), "
            f"transverse {candidate.angles_deg['transverse']:+.0f}° "
            f"sagittal {candidate.angles_deg['sagittal']:+.0f}°{breach}")


def result_lines(result: ProposalResult) -> list[str]:
    lines = [result.message]
    for rank, candidate in enumerate(result.candidates, start=1):
        lines.append(f"  {rank}. {candidate_line(candidate)}")
        lines.append(f"     entry LPS {_vector_text(candidate.entry_lps)} -> target {_vector_text(candidate.target_lps)}")
    if result.pairs:
        lines.append("Best bilateral pairs (score = the worse of the two):")
        for rank, pair in enumerate(result.pairs, start=1):
            lines.append(f"  {rank}. score {pair.score:.2f}: left entry {_vector_text(pair.left.entry_lps)} "
                         f"({margin_text(pair.left)}), right entry {_vector_text(pair.right.entry_lps)} "
                         f"({margin_text(pair.right)})")
    return lines


def parse_point(text: str) -> np.ndarray:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise ProposalError(f"--target {text!r}: give three LPS coordinates in mm, e.g. --target -2,9,-1")
    return np.array(values)


def propose_command(plan_path, target_text: str | None, lesion: str | None, technique: str,
                    count: int = 5) -> tuple[ProposalResult, list[str]]:
    """`osteoplan propose`: load the plan's case, build its distance fields, search. Returns the result
    and the text lines to print. Raises ProposalError (and LoadError) on bad input."""
    from osteoplan.core.session import open_plan_session

    if count < 1:
        raise ProposalError(f"--count must be at least 1, got {count}")
    if technique not in proposal_settings().techniques:
        raise ProposalError(f"unknown technique {technique!r}; choose one of {', '.join(technique_names())}")
    point = parse_point(target_text) if target_text is not None else None
    session, _notes = open_plan_session(plan_path)
    if point is not None:
        target = target_at_point(session, point)
    else:
        target = target_of_lesion(session, str(lesion), proposal_settings().techniques[technique].lesion_tips)
    session.prepare()
    result = propose_paths(session, target, technique, count)
    return result, result_lines(result)
