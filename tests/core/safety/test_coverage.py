"""No silent gaps: every verdict says which hazard categories were checked and which were not."""

from __future__ import annotations

import json

import numpy as np
import pytest

from osteoplan.cli import main
from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.demo import load_demo_case
from osteoplan.core.imaging.phantom import landmarks
from osteoplan.core.imaging.volume import Volume
from osteoplan.core.proposals.propose import candidate_line, propose_paths, target_at_point
from osteoplan.core.report.check import check_plan
from osteoplan.core.report.content import build_report
from osteoplan.core.safety.coverage import DEFAULT_REASONS, hazard_coverage
from osteoplan.core.safety.structures import StructureSet, set_user_threshold_defaults
from osteoplan.core.session import PlanSession


@pytest.fixture(scope="module")
def spine() -> PlanSession:
    return PlanSession(load_demo_case("spine"))


def _without_hazards(session: PlanSession, *categories: str) -> PlanSession:
    """A session on the same case whose structures lack `categories` (deleted, as a CT without those
    labels would have none), with the reason a builder would give for the vessels."""
    bare = PlanSession(session.case)
    bare.set_structures(StructureSet(tuple(s for s in session.structures if s.category not in categories), (),
                                     (("vascular", "CT not contrast-enhanced"),)))
    return bare


def _slab_ct() -> Volume:
    """A box of soft tissue with a bone block: no label map, nothing neural, vascular or visceral to find."""
    array = np.full((30, 40, 40), -1000, np.int16)
    array[3:27, 5:35, 5:35] = 40
    array[10:20, 15:25, 15:25] = 600
    return Volume(array, (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))


def test_the_labelled_spine_demo_checks_every_needle_hazard_category(spine):
    coverage = spine.hazard_coverage()
    assert coverage.checked == ("neural", "vascular", "visceral") and coverage.unchecked == ()
    assert check_plan(spine, "demo")["hazards"] == {"checked": ["neural", "vascular", "visceral"], "unchecked": []}


def test_a_missing_category_is_unchecked_with_the_builders_reason_or_a_generic_one(spine):
    bare = _without_hazards(spine, "vascular", "visceral")
    coverage = bare.hazard_coverage()
    assert coverage.checked == ("neural",)
    assert dict(coverage.unchecked) == {"vascular": "CT not contrast-enhanced", "visceral": DEFAULT_REASONS["visceral"]}
    assert coverage.lines()[0] == "Not checked: vascular (CT not contrast-enhanced)"
    assert check_plan(bare, "demo")["hazards"]["unchecked"][0] == {"category": "vascular",
                                                                  "reason": "CT not contrast-enhanced"}


def test_switched_off_thresholds_are_not_a_check(spine):
    set_user_threshold_defaults({"neural": {"needle": (None, None)}})
    try:
        coverage = hazard_coverage(spine.structures)
    finally:
        set_user_threshold_defaults({})
    assert "neural" not in coverage.checked
    assert "thresholds of" in dict(coverage.unchecked)["neural"] and "switched off" in dict(coverage.unchecked)["neural"]


def test_the_skin_is_a_hazard_category_only_for_plans_with_an_ablation(spine):
    assert "skin" not in spine.hazard_coverage().checked + tuple(c for c, _ in spine.hazard_coverage().unchecked)
    assert "skin" in hazard_coverage(spine.structures, ("neural", "skin")).checked


def test_check_on_a_ct_without_labels_says_what_was_not_checked_and_is_never_plain_green(tmp_path, capsys):
    import SimpleITK as sitk

    ct_path = tmp_path / "ct.nii.gz"
    sitk.WriteImage(_slab_ct().to_sitk(), str(ct_path))
    plan = {"format": "osteoplan.plan", "version": 1, "image": {"path": "ct.nii.gz"},
            "trajectories": [{"id": "t1", "kind": "free", "entry_lps": [40, 8, 30], "target_lps": [40, 40, 30],
                              "device": "trocar-11g-150"}]}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    assert main(["check", str(tmp_path / "plan.json"), "--json"]) == 0
    hazards = json.loads(capsys.readouterr().out)["hazards"]
    assert hazards["checked"] == []
    assert [u["category"] for u in hazards["unchecked"]] == ["neural", "vascular", "visceral"]
    assert all(u["reason"] for u in hazards["unchecked"])
    assert main(["check", str(tmp_path / "plan.json")]) == 0
    out = capsys.readouterr().out
    assert "Not checked: neural (" in out and "Not checked: vascular (" in out
    assert out.rstrip().endswith("No stop warning among what was checked.")


def test_the_report_verdict_names_what_was_not_checked_and_is_not_ok(spine):
    bare = _without_hazards(spine, "vascular")
    verdict = build_report(bare).verdict
    assert verdict.tone != "ok" and "Not checked: vascular (CT not contrast-enhanced)" in verdict.text
    assert build_report(spine).verdict.tone == "ok"  # no path, every category checked


def test_proposals_say_margin_unknown_when_no_hazard_was_measured(spine):
    case = load_demo_case("spine")
    bare = PlanSession(Case(ct=case.ct, labels=case.labels, source=case.source))
    bare.set_structures(StructureSet(tuple(s for s in bare.structures if s.category in ("bone", "lesion", "skin"))))
    bare.prepare()
    result = propose_paths(bare, target_at_point(bare, landmarks("spine")["L2_body_center"]), "transpedicular")
    assert result.candidates
    best = result.candidates[0]
    assert best.min_margin_mm is None and best.closest_structure is None
    assert best.as_json()["min_margin_mm"] is None and "margin unknown" in candidate_line(best)


def test_a_category_checked_only_in_part_is_also_said_not_checked(spine):
    partial = StructureSet(spine.structures.structures, (), (("neural", "partly: no spinal canal"),))
    coverage = hazard_coverage(partial)
    assert "neural" in coverage.checked and ("neural", "partly: no spinal canal") in coverage.unchecked
    assert "Not checked: neural (partly: no spinal canal)" in coverage.lines()
