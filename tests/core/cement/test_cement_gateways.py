"""The basivertebral foramen region as a leak gateway: found from the vertebra and canal labels at the
centre of the body's posterior wall, mid-height; reached early from a posterior-central tip, later or
not at all from a lateral one; a venous `warn`."""

from __future__ import annotations

import numpy as np
import pytest

from osteoplan.core.imaging.case import Case
from osteoplan.core.cement.gateways import BASIVERTEBRAL, BASIVERTEBRAL_INTO, wall_strip
from osteoplan.core.cement.spread import cement_model
from osteoplan.core.cement.simulation import injection_report, solve
from osteoplan.core.planning.injection import Injection
from osteoplan.core.imaging.io.labels import LabelMap
from osteoplan.core.imaging.phantom import build_phantom
from osteoplan.core.imaging.phantom import vertebra as V
from osteoplan.core.session import PlanSession
from osteoplan.core.safety.structures import structures_from_labels


@pytest.fixture(scope="module")
def spine():
    phantom = build_phantom("spine", spacing_mm=1.6)
    return phantom, Case(ct=phantom.ct, labels=LabelMap(volume=phantom.labels, names=dict(phantom.label_names)))


def _session(spine, level, tip, volume=6.0):
    phantom, case = spine
    session = PlanSession(case)
    trajectory = session.new_trajectory(phantom.landmarks[f"{level}_pedicle_left_axis_entry"], tip)
    session.editor.add_trajectory(trajectory)
    session.editor.add_injection(Injection(id="c1", trocar=trajectory.id, volume_ml=volume))
    return session


def _posterior_central(spine, level):
    L = spine[0].landmarks
    body, canal = np.array(L[f"{level}_body_center"]), np.array(L[f"canal_center_{level}"])
    return body + (canal - body) * 0.35


def _basivertebral_ml(session) -> float | None:
    found = [g["reached_at"] for g in solve(session).first_reach_ml("c1") if g["kind"] == BASIVERTEBRAL]
    return found[0] if found else None


@pytest.mark.parametrize("level", ["L1", "L3"])
def test_the_gateway_lies_at_the_centre_of_the_posterior_wall_at_mid_height(spine, level):
    solution = solve(_session(spine, level, _posterior_central(spine, level)))
    ((kind, into, mask),) = solution.field.inner_gateways
    assert (kind, into) == (BASIVERTEBRAL, BASIVERTEBRAL_INTO)
    kji = np.argwhere(mask) + np.asarray(solution.field.start)
    points = spine[0].ct.index_to_lps(kji[:, ::-1].astype(float))
    params = cement_model().basivertebral
    assert np.abs(points[:, 0]).max() <= params.half_width_mm + 1e-6  # midline (x = 0 in the phantom)
    assert np.abs(points[:, 2] - V.LEVEL_Z[level]).max() <= params.half_height_mm + 1.6  # mid-height of the body
    # the body's hindmost layer: within the wall's depth in front of the posterior wall (concave at the midline)
    assert points[:, 1].max() <= V.POSTERIOR_WALL_Y + 0.5
    assert points[:, 1].min() >= V.POSTERIOR_WALL_Y - 3.0 - params.depth_mm - 1.6


@pytest.mark.parametrize("level", ["L1", "L3"])
def test_a_posterior_central_tip_reaches_the_basivertebral_gateway_before_a_lateral_one(spine, level):
    central = _session(spine, level, _posterior_central(spine, level), volume=4.0)
    central_ml = _basivertebral_ml(central)
    assert central_ml is not None and central_ml < 2.0
    report = injection_report(central)
    (gateway,) = [g for g in report["injections"][0]["gateways"] if g["kind"] == BASIVERTEBRAL]
    assert gateway["into"] == BASIVERTEBRAL_INTO and gateway["reached_at_ml"] == pytest.approx(central_ml, abs=1e-3)
    (warning,) = [w for w in report["warnings"] if BASIVERTEBRAL in w["message"]]
    assert warning["severity"] == "warn" and f"{central_ml:.2f} mL" in warning["message"]
    assert not [g for g in report["injections"][0]["gateways"] if g["into"] == "epidural canal"]  # intact wall
    lateral_tip = np.array(spine[0].landmarks[f"{level}_body_center"]) + np.array([12.0, 0.0, 0.0])
    lateral_ml = _basivertebral_ml(_session(spine, level, lateral_tip, volume=4.0))
    assert lateral_ml is None or lateral_ml > central_ml + 1.0


def test_no_canal_label_no_basivertebral_gateway(spine):
    phantom, case = spine
    structures, _ = structures_from_labels(case)
    vertebra = next(s for s in structures if s.name == "vertebrae_L3")
    params = cement_model().basivertebral
    assert wall_strip(case.ct, vertebra, [], [], params) is None
    canal = [s for s in structures if s.name == "spinal_canal"]
    assert wall_strip(case.ct, vertebra, canal, [], params) is not None


@pytest.mark.shared_data
def test_basivertebral_strip_on_a_real_ct_with_only_the_cord_labelled():
    from osteoplan.core.imaging.io import load_label_map
    from osteoplan.core.imaging.io.images import load_image
    from tests.conftest import shared_data_path

    folder = shared_data_path("ct_abdomen_3mm_labels")
    ct = load_image(folder / "ct.nii.gz").volume
    case = Case(ct, load_label_map(folder / "labels.nii.gz", reference=ct))
    structures, _ = structures_from_labels(case)
    by_name = {s.name: s for s in structures}
    vertebra, cord = by_name["vertebrae_L1"], by_name["spinal_cord"]
    strip = wall_strip(ct, vertebra, [cord], [], cement_model().basivertebral)
    assert strip is not None
    body = np.argwhere(vertebra.box_mask) + np.asarray(vertebra.start_kji)
    points = ct.index_to_lps(body[:, ::-1].astype(float))
    inside = strip.contains(points)
    assert inside.any()
    assert strip.anterior[1] < -0.8  # anterior is -y (LPS) on this axial CT
    chosen, cord_y = points[inside], ct.index_to_lps((np.argwhere(cord.box_mask) + cord.start_kji)[:, ::-1]
                                                       .astype(float))[:, 1].mean()
    # in front of the cord, in the back part of the body, near the cord's midline
    body_front = points[:, 1].min()
    assert chosen[:, 1].min() > body_front + 0.5 * (cord_y - body_front)
    assert np.all(chosen[:, 1] < cord_y)
