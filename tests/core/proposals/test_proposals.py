"""Automatic path proposals on the demo phantoms: never through the canal, inside the pedicle, pairs, accept."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from osteoplan.core.imaging.demo import load_demo_case
from osteoplan.core.errors import ResourceError
from osteoplan.core.imaging.phantom import landmarks
from osteoplan.core.proposals.propose import (
    ProposalCancelled,
    ProposalError,
    ProposalSettings,
    RISK_OK,
    RISK_STOP,
    accept_proposals,
    propose_paths,
    proposal_settings,
    target_at_point,
    target_of_lesion,
)
from osteoplan.core.resources import load_json_resource, validate_resource
from osteoplan.core.session import PlanSession
from osteoplan.core.safety.structure_warnings import trajectory_distances

NEURAL = ("spinal_canal", "spinal_cord")


@pytest.fixture(scope="module")
def spine() -> PlanSession:
    session = PlanSession(load_demo_case("spine"))
    session.prepare()
    return session


@pytest.fixture(scope="module")
def body_proposals(spine):
    return propose_paths(spine, target_at_point(spine, landmarks("spine")["L2_body_center"]), "transpedicular")


@pytest.fixture(scope="module")
def lesion_proposals(spine):
    return propose_paths(spine, target_of_lesion(spine, "lesion", 12), "transpedicular")


def _whole_needle(session, candidate) -> dict[str, float]:
    """Distance of the candidate's needle to each hazard, by the safety engine (not the search's own numbers)."""
    trajectory = candidate.trajectory(session)
    return {d.structure.name: d.distance_mm for d in trajectory_distances(session, trajectory)[trajectory.id]}


def _all_paths(result):
    return [*result.candidates, *(p for pair in result.pairs for p in (pair.left, pair.right))]


def test_the_techniques_resource_validates_and_rejects_a_reversed_cone():
    settings = proposal_settings()
    assert set(settings.techniques) == {"transpedicular", "parapedicular", "transcortical"}
    assert all(rule.source for rule in settings.techniques.values())
    data = load_json_resource("proposal_techniques.json")
    data["techniques"]["transpedicular"]["transverse_deg"] = [30.0, -5.0]
    with pytest.raises(ResourceError, match="transverse_deg"):
        validate_resource(ProposalSettings, data, "proposal_techniques.json")


@pytest.mark.parametrize("which", ["body_proposals", "lesion_proposals"])
def test_no_proposal_crosses_or_touches_the_canal(which, spine, request):
    result = request.getfixturevalue(which)
    assert result.candidates, result.message
    for candidate in _all_paths(result):
        distances = _whole_needle(spine, candidate)
        for name in NEURAL:
            assert distances[name] > 0.0, (candidate.label, name, distances[name])
        assert candidate.min_margin_mm == pytest.approx(min(distances.values()), abs=1e-6)
        assert candidate.closest_structure == min(distances, key=distances.get)


def test_the_best_transpedicular_proposal_stays_inside_the_pedicle(spine, body_proposals, lesion_proposals):
    for result in (body_proposals, lesion_proposals):
        best = result.candidates[0]
        trajectory = best.trajectory(spine)
        readout = spine.engine.compute(trajectory, spine.catalog.get(trajectory.device))
        assert readout.breach_grade in ("A", "B"), (best.label, readout.breach_grade, readout.breach_mm)
        assert best.breach_grade == readout.breach_grade
        assert best.level == "L2" and trajectory.kind.value == "transpedicular"
        # within the device's reach, with the entry outside the skin
        assert readout.device_long_enough is True
        assert trajectory.length_mm <= spine.catalog.get(trajectory.device).length_mm + 1e-6
    assert [c.score for c in body_proposals.candidates] == sorted((c.score for c in body_proposals.candidates),
                                                                  reverse=True)


def test_a_lesion_target_puts_every_tip_in_the_lesion(spine, lesion_proposals):
    lesion = spine.structures["lesion"]
    for candidate in lesion_proposals.candidates:
        kji = np.floor(spine.case.ct.lps_to_index(np.asarray(candidate.target_lps)) + 0.5).astype(int)[::-1]
        assert lesion.mask[tuple(kji)], candidate.target_lps


def test_the_best_bilateral_pair_has_a_left_and_a_right_entry(body_proposals):
    assert body_proposals.pairs
    pair = body_proposals.pairs[0]
    assert pair.left.side == "left" and pair.right.side == "right"
    assert pair.left.entry_lps[0] > pair.left.target_lps[0] and pair.right.entry_lps[0] < pair.right.target_lps[0]
    assert pair.score == pytest.approx(min(pair.left.score, pair.right.score))
    settings = proposal_settings()
    assert np.linalg.norm(np.subtract(pair.left.entry_lps, pair.right.entry_lps)) >= settings.min_entry_separation_mm
    assert np.linalg.norm(np.subtract(pair.left.target_lps, pair.right.target_lps)) >= settings.min_tip_separation_mm
    assert [p.score for p in body_proposals.pairs] == sorted((p.score for p in body_proposals.pairs), reverse=True)


def test_accepting_a_pair_adds_two_trajectories_in_one_undo_step(body_proposals):
    session = PlanSession(load_demo_case("spine"))
    pair = body_proposals.pairs[0]
    added = accept_proposals(session, [pair.left, pair.right])
    assert [t.id for t in session.plan.trajectories] == [t.id for t in added] and len(added) == 2
    assert {t.side.value for t in added} == {"left", "right"}
    assert added[0].entry_lps == pytest.approx(pair.left.entry_lps)
    assert session.history.undo()
    assert session.plan.trajectories == ()
    assert not session.history.can_undo


def test_the_risk_map_colours_entries_on_the_skin(spine, body_proposals):
    risk = body_proposals.risk_map
    assert len(risk.entries_lps) == len(risk.scores) == len(risk.status) > 50
    assert {RISK_OK, RISK_STOP} <= set(risk.status.tolist())
    assert np.all((risk.scores >= 0) & (risk.scores <= 1)) and np.all(risk.scores[risk.status != RISK_OK] == 0)
    # each entry lies on the body's surface: body one step inwards, air one step outwards
    target = np.asarray(landmarks("spine")["L2_body_center"])
    outward = (risk.entries_lps - target) / np.linalg.norm(risk.entries_lps - target, axis=1, keepdims=True)
    ct = spine.case.ct
    inner = [ct.value_at_lps(p) for p in risk.entries_lps - 2.0 * outward]
    outer = [ct.value_at_lps(p) for p in risk.entries_lps + 2.0 * outward]
    on_skin = [(i is not None and i > -300) and (o is None or o < -300) for i, o in zip(inner, outer)]
    assert np.mean(on_skin) > 0.9


def test_a_target_in_the_cord_has_no_safe_path_and_says_why(spine):
    result = propose_paths(spine, target_at_point(spine, landmarks("spine")["canal_center_L2"]), "transpedicular")
    assert result.candidates == [] and result.pairs == []
    assert "No safe transpedicular path" in result.message and "stop structure" in result.message


def test_bad_targets_progress_and_cancel(spine):
    with pytest.raises(ProposalError, match="lesion labels of this case are: lesion"):
        target_of_lesion(spine, "lesion_T9", 4)
    with pytest.raises(ProposalError, match="outside the image"):
        target_at_point(spine, (0.0, 0.0, 500.0))
    with pytest.raises(ProposalError, match="unknown technique"):
        propose_paths(spine, target_at_point(spine, (0.0, 0.0, 0.0)), "transfemoral")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ProposalCancelled):
        propose_paths(spine, target_at_point(spine, (0.0, 0.0, 0.0)), "transpedicular", cancel=cancel)
    heard = []
    propose_paths(spine, target_at_point(spine, (0.0, 0.0, 0.0)), "transpedicular",
                  progress=lambda fraction, message: heard.append(fraction))
    assert len(heard) > 3 and heard == sorted(heard) and heard[-1] == 1.0


def test_hip_transcortical_proposals_avoid_the_vessels_and_nerves():
    session = PlanSession(load_demo_case("hip"))
    session.prepare()
    result = propose_paths(session, target_of_lesion(session, "lesion", 6), "transcortical", count=3)
    assert len(result.candidates) == 3, result.message
    for candidate in result.candidates:
        distances = _whole_needle(session, candidate)
        for name in ("femoral_artery_left", "femoral_vein_left", "femoral_nerve_left", "sciatic_nerve_left"):
            assert distances[name] > 5.0, (name, distances[name])  # beyond the warning distance too
        assert candidate.breach_grade is None and candidate.side is None
