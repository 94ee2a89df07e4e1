"""The lateral/AP fluoroscopy rule of transpedicular paths, on the spine phantom."""

from __future__ import annotations

import pytest

from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.io import LabelMap
from osteoplan.core.files.plan_file import load_plan
from osteoplan.core.imaging.phantom import build_phantom
from osteoplan.core.report.check import check_plan
from osteoplan.core.safety.warnings import Severity
from osteoplan.core.session import PlanSession
from tests.conftest import REPO_ROOT

BILATERAL_PLAN = REPO_ROOT / "packaging" / "screenshots" / "bilateral-L2.plan.json"


@pytest.fixture(scope="module")
def session() -> PlanSession:
    phantom = build_phantom("spine", spacing_mm=1.0)
    case = Case(ct=phantom.ct, labels=LabelMap(volume=phantom.labels, names=dict(phantom.label_names)),
                source="demo:spine")
    return PlanSession(case, load_plan(BILATERAL_PLAN).plan)


def _rule_warnings(session, trajectory_id):
    return [w for w in session.warnings(trajectory_id) if "fluoroscopy rule" in w.message]


def _path(session, trajectory_id, entry, target):
    trajectory = session.plan.trajectory("t1").model_copy(
        update={"id": trajectory_id, "entry_lps": tuple(entry), "target_lps": tuple(target)})
    session.editor.add_trajectory(trajectory)
    return trajectory


def test_the_aligned_bilateral_paths_keep_the_rule(session):
    from osteoplan.core.fluoro.rule import check_fluoro_rule

    for trajectory in session.plan.trajectories:
        result = check_fluoro_rule(session.engine, trajectory)
        assert result is not None and result.vertebra == "vertebrae_L2"
        assert not result.violated
        assert result.posterior_wall_depth_mm is not None  # the tip does reach the body
        assert not _rule_warnings(session, trajectory.id)


def test_a_path_crossing_the_medial_wall_before_the_body_warns_with_both_depths(session):
    from osteoplan.core.fluoro.rule import check_fluoro_rule

    # from far lateral, converging steeply: medial to the pedicle's inner wall while still behind the body
    bad = _path(session, "too-medial", (40.0, 80.0, 3.0), (2.0, 5.0, 3.0))
    result = check_fluoro_rule(session.engine, bad)
    assert result.violated
    assert result.medial_wall_depth_mm < result.posterior_wall_depth_mm
    # where the AP tip crosses the wall, the tip is still behind the body's posterior wall (y = 15 mm)
    assert result.medial_crossing_lps[1] > 15.0
    warnings = _rule_warnings(session, bad.id)
    assert len(warnings) == 1 and warnings[0].severity is Severity.WARN
    message = warnings[0].message
    assert f"{result.medial_wall_depth_mm:.1f} mm" in message and f"{result.posterior_wall_depth_mm:.1f} mm" in message
    assert warnings[0].structure == "vertebrae_L2"
    # and `osteoplan check` reports it
    report = check_plan(session, "test")
    assert any(w["object"] == bad.id and "fluoroscopy rule" in w["message"] for w in report["warnings"])
    session.editor.remove_trajectory(bad.id)


def test_crossing_the_medial_wall_line_inside_the_body_is_allowed(session):
    from osteoplan.core.fluoro.rule import check_fluoro_rule

    # converging less: lateral to the medial wall until past the posterior wall, then towards the midline
    late = _path(session, "late-medial", (33.0, 100.0, 3.0), (4.0, -12.0, 3.0))
    result = check_fluoro_rule(session.engine, late)
    assert result.medial_wall_depth_mm is not None  # it does end medial to the pedicle on AP ...
    assert result.medial_wall_depth_mm >= result.posterior_wall_depth_mm  # ... but only inside the body
    assert not result.violated and not _rule_warnings(session, late.id)
    session.editor.remove_trajectory(late.id)


def test_other_techniques_are_not_checked(session):
    from osteoplan.core.fluoro.rule import check_fluoro_rule
    from osteoplan.core.planning.trajectory import TrajectoryKind

    free = session.plan.trajectory("t1").model_copy(update={"kind": TrajectoryKind.FREE,
                                                            "entry_lps": (40.0, 80.0, 3.0), "target_lps": (2.0, 5.0, 3.0)})
    assert check_fluoro_rule(session.engine, free) is None
