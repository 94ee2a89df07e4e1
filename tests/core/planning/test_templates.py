"""Path templates and auto-alignment against the phantoms' known pedicles and femoral neck.

The algorithms never read the phantom's constants; only these tests do, to check them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pytest

from osteoplan.core.imaging.bone_fields import BoneStructures
from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.io import LabelMap
from osteoplan.core.planning.pedicle import align_transpedicular, analyse_vertebra, vertebra_at
from osteoplan.core.imaging.phantom import NECK_AXIS_DIRECTION, PEDICLE_MEDIAL_ANGLE_DEG, build_phantom, pedicle_axes
from osteoplan.core.planning.readouts import ReadoutEngine
from osteoplan.core.planning.templates import bilateral_transpedicular, femoral_neck_paths, pedicle_convergence_deg
from osteoplan.core.planning.trajectory import Side, Trajectory, TrajectoryKind

SPACING_MM = 1.0


@dataclass(frozen=True)
class Needle:
    outer_diameter_mm: float
    length_mm: float | None


TROCAR_11G = Needle(3.048, 150.0)


def id_maker():
    counter = itertools.count(1)
    return lambda: f"t{next(counter)}"


@pytest.fixture(scope="module")
def spine():
    return build_phantom("spine", SPACING_MM)


@pytest.fixture(scope="module")
def spine_case(spine) -> Case:
    return Case(spine.ct, LabelMap(spine.labels, dict(spine.label_names)))


@pytest.fixture(scope="module")
def spine_engine(spine_case) -> ReadoutEngine:
    return ReadoutEngine(spine_case)


@pytest.fixture(scope="module")
def hip():
    return build_phantom("hip", SPACING_MM)


@pytest.fixture(scope="module")
def hip_case(hip) -> Case:
    return Case(hip.ct, LabelMap(hip.labels, dict(hip.label_names)))


def angle_deg(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return math.degrees(math.acos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1.0, 1.0)))


def distance_to_line(point, origin, direction) -> float:
    rel = np.asarray(point, float) - np.asarray(origin, float)
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    return float(np.linalg.norm(rel - (rel @ d) * d))


# --- vertebra analysis --------------------------------------------------------------------
@pytest.mark.parametrize("level", ["L1", "L2", "L3"])
def test_pedicles_are_found_on_their_true_axes(spine, spine_case, level):
    mask, start, field = vertebra_at(BoneStructures(spine_case), spine.landmarks[f"{level}_body_center"])
    anatomy = analyse_vertebra(mask, start, field)
    assert field.name == f"vertebrae_{level}"
    assert anatomy.canal_center_lps[0] == pytest.approx(0.0, abs=SPACING_MM)
    for side in ("left", "right"):
        truth = pedicle_axes()[f"{level}_{side}"]
        found = anatomy.pedicles[side]
        assert distance_to_line(found.center_lps, truth.center, truth.direction) < 1.5
        assert abs(found.center_lps[1] - truth.center[1]) < 6.0  # within the pedicle's narrow part


@pytest.mark.parametrize("level, degrees", [("L1", 5), ("L2", 10), ("L5", 25), ("T1", 35), ("T12", -10),
                                            (None, 10), ("X9", 10)])
def test_level_convergence(level, degrees):
    assert pedicle_convergence_deg(level) == pytest.approx(degrees)


# --- bilateral transpedicular ---------------------------------------------------------
@pytest.fixture(scope="module")
def l2_pair(spine, spine_case):
    return bilateral_transpedicular(spine_case, spine.landmarks["L2_body_center"], 150.0, new_id=id_maker(),
                                    device_id="trocar-11g")


def test_bilateral_template_proposes_one_path_per_pedicle(l2_pair):
    assert [(p.id, p.name, p.side, p.level, p.target_structure, p.kind, p.device) for p in l2_pair] == [
        ("t1", "L2 left", Side.LEFT, "L2", "vertebrae_L2", TrajectoryKind.TRANSPEDICULAR, "trocar-11g"),
        ("t2", "L2 right", Side.RIGHT, "L2", "vertebrae_L2", TrajectoryKind.TRANSPEDICULAR, "trocar-11g")]


def test_bilateral_paths_stay_in_the_pedicles_at_the_level_angle(l2_pair, spine_engine):
    for trajectory in l2_pair:
        readout = spine_engine.compute(trajectory, TROCAR_11G)
        assert readout.breach_grade == "A", trajectory.name
        assert readout.angles_deg["transverse"] == pytest.approx(PEDICLE_MEDIAL_ANGLE_DEG["L2"], abs=2.5)
        assert abs(readout.angles_deg["sagittal"]) < 5.0
        assert readout.tip_tissue in ("vertebrae_L2", "lesion")
        assert readout.skin_depth_mm is not None  # the entry is outside the skin
        assert readout.device_long_enough is True
        assert trajectory.length_mm <= TROCAR_11G.length_mm


def test_bilateral_targets_lie_in_the_anterior_body_either_side_of_the_midline(l2_pair, spine):
    centre = np.asarray(spine.landmarks["L2_body_center"])  # body: y from -16 (front) to +16
    left, right = (p.target for p in l2_pair)
    for target in (left, right):
        assert -16.0 < target[1] < centre[1]  # front half, within the body
    assert left[0] > 2.0 and right[0] < -2.0


def test_bilateral_template_without_labels_uses_bone_thresholds(spine, spine_engine):
    unlabelled = Case(spine.ct)
    pair = bilateral_transpedicular(unlabelled, spine.landmarks["L2_body_center"], 150.0, new_id=id_maker(),
                                    device_id="trocar-11g")
    assert [p.side for p in pair] == [Side.LEFT, Side.RIGHT]
    for trajectory in pair:  # graded against the labelled vertebra
        labelled = trajectory.model_copy(update={"target_structure": "vertebrae_L2"})
        assert spine_engine.compute(labelled, TROCAR_11G).breach_grade == "A"


def test_a_click_away_from_any_vertebra_is_refused(spine_case):
    with pytest.raises(ValueError, match="vertebra"):
        bilateral_transpedicular(spine_case, (120.0, -60.0, 0.0), 150.0, new_id=id_maker(), device_id="x")


# --- auto-alignment -------------------------------------------------------------------------
def _misaligned(spine, side: str, yaw_deg: float, pitch_deg: float, with_side=True) -> Trajectory:
    truth = pedicle_axes()[f"L2_{side}"]
    d, centre = np.asarray(truth.direction), np.asarray(truth.center)
    target = centre + 25.0 * d
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    rotation_z = np.array([[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]])
    turned = rotation_z @ d
    turned = turned * math.cos(pitch) + np.array([0, 0, math.sin(pitch)])
    entry = target - 70.0 * turned / np.linalg.norm(turned)
    return Trajectory(id="p", kind=TrajectoryKind.TRANSPEDICULAR, side=Side(side) if with_side else None,
                      entry_lps=tuple(entry), target_lps=tuple(target), device="trocar-11g")


@pytest.mark.parametrize("side, yaw, pitch", [("left", 10.0, 4.0), ("right", -10.0, -5.0), ("left", -9.0, 0.0)])
def test_alignment_moves_a_breaching_entry_back_into_the_pedicle(spine, spine_case, spine_engine, side, yaw, pitch):
    before = _misaligned(spine, side, yaw, pitch)
    assert spine_engine.compute(before, TROCAR_11G).breach_grade != "A"
    after = align_transpedicular(spine_case, before, TROCAR_11G.outer_diameter_mm / 2)
    assert after.target_lps == before.target_lps
    assert after.length_mm == pytest.approx(before.length_mm)
    assert (after.id, after.side, after.kind) == (before.id, before.side, before.kind)
    readout = spine_engine.compute(after, TROCAR_11G)
    assert readout.breach_grade == "A"
    assert angle_deg(after.axis, pedicle_axes()[f"L2_{side}"].direction) < 3.0


def test_alignment_infers_the_side_from_the_entry(spine, spine_case, spine_engine):
    before = _misaligned(spine, "right", 10.0, 3.0, with_side=False)
    after = align_transpedicular(spine_case, before, TROCAR_11G.outer_diameter_mm / 2)
    assert after.side is None and after.target_lps == before.target_lps
    assert spine_engine.compute(before, TROCAR_11G).breach_grade != "A"
    assert spine_engine.compute(after, TROCAR_11G).breach_grade == "A"
    assert angle_deg(after.axis, pedicle_axes()["L2_right"].direction) < 3.0


# --- femoral neck ---------------------------------------------------------------------------
def test_femoral_neck_template(hip, hip_case):
    neck, trochanter = femoral_neck_paths(hip_case, None, 150.0, new_id=id_maker(), device_id="trocar-10g")
    assert [(p.id, p.name, p.kind, p.side, p.device) for p in (neck, trochanter)] == [
        ("t1", "neck axis", TrajectoryKind.TRANSCORTICAL, Side.LEFT, "trocar-10g"),
        ("t2", "greater trochanter", TrajectoryKind.TRANSCORTICAL, Side.LEFT, "trocar-10g")]
    assert angle_deg(neck.axis, NECK_AXIS_DIRECTION) < 10.0
    head = np.asarray(hip.landmarks["femoral_head_center"])
    trochanter_point = np.asarray(hip.landmarks["greater_trochanter_lateral_point"])
    assert neck.entry[0] > trochanter_point[0] and neck.entry[2] < trochanter_point[2]  # lateral, below the GT
    assert distance_to_line(trochanter_point, trochanter.entry, trochanter.axis) < 10.0  # through the GT
    engine = ReadoutEngine(hip_case)
    for trajectory in (neck, trochanter):
        readout = engine.compute(trajectory, Needle(3.404, 150.0))
        assert readout.tip_tissue == "lesion"
        assert readout.skin_depth_mm is not None
        assert np.linalg.norm(trajectory.target - head) < 40.0
    assert np.linalg.norm(neck.target - trochanter.target) >= 5.0


def test_femoral_neck_template_without_labels(hip):
    unlabelled = Case(hip.ct)
    neck, _ = femoral_neck_paths(unlabelled, hip.landmarks["lesion_center"], 150.0, new_id=id_maker(),
                                 device_id="trocar-10g")
    assert angle_deg(neck.axis, NECK_AXIS_DIRECTION) < 10.0
    with pytest.raises(ValueError):
        femoral_neck_paths(unlabelled, None, 150.0, new_id=id_maker(), device_id="trocar-10g")


# --- real label map -------------------------------------------------------------------------
@pytest.mark.shared_data
@pytest.mark.parametrize("level", ["L1", "L2"])
def test_bilateral_template_on_a_real_label_map(level):
    from osteoplan.core.imaging.io import load_label_map
    from osteoplan.core.imaging.io.images import load_image
    from tests.conftest import shared_data_path

    folder = shared_data_path("ct_abdomen_3mm_labels")
    ct = load_image(folder / "ct.nii.gz").volume
    case = Case(ct, load_label_map(folder / "labels.nii.gz", reference=ct))
    value = next(v for v, n in case.labels.names.items() if n == f"vertebrae_{level}")
    kji = np.argwhere(case.labels.volume.array == value)
    centroid = ct.index_to_lps(kji[:, ::-1].astype(float)).mean(axis=0)
    pair = bilateral_transpedicular(case, centroid, 150.0, new_id=id_maker(), device_id="trocar-11g")
    engine = ReadoutEngine(case)
    assert [p.side for p in pair] == [Side.LEFT, Side.RIGHT]
    for trajectory in pair:
        readout = engine.compute(trajectory, TROCAR_11G)
        assert readout.tip_tissue == f"vertebrae_{level}"
        assert readout.breach_grade in ("A", "B"), readout  # 3 mm voxels: pedicles are 2-3 voxels wide
        assert 0.0 < readout.angles_deg["transverse"] < 25.0
        assert trajectory.entry[1] > trajectory.target[1] + 50.0  # entered from the back
