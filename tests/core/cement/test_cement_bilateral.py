"""Several injections filling together (bilateral trocars, no portions): every injection places its whole
volume, the regions do not overlap and meet instead of running through each other, symmetric sources
fill symmetrically, and an injection that runs out of room says so."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import ndimage

from osteoplan.core.imaging.case import Case
from osteoplan.core.cement.spread import BONE, CementSolution, Field3, SpreadGraph, arrival_times, cement_model
from osteoplan.core.cement.simulation import _warnings_for, injection_report, solve
from osteoplan.core.planning.injection import Injection
from osteoplan.core.imaging.io.labels import LabelMap
from osteoplan.core.files.plan_file import plan_from_dict
from osteoplan.core.imaging.phantom import build_phantom
from osteoplan.core.session import PlanSession

BILATERAL_PLAN = Path(__file__).resolve().parents[3] / "packaging" / "screenshots" / "bilateral-L2.plan.json"
UNIT_CT = SimpleNamespace(direction=np.eye(3), spacing=(1.0, 1.0, 1.0))


@pytest.fixture(scope="module")
def spine():
    phantom = build_phantom("spine", spacing_mm=1.6)  # the demo case's geometry, coarser
    return Case(ct=phantom.ct, labels=LabelMap(volume=phantom.labels, names=dict(phantom.label_names)))


def _demo_bilateral(spine, volumes=(4.0, 4.0)) -> PlanSession:
    """The demo's bilateral L2 plan (trocars t1 left, t2 right; the lytic lesion lies on the right) with one
    injection per trocar."""
    loaded = plan_from_dict(json.loads(BILATERAL_PLAN.read_text()), BILATERAL_PLAN.parent)
    session = PlanSession(spine, plan=loaded.plan)
    for number, volume in enumerate(volumes, start=1):
        session.editor.add_injection(Injection(id=f"c{number}", trocar=f"t{number}", volume_ml=volume))
    return session


def _pieces(mask: np.ndarray) -> int:
    return ndimage.label(mask, np.ones((3, 3, 3), dtype=bool))[1]


@pytest.mark.parametrize("volume", [4.0, 6.0])
def test_each_injection_of_the_demo_bilateral_plan_places_its_volume(spine, volume):
    """With 6 mL each, ownership by first arrival let the lesion side's front claim most of the body and
    the other injection fell short (3.7 of 6 mL here): each must place its own volume."""
    session = _demo_bilateral(spine, (volume, volume))
    fill = solve(session).fill()
    for injection_id in ("c1", "c2"):
        assert abs(fill.filled_ml[injection_id] - volume) <= 0.02 * volume
        assert _pieces(fill.owner_mask[injection_id]) == 1  # one mass each: no front jumps over the other's
    assert not (fill.owner_mask["c1"] & fill.owner_mask["c2"]).any()
    assert _pieces(fill.mask) == 1  # the two fills meet
    report = injection_report(session)
    assert [round(item["filled_ml"] / volume, 1) for item in report["injections"]] == [1.0, 1.0]
    right, left = report["injections"][1], report["injections"][0]
    assert right["lesion_fill"] == 100.0 and left["lesion_fill"] == 0.0  # the lesion lies at the right tip
    assert not [w for w in report["warnings"] if "find room" in w["message"]]


def test_unequal_volumes_fill_their_own_volumes_and_re_query_without_solving(spine):
    session = _demo_bilateral(spine, (2.0, 4.0))
    solution = solve(session)
    fill = solution.fill()
    assert abs(fill.filled_ml["c1"] - 2.0) <= 0.04 and abs(fill.filled_ml["c2"] - 4.0) <= 0.08
    for volumes in ({"c1": 0.5, "c2": 4.0}, {"c1": 2.0, "c2": 1.0}, {"c1": 3.0, "c2": 6.0}):  # the preview slider
        fill = solution.fill(volumes)
        for injection_id, volume in volumes.items():
            assert abs(fill.filled_ml[injection_id] - volume) <= 0.02 * volume
        assert not (fill.owner_mask["c1"] & fill.owner_mask["c2"]).any()
    assert solve(session) is solution
    session.editor.update_injection("c1", volume_ml=3.0)  # each front meets the others' planned cement
    assert solve(session) is not solution


def test_gateways_are_those_each_injection_reaches(spine):
    session = _demo_bilateral(spine, (4.0, 4.0))
    solution = solve(session)
    fill = solution.fill()
    for injection_id in ("c1", "c2"):
        reached = solution.first_reach_ml(injection_id)
        planned = [(g["kind"], round(g["reached_at"], 3)) for g in reached if g["reached_at"] <= 4.0 + 1e-9]
        assert [(g["kind"], g["reached_at_ml"]) for g in fill.gateways[injection_id]] == planned
    # the right tip lies in the lytic lesion next to the breached posterior wall; the left one in intact bone
    assert any(g["into"] == "epidural canal" for g in fill.gateways["c2"])
    assert not any(g["into"] == "epidural canal" for g in fill.gateways["c1"])


def test_monte_carlo_runs_on_a_bilateral_plan(spine):
    report = injection_report(_demo_bilateral(spine, (4.0, 4.0)), monte_carlo=2)
    for item in report["injections"]:
        assert all(g["probability"] is not None for g in item["gateways"])


def _uniform_block(shape=(41, 41, 61)):
    model = cement_model()
    phi = np.full(shape, 0.8, dtype=np.float32)
    none = np.zeros(shape, dtype=bool)
    return Field3((0, 0, 0), np.full(shape, BONE, dtype=np.int8), phi, model.permeability(phi.astype(np.float64)),
                  none, none.copy(), np.ones(shape, dtype=bool), none.copy(), 1e-3)


def _together(field, seeds, volumes):
    model = cement_model()
    graph = SpreadGraph(field, UNIT_CT, model.exponent("medium"), model.kozeny.k_ref_m2, model.kozeny.transverse_ratio)
    injections = [Injection(id=f"c{n}", trocar=f"t{n}", volume_ml=v) for n, v in enumerate(volumes, start=1)]
    solution = CementSolution(field, arrival_times(graph, seeds), injections)
    return solution.meeting(graph, seeds, model.meeting.other_cement_k_ratio)


def test_symmetric_sources_in_a_uniform_block_fill_symmetric_halves():
    field = _uniform_block()
    seeds = [np.array([[20, 20, 22]]), np.array([[20, 20, 38]])]  # 16 mm apart along x
    fill = _together(field, seeds, (3.0, 3.0)).fill()
    one, two = fill.owner_mask["c1"], fill.owner_mask["c2"]
    assert abs(fill.filled_ml["c1"] - 3.0) <= 0.06 and abs(fill.filled_ml["c2"] - 3.0) <= 0.06
    assert abs(int(one.sum()) - int(two.sum())) <= 2
    assert not (one & two).any()
    # each on its own side of the mid-plane (x = 30), mirror images of each other within a voxel: the same
    # extent along every axis (only the partly filled last shell may differ, where equal times tie)
    assert not one[:, :, 31:].any() and not two[:, :, :30].any()
    mirrored = two[:, :, ::-1]
    for axis in range(3):
        spans = [np.flatnonzero(m.any(axis=tuple(a for a in range(3) if a != axis))) for m in (one, mirrored)]
        assert abs(spans[0].min() - spans[1].min()) <= 1 and abs(spans[0].max() - spans[1].max()) <= 1
    assert int((one ^ mirrored).sum()) <= 0.03 * one.sum()
    assert one[:, :, 29].any() and two[:, :, 31].any()  # they meet


def test_an_injection_without_room_says_so():
    field = _uniform_block((9, 9, 9))  # 0.58 mL of room in all
    solution = _together(field, [np.array([[4, 4, 2]]), np.array([[4, 4, 6]])], (1.0, 1.0))
    fill = solution.fill()
    assert sum(fill.filled_ml.values()) == pytest.approx(float(field.phi.sum()) * 1e-3, rel=1e-4)
    injection = solution.injections[0]
    (warning,) = [w for w in _warnings_for(injection, fill) if "find room" in w.message]
    assert f"only {fill.filled_ml['c1']:.2f} mL of the 1 mL find room" in warning.message
