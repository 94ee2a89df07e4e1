"""The needle-path rules of resources/check_rules.json, as typed warnings: pedicle breach (from the
readouts' breach grade), a device too short for the path, a spindle not anchored in healthy bone,
and devices with illustrative numbers. (The file's `fluoro_rule` is applied by `osteoplan.core.fluoro`.)
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from osteoplan.core.planning.trajectory import Trajectory
from osteoplan.core.resources import load_validated_resource
from osteoplan.core.safety.context import PlanContext
from osteoplan.core.safety.warnings import SafetyWarning, Severity

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


def pedicle_breach_warnings(session: PlanContext, trajectory: Trajectory) -> list[SafetyWarning]:
    """A `warn` or `stop` when the path leaves its pedicle by more than check_rules.json allows."""
    readout = session.readout(trajectory.id)
    rules = check_rules().pedicle_breach
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
                f"{trajectory.label}: {where}pedicle breach of {readout.breach_mm:.1f} mm (grade {readout.breach_grade}); "
                f"{severity.value} from {threshold:g} mm", structure=trajectory.target_structure,
                distance_mm=-readout.breach_mm, threshold_mm=threshold))
    return found


def device_warnings(session: PlanContext, trajectory: Trajectory) -> list[SafetyWarning]:
    """A tip outside the CT, a device too short to reach the target, spindles not anchored, devices with
    illustrative numbers."""
    readout = session.readout(trajectory.id)
    device = session.catalog.get(trajectory.device)
    name = trajectory.label
    found: list[SafetyWarning] = []
    if not session.case.ct.contains_index(session.case.ct.lps_to_index(trajectory.target)):
        found.append(SafetyWarning(
            Severity.STOP, trajectory.id,
            f"{name}: its tip lies outside the CT: nothing can be checked there (no anatomy, no structure); move "
            "it onto the images"))
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
    return found
