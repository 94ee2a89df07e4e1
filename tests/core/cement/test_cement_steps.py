"""Stepwise cement injection: portions with pauses conserve volume, break out along new paths
instead of extending the front that ran furthest, and reproduce the single shot without the pause
effect; steps that do not add up are refused."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from osteoplan.core.imaging.case import Case
from osteoplan.core.cement.spread import BONE, SOFT, CementSolution, Field3, SpreadGraph, arrival_times, cement_model
from osteoplan.core.cement.simulation import injection_report, portion_lines, solve
from osteoplan.core.cement.steps import SteppedCementSolution
from osteoplan.core.planning.injection import Injection
from osteoplan.core.imaging.io.labels import LabelMap
from osteoplan.core.imaging.phantom import build_phantom
from osteoplan.core.session import PlanSession

UNIT_CT = SimpleNamespace(direction=np.eye(3), spacing=(1.0, 1.0, 1.0))
TIP = np.array([[20, 20, 20]])


@pytest.fixture(scope="module")
def channel_block():
    """Dense cancellous bone (porosity 0.7) with a more porous channel (0.85) running from the tip to a
    cortical breach into soft tissue 18 mm away, 1 mm voxels."""
    model = cement_model()
    shape = (41, 41, 41)
    phi = np.full(shape, 0.7, dtype=np.float32)
    phi[19:22, 19:22, 20:38] = 0.85
    region = np.full(shape, BONE, dtype=np.int8)
    region[:, :, 38:] = SOFT
    k = model.permeability(phi.astype(np.float64))
    k[region == SOFT] = model.outside["soft tissue"].k_m2
    phi[region == SOFT] = 1.0
    none = np.zeros(shape, dtype=bool)
    return Field3((0, 0, 0), region, phi, k, none, none.copy(), region == BONE, none.copy(), 1e-3)


def _single_shot(field, volume=2.0):
    model = cement_model()
    graph = SpreadGraph(field, UNIT_CT, model.exponent("medium"), model.kozeny.k_ref_m2, model.kozeny.transverse_ratio)
    return CementSolution(field, arrival_times(graph, [TIP]), [Injection(id="c1", trocar="t1", volume_ml=volume)])


def _stepwise(field, portion_ml, volume=2.0, model=None):
    injection = Injection(id="c1", trocar="t1", volume_ml=volume,
                          steps_ml=(portion_ml,) * int(round(volume / portion_ml)))
    model = model or cement_model()
    return SteppedCementSolution(field, UNIT_CT, [TIP], [injection], model, model.exponent("medium"))


def _breach_ml(solution) -> float:
    (gateway,) = [g for g in solution.first_reach_ml("c1") if g["kind"] == "cortical breach"]
    return gateway["reached_at"]


def test_portions_break_out_along_new_paths_and_reach_the_channel_leak_later(channel_block):
    single = _single_shot(channel_block)
    stepwise = _stepwise(channel_block, 0.1)
    assert _breach_ml(single) < 0.3  # one shot runs down the channel to the breach
    assert _breach_ml(stepwise) > 2 * _breach_ml(single)  # the set cement plugs it: later portions spread sideways
    (gateway,) = [g for g in stepwise.first_reach_ml("c1") if g["kind"] == "cortical breach"]
    assert gateway["step"] > 1 and gateway["reached_at"] > (gateway["step"] - 1) * 0.1 - 1e-9
    a, b = single.fill(1.0).mask, stepwise.fill(1.0).mask
    assert (a ^ b).sum() > 0.1 * a.sum()  # a different shape, not the same front
    channel = np.zeros_like(a)
    channel[19:22, 19:22, 20:38] = True
    early_single, early_stepwise = single.fill(0.3).mask, stepwise.fill(0.3).mask
    assert (early_single & channel).sum() == channel.sum()
    assert (early_stepwise & channel).sum() < 0.7 * channel.sum()


def test_without_the_pause_effect_portions_reproduce_the_single_shot(channel_block):
    model = cement_model()
    no_pause = model.model_copy(update={"pause": model.pause.model_copy(update={"set_viscosity_ratio": 1.0})})
    single, stepwise = _single_shot(channel_block), _stepwise(channel_block, 0.1, model=no_pause)
    for volume in (0.35, 1.0, 2.0, 2.5):
        differ = (single.fill(volume).mask ^ stepwise.fill(volume).mask).sum()
        assert differ <= 20  # only the rounding of each portion to whole voxels
    assert _breach_ml(stepwise) == pytest.approx(_breach_ml(single), abs=0.01)


@pytest.mark.parametrize("volume", [0.05, 0.3, 1.0, 1.55, 2.0, 2.8])
def test_stepwise_fill_conserves_volume(channel_block, volume):
    fill = _stepwise(channel_block, 0.5).fill(volume)
    assert abs(fill.filled_ml["c1"] - volume) <= 0.02 * volume
    assert fill.owner_mask["c1"].sum() == fill.mask.sum()


@pytest.fixture(scope="module")
def spine():
    phantom = build_phantom("spine", spacing_mm=1.6)
    return phantom, Case(ct=phantom.ct, labels=LabelMap(volume=phantom.labels, names=dict(phantom.label_names)))


def _bilateral_L2(spine, steps=()):
    phantom, case = spine
    L = phantom.landmarks
    body, canal = np.array(L["L2_body_center"]), np.array(L["canal_center_L2"])
    session = PlanSession(case)
    for number, side in enumerate(("left", "right"), start=1):
        tip = body + (canal - body) * 0.3 + np.array([8.0 if side == "left" else -8.0, 0.0, 0.0])
        trajectory = session.new_trajectory(L[f"L2_pedicle_{side}_axis_entry"], tip)
        session.editor.add_trajectory(trajectory)
        session.editor.add_injection(Injection(id=f"c{number}", trocar=trajectory.id, volume_ml=4.0, steps_ml=steps))
    return session


def _voxels(fill) -> set[tuple[int, int, int]]:
    """The cemented voxels as CT-grid indices (solutions may crop different boxes)."""
    return set(map(tuple, np.argwhere(fill.mask) + np.asarray(fill.start)))


def test_bilateral_portions_on_the_phantom_conserve_volume_and_change_the_spread(spine):
    stepwise, single = _bilateral_L2(spine, (1.0,) * 4), _bilateral_L2(spine)
    solution = solve(stepwise)
    for volume in (0.5, 1.0, 2.5, 4.0, 5.0):  # between portions, at their ends, past the plan
        fill = solution.fill(volume)
        for injection_id in ("c1", "c2"):
            assert abs(fill.filled_ml[injection_id] - volume) <= 0.02 * volume
        assert not (fill.owner_mask["c1"] & fill.owner_mask["c2"]).any()
    planned = solution.fill()
    assert not (planned.mask & solution.field.solid).any()
    one_shot = solve(single).fill()
    assert len(_voxels(planned) ^ _voxels(one_shot)) > 0.05 * one_shot.mask.sum()
    report = injection_report(stepwise)
    assert {round(item["filled_ml"], 1) for item in report["injections"]} == {4.0}
    lines = portion_lines(stepwise, "c1")
    assert len(lines) == 4 and lines[-1].startswith("portion 4: 1 mL, 4.00 mL in all")
    assert portion_lines(single, "c1") == []


def test_a_stepwise_and_a_single_shot_injection_together_each_get_their_volume(spine):
    session = _bilateral_L2(spine)
    session.editor.update_injection("c1", steps_ml=(1.0, 1.0, 1.0, 1.0))
    solution = solve(session)
    for volumes in ({"c1": 4.0, "c2": 4.0}, {"c1": 4.0, "c2": 6.0}, {"c1": 1.5, "c2": 4.0}):
        fill = solution.fill(volumes)
        for injection_id, volume in volumes.items():
            assert abs(fill.filled_ml[injection_id] - volume) <= 0.02 * volume
        assert not (fill.owner_mask["c1"] & fill.owner_mask["c2"]).any()
    session.editor.update_injection("c2", volume_ml=3.0)
    assert solve(session) is not solution  # the single shot is part of the later portions' obstacle


def test_a_new_volume_with_the_same_steps_re_queries_but_new_steps_re_solve(spine):
    session = _bilateral_L2(spine, (1.0,) * 4)
    first = solve(session)
    assert solve(session) is first
    session.editor.update_injection("c1", volume_ml=3.0, steps_ml=(1.0, 1.0, 1.0))
    assert solve(session) is not first


def test_steps_that_do_not_add_up_are_refused():
    with pytest.raises(ValueError, match="steps_ml add up to 2 mL, not volume_ml \\(3 mL\\)"):
        Injection(id="c1", trocar="t1", volume_ml=3.0, steps_ml=(1.0, 1.0))
    with pytest.raises(ValueError):
        Injection(id="c1", trocar="t1", volume_ml=1.0, steps_ml=(1.5, -0.5))
