"""`osteoplan check` on plans made on the spine demo: readouts, warnings and exit codes."""

from __future__ import annotations

import json

import pytest

from osteoplan.cli import main
from osteoplan.core.imaging.demo import load_demo_case
from osteoplan.core.files.plan_file import save_plan
from osteoplan.core.imaging.phantom import landmarks
from osteoplan.core.session import PlanSession
from osteoplan.core.planning.templates import bilateral_transpedicular
from osteoplan.core.planning.trajectory import TrajectoryKind


@pytest.fixture(scope="module")
def bilateral_session() -> PlanSession:
    case = load_demo_case("spine")
    session = PlanSession(case)
    device = session.default_device(TrajectoryKind.TRANSPEDICULAR)
    for path in bilateral_transpedicular(case, case.focus_lps, device.length_mm, new_id=session.plan.id_factory(),
                                         device_id=device.id, radius_mm=device.radius_mm):
        session.editor.add_trajectory(path)
    return session


def _check_json(plan_path, capsys) -> tuple[int, dict]:
    code = main(["check", str(plan_path), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_check_json_reports_the_bilateral_plan_without_stop(bilateral_session, tmp_path, capsys):
    save_plan(bilateral_session.plan, tmp_path / "plan.json")
    code, report = _check_json(tmp_path / "plan.json", capsys)
    assert code == 0
    assert set(report) == {"plan", "trajectories", "warnings", "hazards", "automatic_structures"}
    assert report["automatic_structures"] == []  # the demo's label map holds every structure
    assert report["hazards"] == {"checked": ["neural", "vascular", "visceral"], "unchecked": []}
    assert [t["id"] for t in report["trajectories"]] == ["t1", "t2"]
    for item in report["trajectories"]:
        assert set(item) == {"id", "kind", "device", "length_mm", "bone_path_mm", "skin_depth_mm", "tip_tissue",
                             "tip_bone", "angles_deg", "breach_grade", "spindles"}
        assert item["kind"] == "transpedicular" and item["breach_grade"] == "A"
        assert item["tip_tissue"] == "vertebrae_L2" and item["tip_bone"] == "cancellous"
        assert 5 < item["angles_deg"]["transverse"] < 15  # L2: about 5 degrees x level, medially
        assert item["bone_path_mm"] > 20 and item["skin_depth_mm"] > 50
        # the GUI shows the same numbers: both come from the session's readouts
        readout = bilateral_session.readout(item["id"])
        assert item["length_mm"] == pytest.approx(readout.length_mm, abs=1e-3)
    assert all(w["severity"] != "stop" for w in report["warnings"])
    for warning in report["warnings"]:
        assert set(warning) == {"severity", "object", "structure", "distance_mm", "threshold_mm", "closest_lps",
                                "message"}


def test_a_needle_through_the_canal_is_a_stop_with_exit_code_1(bilateral_session, tmp_path, capsys):
    spine = landmarks("spine")
    device = bilateral_session.default_device(TrajectoryKind.TRANSPEDICULAR)
    through_canal = bilateral_session.new_trajectory(spine["L2_spinous_process_tip"], spine["L2_body_center"],
                                                     TrajectoryKind.TRANSPEDICULAR, device_id=device.id)
    bilateral_session.editor.add_trajectory(through_canal)
    try:
        save_plan(bilateral_session.plan, tmp_path / "plan.json")
    finally:
        bilateral_session.history.undo()
    code, report = _check_json(tmp_path / "plan.json", capsys)
    assert code == 1
    stops = [w for w in report["warnings"] if w["severity"] == "stop"]
    assert {w["object"] for w in stops} == {through_canal.id}
    assert stops[0]["threshold_mm"] > 0 and stops[0]["distance_mm"] < -stops[0]["threshold_mm"]  # the breach
    # and the structures it crosses (issue 4): one stop each, named, with the point on the structure
    crossed = {w["structure"]: w for w in stops[1:]}
    assert {"spinal_canal", "spinal_cord"} <= set(crossed)
    assert crossed["spinal_canal"]["distance_mm"] < 0 and crossed["spinal_canal"]["threshold_mm"] == 0.0
    assert len(crossed["spinal_canal"]["closest_lps"]) == 3


def test_human_output_lists_readouts(bilateral_session, tmp_path, capsys):
    save_plan(bilateral_session.plan, tmp_path / "plan.json")
    assert main(["check", str(tmp_path / "plan.json")]) == 0
    out = capsys.readouterr().out
    assert "breach grade A" in out and "No stop warning." in out


def test_check_on_a_broken_plan_is_exit_code_2(tmp_path, capsys):
    (tmp_path / "plan.json").write_text('{"format": "osteoplan.plan", "version": 1, "image": {"path": "demo:spine"}, '
                                        '"trajectories": [{"id": "t1", "entry_lps": [0, 0, 0], "target_lps": [0, 0, 0], '
                                        '"device": "trocar-11g-100"}]}')
    assert main(["check", str(tmp_path / "plan.json"), "--json"]) == 2
    err = capsys.readouterr().err
    assert "trajectories[0]" in err and err.count("\n") == 1
