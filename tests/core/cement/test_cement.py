"""Cement spread: volume conservation, gateways on the phantom, bad inputs, plan round trip."""

from __future__ import annotations

import numpy as np
import pytest

from osteoplan.core.imaging.case import Case
from osteoplan.core.cement.spread import CementError
from osteoplan.core.cement.simulation import injection_report, solve
from osteoplan.core.planning.injection import Injection
from osteoplan.core.imaging.io.labels import LabelMap
from osteoplan.core.files.plan_file import plan_from_dict, plan_to_dict
from osteoplan.core.imaging.phantom import build_phantom
from osteoplan.core.session import PlanSession


@pytest.fixture(scope="module")
def phantom():
    return build_phantom("spine", spacing_mm=1.6)


@pytest.fixture(scope="module")
def case(phantom):
    return Case(ct=phantom.ct, labels=LabelMap(volume=phantom.labels, names=dict(phantom.label_names)))


def _session(case, phantom, level, volume=4.0, tip=None):
    L = phantom.landmarks
    body, canal = np.array(L[f"{level}_body_center"]), np.array(L[f"canal_center_{level}"])
    tip = body + (canal - body) * 0.35 if tip is None else np.asarray(tip)
    session = PlanSession(case)
    trajectory = session.new_trajectory(L[f"{level}_pedicle_left_axis_entry"], tip)
    session.editor.add_trajectory(trajectory)
    session.editor.add_injection(Injection(id="c1", trocar=trajectory.id, volume_ml=volume))
    return session


@pytest.mark.parametrize("level", ["L2", "L3"])
def test_volume_is_conserved(case, phantom, level):
    solution = solve(_session(case, phantom, level, 5.0))
    for volume in (0.5, 1.0, 2.5, 5.0):
        filled = solution.fill(volume).filled_ml["c1"]
        assert abs(filled - volume) <= 0.02 * volume


def test_breached_L2_reaches_the_canal_before_4ml_intact_L3_does_not(case, phantom):
    l2 = injection_report(_session(case, phantom, "L2"))
    (item,) = l2["injections"]
    canal = [g for g in item["gateways"] if g["into"] == "epidural canal"]
    assert canal and canal[0]["reached_at_ml"] < 4.0
    assert any(w["severity"] == "stop" for w in l2["warnings"])
    l3 = injection_report(_session(case, phantom, "L3"))
    assert not [g for g in l3["injections"][0]["gateways"] if g["into"] == "epidural canal"]


def test_lesion_fills_before_dense_bone(case, phantom):
    report = injection_report(_session(case, phantom, "L2", 1.0, phantom.landmarks["lesion_center"]))
    item = report["injections"][0]
    assert item["lesion_fill"] > 30 and (item["bone_fill"] is None or item["bone_fill"] < 5)


def test_trocar_voxels_are_not_filled(case, phantom):
    solution = solve(_session(case, phantom, "L3"))
    assert not (solution.fill(4.0).mask & solution.field.solid).any()


def test_bad_inputs(case, phantom):
    with pytest.raises(ValueError):
        Injection(id="c1", trocar="t1", volume_ml=0)
    with pytest.raises(ValueError):
        Injection(id="c1", trocar="t1", volume_ml=-1)
    with pytest.raises(CementError, match="outside bone"):
        solve(_session(case, phantom, "L3", tip=(60.0, 0.0, phantom.landmarks["L3_body_center"][2])))
    with pytest.raises(CementError, match="vessel"):
        solve(_session(case, phantom, "L2", tip=phantom.landmarks["aorta_center_L2"]))
    session = PlanSession(case)
    with pytest.raises(CementError, match="no trocar"):
        session.editor.add_injection(Injection(id="c1", trocar="nope", volume_ml=1))


def test_undo_and_plan_round_trip(case, phantom, tmp_path):
    session = _session(case, phantom, "L2")
    session.editor.update_injection("c1", volume_ml=3.0, viscosity="high")
    assert session.plan.injection("c1").volume_ml == 3.0
    session.history.undo()
    assert session.plan.injection("c1").volume_ml == 4.0
    data = plan_to_dict(session.plan, tmp_path)
    data["image"] = {"path": "demo:spine"}
    loaded = plan_from_dict(data, tmp_path)
    assert loaded.plan.injections == session.plan.injections


