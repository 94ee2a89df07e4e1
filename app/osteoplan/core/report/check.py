"""The `osteoplan check` object of a plan: per-trajectory readouts and every warning, in the session's
order (`PlanSession.warnings`: pedicle breach, fluoroscopy rule, devices, critical structures,
ablation zones, cement).
"""

from __future__ import annotations

from osteoplan.core.safety.structures import automatic_structures
from osteoplan.core.session import PlanSession


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
            "tip_bone": readout.tip_bone,
            "angles_deg": {"transverse": round(readout.angles_deg["transverse"], 3),
                           "sagittal": round(readout.angles_deg["sagittal"], 3)},
            "breach_grade": readout.breach_grade,
            "spindles": [{"id": s.id, "anchored": s.anchored, "anchorage_mm": round(s.anchorage_mm, 3)}
                         for s in readout.spindles],
        })
        warnings += session.warnings(trajectory.id)
    return {"plan": plan_label, "trajectories": trajectories, "warnings": [w.to_json() for w in warnings],
            "hazards": session.hazard_coverage().to_json(),
            "automatic_structures": automatic_structures(session.case, session.structures)}
