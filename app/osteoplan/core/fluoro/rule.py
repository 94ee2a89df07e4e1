"""The fluoroscopy rule of transpedicular access, checked on every transpedicular path.

Rule (resources/sources.md, "Trajectory geometry"): on the lateral view the tip must be in the
vertebral body (past its posterior wall) before, on the AP view, it crosses the medial wall
of the pedicle; a tip medial to the pedicle while still behind the body is in the canal.

How it is measured: a C-arm (`fluoro.CArm`) centred on the target vertebra gives an AP
(rotation 0) and a lateral (rotation 90) projection matrix. Along the path (every
SAMPLE_STEP_MM from the entry), the tip is projected with both:
- AP: the medial pedicle wall is the most medial projected point of the pedicle (the
  vertebra's voxels on the path's side beside the canal, within the pedicle's narrow band
  from `pedicle.analyse_vertebra`): the edge of the pedicle's "eye" facing the canal;
- lateral: the posterior wall of the body is the projection of the canal's front (the
  body's back) on the mid-sagittal plane at the tip's height.
The rule is broken when the first depth where the AP tip is medial to the wall comes more
than `tolerance_mm` before the first depth where the lateral tip is in front of the body's
posterior wall (or the tip never reaches it).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np

from osteoplan.core.fluoro.drr import CArm, project_points
from osteoplan.core.planning.pedicle import VertebraAnatomy, infer_side, voxel_points_lps
from osteoplan.core.planning.trajectory import Trajectory, TrajectoryKind
from osteoplan.core.safety.check_rules import check_rules
from osteoplan.core.safety.context import PlanContext
from osteoplan.core.safety.warnings import SafetyWarning, Severity

SAMPLE_STEP_MM = 0.25


@dataclass(frozen=True)
class FluoroRuleResult:
    trajectory_id: str
    vertebra: str
    side: str
    medial_wall_depth_mm: float | None  # from the entry, where the AP tip first crosses the medial pedicle wall
    posterior_wall_depth_mm: float | None  # where the lateral tip first reaches the body's posterior wall
    violated: bool
    medial_crossing_lps: np.ndarray | None = None
    # (2, 3) LPS ends of the walls as the views show them: the medial pedicle wall (a vertical
    # line on AP through the pedicle's most medial point) and the body's posterior wall (lateral)
    medial_wall_lps: np.ndarray | None = None
    posterior_wall_lps: np.ndarray | None = None


_pedicle_points: "weakref.WeakKeyDictionary[object, dict]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def pedicle_points(engine, vertebra: str, anatomy: VertebraAnatomy, side: str) -> np.ndarray:
    """LPS centres of the voxels of one pedicle's narrow part (cached per readout engine)."""
    with _lock:
        cache = _pedicle_points.setdefault(engine, {})
        if (vertebra, side) not in cache:
            structures = engine.structures
            mask, start = structures.structure_mask(structures.value_of(vertebra))
            step = anatomy.field.step_kji
            points = voxel_points_lps(mask[::step[0], ::step[1], ::step[2]], start, anatomy.field, step)
            pedicle = anatomy.pedicles[side]
            sign = 1.0 if side == "left" else -1.0
            lo, hi = pedicle.band_y_mm
            keep = ((sign * (points[:, 0] - anatomy.canal_center_lps[0]) > 1.0)
                    & (points[:, 1] >= lo) & (points[:, 1] <= hi))
            cache[(vertebra, side)] = points[keep]
        return cache[(vertebra, side)]


def _first_depth(depths: np.ndarray, condition: np.ndarray) -> float | None:
    hits = np.flatnonzero(condition)
    return float(depths[hits[0]]) if len(hits) else None