def test_uniform_block_spread_is_symmetric_and_elongated_cranio_caudally():
    """A uniform cancellous block: the fill is symmetric about the tip and longer along z (SI) than along
    x/y by the model's SI/transverse speed ratio ((1/transverse_ratio)^exponent)."""
    from types import SimpleNamespace

    from osteoplan.core.cement.spread import BONE, CementSolution, Field3, SpreadGraph, arrival_times, cement_model

    model = cement_model()
    shape = (61, 41, 41)  # [k, j, i]
    phi = np.full(shape, 0.8, dtype=np.float32)
    k = model.permeability(phi.astype(np.float64))
    false = np.zeros(shape, dtype=bool)
    field = Field3((0, 0, 0), np.full(shape, BONE, dtype=np.int8), phi, k, false, false.copy(),
                   np.ones(shape, dtype=bool), false.copy(), 1e-3)
    ct = SimpleNamespace(direction=np.eye(3), spacing=(1.0, 1.0, 1.0))
    centre = np.array([[30, 20, 20]])
    exponent = model.exponent("medium")
    graph = SpreadGraph(field, ct, exponent, model.kozeny.k_ref_m2, model.kozeny.transverse_ratio)
    solution = CementSolution(field, arrival_times(graph, [centre]), [Injection(id="c1", trocar="t1", volume_ml=2.5)])
    mask = solution.fill(2.5).mask
    kc, jc, ic = centre[0]

    def reach(line: np.ndarray, c: int) -> tuple[int, int]:
        idx = np.flatnonzero(line)
        return c - int(idx.min()), int(idx.max()) - c

    z_minus, z_plus = reach(mask[:, jc, ic], kc)
    y_minus, y_plus = reach(mask[kc, :, ic], jc)
    x_minus, x_plus = reach(mask[kc, jc, :], ic)
    assert 0 < max(z_minus, z_plus) < kc and 0 < max(x_minus, x_plus, y_minus, y_plus) < ic  # inside the box
    for a, b in ((z_minus, z_plus), (y_minus, y_plus), (x_minus, x_plus), (x_plus, y_plus)):
        assert abs(a - b) <= 1
    ratio = (1.0 / model.kozeny.transverse_ratio) ** exponent
    z_extent, xy_extent = z_minus + z_plus + 1, (x_minus + x_plus + y_minus + y_plus) / 2 + 1
    assert ratio > 1.2
    assert abs(z_extent / xy_extent - ratio) <= 0.15 * ratio


def test_reinforced_cementoplasty_reports_the_embedded_spindle_length():
    from osteoplan.core.planning.trajectory import Spindle

    hip = build_phantom("hip", spacing_mm=1.6)
    hip_case = Case(ct=hip.ct, labels=LabelMap(volume=hip.labels, names=dict(hip.label_names)))
    L = hip.landmarks
    lesion, head = np.asarray(L["lesion_center"], float), np.asarray(L["femoral_head_center"], float)
    session = PlanSession(hip_case)
    trocar = session.new_trajectory(L["greater_trochanter_lateral_point"], lesion)
    session.editor.add_trajectory(trocar)
    towards_head = (head - lesion) / np.linalg.norm(head - lesion)
    session.editor.add_spindle(trocar.id, Spindle(id="s1", direction=tuple(towards_head), length_mm=15.0,
                                                  device="kwire-2.0-150"))
    session.editor.add_injection(Injection(id="c1", trocar=trocar.id, volume_ml=3.0))
    (item,) = injection_report(session)["injections"]
    (spindle,) = item["spindles"]
    assert spindle["id"] == "s1" and 0 < spindle["embedded_mm"] <= 15.0
    solution = solve(session)
    assert not (solution.fill().mask & solution.field.solid).any()  # spindles are not filled
