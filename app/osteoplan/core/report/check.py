"""Evaluate a plan headless: per-trajectory readouts and warnings, as `osteoplan check` prints them.

Warnings here come from the needle readouts (pedicle breach, device length, spindle
anchorage, illustrative device numbers; thresholds in resources/check_rules.json), from the
fluoroscopy rule of transpedicular paths (`fluoro_rule`, also in check_rules.json), and from
the whole-needle distances to critical structures (`structure_warnings`; thresholds in
resources/structure_categories.json), and from the zones of the ablations on each path
(`ablation_warnings`; resources/ablation_model.json).
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from osteoplan.core.resources import load_validated_resource
from osteoplan.core.safety.warnings import SafetyWarning, Severity
from osteoplan.core.session import PlanSession
from osteoplan.core.safety.structure_warnings import structure_warnings

RULES_RESOURCE = "check_rules.json"


class _BreachRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    warn_mm: float = Field(gt=0)
    stop_mm: float = Field(gt=0)
    medial_stop_mm: float = Field(gt=0)
    source: str = Field(min_length=1)


class _FluoroRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    tolerance_mm: float = Field(default=0.0, ge=0, le=20)
    source: str = Field(min_length=1)


class CheckRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int = Field(ge=1, le=1)
    description: str = ""
    pedicle_breach: _BreachRules
    fluoro_rule: _FluoroRule | None = None  # absent: the rule is not checked


@lru_cache(maxsize=1)
def check_rules() -> CheckRules:
    return load_validated_resource(CheckRules, RULES_RESOURCE)


def trajectory_warnings(session: PlanSession, trajectory_id: str) -> list[SafetyWarning]:
    trajectory = session.plan.trajectory(trajectory_id)
    readout = session.readout(trajectory_id)
    device = session.catalog.get(trajectory.device)
    rules = check_rules().pedicle_breach
    name = trajectory.label
    found: list[SafetyWarning] = []
    if readout.breach_mm is not None and readout.breach_mm > 0:
        medial = readout.breach_direction == "medial"
        stop_at = rules.medial_stop_mm if medial else rules.stop_mm
        where = f"{readout.breach_direction} " if readout.breach_direction else ""
        if readout.breach_mm > stop_at or readout.breach_mm >= rules.warn_mm:
            severity = Severity.STOP if readout.breach_mm > stop_at else Severity.WARN
            threshold = stop_at if severity is Severity.STOP else rules.warn_mm
            found.append(SafetyWarning(
                severity, trajectory.id,
                f"{name}: {where}pedicle breach of {readout.breach_mm:.1f} mm (grade {readout.breach_grade}); "
                f"{severity.value} from {threshold:g} mm", structure=trajectory.target_structure,
                distance_mm=-readout.breach_mm, threshold_mm=threshold))
    found += fluoro_rule_warnings(session, trajectory)
    if readout.device_long_enough is False:
        found.append(SafetyWarning(
            Severity.WARN, trajectory.id,
            f"{name}: {device.name} ({device.length_mm:g} mm) is too short to reach the target from the skin "
            f"({readout.skin_to_target_mm:.1f} mm); choose a longer device",
            distance_mm=readout.skin_to_target_mm, threshold_mm=device.length_mm))
    for spindle in readout.spindles:
        if not spindle.anchored:
            found.append(SafetyWarning(
                Severity.WARN, spindle.id,
                f"{name}: spindle {spindle.id} is not anchored in healthy bone ({spindle.anchorage_mm:.1f} mm of "
                f"at least {session.engine.min_anchorage_mm:g} mm); its tip is in {spindle.tip_tissue}",
                threshold_mm=session.engine.min_anchorage_mm))
    devices = [device, *(session.catalog.get(s.device) for s in trajectory.spindles)]
    for unverified in {d.id: d for d in devices if not d.verified}.values():
        found.append(SafetyWarning(Severity.INFO, trajectory.id,
                                   f"{name}: {unverified.name} has illustrative (unverified) numbers: {unverified.notes or unverified.source}"))
    found += structure_warnings(session, trajectory.id)
    for ablation in session.plan.ablations_of(trajectory.id):  # thermal warnings, object = the ablation id
        found += session.ablation_warnings(ablation.id)
    if session.plan.injections_of(trajectory.id):  # cement warnings, object = the injection id
        from osteoplan.core.cement.simulation import cement_warnings

        found += cement_warnings(session, trajectory.id)
    return found


def fluoro_rule_warnings(session: PlanSession, trajectory) -> list[SafetyWarning]:
    """The lateral/AP fluoroscopy rule of a transpedicular path (`fluoro_rule`), as a warning when broken."""
    rule = check_rules().fluoro_rule
    if rule is None or not rule.enabled or trajectory.kind.value != "transpedicular":
        return []
    from osteoplan.core.fluoro.rule import check_fluoro_rule, describe

    result = check_fluoro_rule(session.engine, trajectory, rule.tolerance_mm)
    if result is None or not result.violated:
        return []
    closest = None if result.medial_crossing_lps is None else tuple(float(v) for v in result.medial_crossing_lps)
    # the depths are in the message; the warning points at where the tip crosses the medial wall
    return [SafetyWarning(Severity.WARN, trajectory.id, describe(result, trajectory.label), structure=result.vertebra,
                          closest_lps=closest)]


def check_plan(session: PlanSession, plan_label: str) -> dict:
    """The `osteoplan check --json` object (a contract: keep its keys and types)."""
    trajectories, warnings = [], []
    for trajectory in session.plan.trajectories:
        readout = session.readout(trajectory.id)
        trajectories.append({
            "id": trajectory.id,
            "kind": trajectory.kind.value,
            "device": trajectory.device,
            "length_mm": round(readout.length_mm, 3),
            "bone_path_mm": round(readout.bone_path_mm, 3),
            "skin_depth_mm": None if readout.skin_depth_mm is None else round(readout.skin_depth_mm, 3),
            "tip_tissue": readout.tip_tissue,
            "angles_deg": {"transverse": round(readout.angles_deg["transverse"], 3),
                           "sagittal": round(readout.angles_deg["sagittal"], 3)},
            "breach_grade": readout.breach_grade,
            "spindles": [{"id": s.id, "anchored": s.anchored, "anchorage_mm": round(s.anchorage_mm, 3)}
                         for s in readout.spindles],
        })
        warnings += trajectory_warnings(session, trajectory.id)
    return {"plan": plan_label, "trajectories": trajectories, "warnings": [w.to_json() for w in warnings]}