def check_fluoro_rule(engine, trajectory: Trajectory, tolerance_mm: float = 0.0) -> FluoroRuleResult | None:
    """The rule for one transpedicular path on a labelled vertebra (`engine`: the session's
    `ReadoutEngine`); None when it does not apply (another technique, no vertebra label, no pedicle)."""
    if trajectory.kind != TrajectoryKind.TRANSPEDICULAR:
        return None
    field = engine.structures.field_near(trajectory.target, trajectory.target_structure)
    if field is None or not field.name.startswith("vertebrae_"):
        return None
    anatomy = engine.anatomy(field.name)
    if anatomy is None:
        return None
    side = infer_side(trajectory, anatomy)
    if side not in anatomy.pedicles:
        return None
    pedicle = anatomy.pedicles[side]
    points = pedicle_points(engine, field.name, anatomy, side)
    if len(points) == 0:
        return None
    canal = anatomy.canal_center_lps
    isocentre = (float(canal[0]), 0.5 * (anatomy.canal_y_mm[0] + anatomy.body_anterior_y_mm), float(pedicle.center_lps[2]))
    ap = CArm(isocentre_lps=isocentre).projection_matrix()
    lateral = CArm(isocentre_lps=isocentre, rotation_deg=90.0).projection_matrix()

    depths = np.arange(0.0, trajectory.length_mm + SAMPLE_STEP_MM / 2, SAMPLE_STEP_MM)
    tips = trajectory.entry + depths[:, None] * trajectory.axis
    # AP: "medial" is towards the projected canal
    canal_col = project_points(ap, canal)[0, 0]
    pedicle_cols = project_points(ap, points)[:, 0]
    towards_lateral = np.sign(np.median(pedicle_cols) - canal_col) or 1.0
    medial_index = int(np.argmin(towards_lateral * pedicle_cols))
    medial_wall = float(towards_lateral * pedicle_cols[medial_index])
    half_height = 0.5 * float(np.ptp(points[:, 2])) or 5.0
    medial_point = points[medial_index]
    medial_segment = np.array([medial_point + [0, 0, half_height], medial_point - [0, 0, half_height]])
    medial_segment[:, 2] += float(pedicle.center_lps[2]) - medial_point[2]
    posterior_segment = np.array([[canal[0], anatomy.canal_y_mm[0], pedicle.center_lps[2] + 2 * half_height],
                                  [canal[0], anatomy.canal_y_mm[0], pedicle.center_lps[2] - 2 * half_height]])
    tip_cols = project_points(ap, tips)[:, 0]
    medial_depth = _first_depth(depths, towards_lateral * tip_cols < medial_wall)
    # lateral: "in the body" is in front of its projected posterior wall, at each tip's height
    wall = np.column_stack([np.full(len(tips), canal[0]), np.full(len(tips), anatomy.canal_y_mm[0]), tips[:, 2]])
    in_front = wall - np.array([0.0, 10.0, 0.0])
    wall_cols = project_points(lateral, wall)[:, 0]
    towards_anterior = np.sign(project_points(lateral, in_front)[:, 0] - wall_cols)
    body_depth = _first_depth(depths, towards_anterior * (project_points(lateral, tips)[:, 0] - wall_cols) >= 0)
    violated = medial_depth is not None and (body_depth is None or medial_depth < body_depth - tolerance_mm)
    crossing = None if medial_depth is None else trajectory.point_at(medial_depth)
    return FluoroRuleResult(trajectory.id, field.name, side, medial_depth, body_depth, bool(violated), crossing,
                            medial_segment, posterior_segment)


def describe(result: FluoroRuleResult, label: str) -> str:
    """The warning's text: which rule, and at which depth each event happens."""
    vertebra = result.vertebra.removeprefix("vertebrae_")
    body = ("never reaches the posterior wall of the body" if result.posterior_wall_depth_mm is None
            else f"reaches the posterior wall of the body only at {result.posterior_wall_depth_mm:.1f} mm")
    return (f"{label}: fluoroscopy rule broken at {vertebra} ({result.side} pedicle): on AP the tip crosses the "
            f"medial pedicle wall at {result.medial_wall_depth_mm:.1f} mm from the entry, while on the lateral "
            f"view it {body}: the tip would be in the canal. Converge less (an entry nearer the midline or a "
            f"more lateral target)")


def fluoro_rule_warnings(session: PlanContext, trajectory: Trajectory) -> list[SafetyWarning]:
    """The rule of a transpedicular path (enabled in check_rules.json's `fluoro_rule`), as a warning when broken."""
    rule = check_rules().fluoro_rule
    if rule is None or not rule.enabled or trajectory.kind is not TrajectoryKind.TRANSPEDICULAR:
        return []
    result = check_fluoro_rule(session.engine, trajectory, rule.tolerance_mm)
    if result is None or not result.violated:
        return []
    closest = None if result.medial_crossing_lps is None else tuple(float(v) for v in result.medial_crossing_lps)
    # the depths are in the message; the warning points at where the tip crosses the medial wall
    return [SafetyWarning(Severity.WARN, trajectory.id, describe(result, trajectory.label), structure=result.vertebra,
                          closest_lps=closest)]
