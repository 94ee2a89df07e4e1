"""Readouts of needle paths with known answers: hand-built angles, breach grades on the spine
phantom's pedicles, skin depth and bone path on its known outline, anchorage in the hip phantom."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.io import LabelMap
from osteoplan.core.imaging.phantom import PEDICLE_HALF_WIDTH_MM, build_phantom, pedicle_axes
from osteoplan.core.planning.readouts import (DEFAULT_MIN_ANCHORAGE_MM, NeedleGeometry, ReadoutEngine, breach_grade,
                                     trajectory_angles_deg)
from osteoplan.core.planning.trajectory import Side, Spindle, Trajectory, TrajectoryKind

SPACING_MM = 1.0
SKIN_BACK_Y_MM = -12.0 + 107.0  # spine phantom: outline centre y + posterior half-depth (x = 0)


@dataclass(frozen=True)
class Needle:
    outer_diameter_mm: float
    length_mm: float | None


TROCAR_11G = Needle(3.048, 150.0)
RADIUS_11G = TROCAR_11G.outer_diameter_mm / 2


@pytest.fixture(scope="module")
def spine():
    return build_phantom("spine", SPACING_MM)


@pytest.fixture(scope="module")
def spine_engine(spine) -> ReadoutEngine:
    engine = ReadoutEngine(Case(spine.ct, LabelMap(spine.labels, dict(spine.label_names))))
    engine.prepare()
    return engine


@pytest.fixture(scope="module")
def hip():
    return build_phantom("hip", SPACING_MM)


@pytest.fixture(scope="module")
def hip_engine(hip) -> ReadoutEngine:
    return ReadoutEngine(Case(hip.ct, LabelMap(hip.labels, dict(hip.label_names))))


def path(entry, target, kind=TrajectoryKind.FREE, side=None, spindles=(), **extra) -> Trajectory:
    return Trajectory(id="t1", kind=kind, side=side, entry_lps=tuple(map(float, entry)),
                      target_lps=tuple(map(float, target)), device="trocar", spindles=spindles, **extra)


# --- angles -------------------------------------------------------------------------
def _from_angles(target, transverse_deg, sagittal_deg, towards_minus_x=True, length=80.0):
    """Entry posterior of `target` such that the needle runs anteriorly, turned in the axial plane
    towards -x (or +x) by `transverse_deg` and tilted caudally by `sagittal_deg`."""
    t, s = math.radians(transverse_deg), math.radians(sagittal_deg)
    d = np.array([(-1 if towards_minus_x else 1) * math.sin(t) * math.cos(s), -math.cos(t) * math.cos(s),
                  -math.sin(s)])
    return np.asarray(target) - length * d


def test_straight_anterior_path_is_zero_zero():
    assert trajectory_angles_deg((0, 50, 0), (0, 0, 0), None) == {"transverse": 0.0, "sagittal": 0.0}
    assert trajectory_angles_deg((20, 50, 0), (20, 0, 0), Side.LEFT) == {"transverse": 0.0, "sagittal": 0.0}


def test_medial_angles_are_positive_on_both_sides():
    target = (10.0, -5.0, 3.0)
    left = trajectory_angles_deg(_from_angles(target, 10, 0, towards_minus_x=True), target, Side.LEFT)
    right = trajectory_angles_deg(_from_angles(target, 10, 0, towards_minus_x=False), target, "right")
    assert left["transverse"] == pytest.approx(10.0, abs=1e-9)
    assert right["transverse"] == pytest.approx(10.0, abs=1e-9)
    lateral = trajectory_angles_deg(_from_angles(target, 10, 0, towards_minus_x=False), target, Side.LEFT)
    assert lateral["transverse"] == pytest.approx(-10.0, abs=1e-9)


def test_midline_and_sideless_paths_count_towards_the_patients_left():
    target = (0.0, 0.0, 0.0)
    towards_left = _from_angles(target, 15, 0, towards_minus_x=False)
    for side in (None, Side.MIDLINE):
        assert trajectory_angles_deg(towards_left, target, side)["transverse"] == pytest.approx(15.0)
    assert trajectory_angles_deg(_from_angles(target, 15, 0), target, None)["transverse"] == pytest.approx(-15.0)


def test_sagittal_angle_is_positive_when_the_tip_is_caudal():
    target = (0.0, 0.0, 0.0)
    angles = trajectory_angles_deg(_from_angles(target, 12, 20), target, Side.LEFT)
    assert angles["sagittal"] == pytest.approx(20.0)
    assert angles["transverse"] == pytest.approx(12.0)
    assert trajectory_angles_deg(_from_angles(target, 0, -7), target, None)["sagittal"] == pytest.approx(-7.0)


def test_transverse_angle_is_measured_from_the_ap_axis_either_way():
    # an anterior approach and a purely lateral one
    assert trajectory_angles_deg((5, -50, 0), (0, 0, 0), Side.LEFT)["transverse"] == pytest.approx(
        math.degrees(math.atan2(5, 50)))
    assert trajectory_angles_deg((60, 0, 0), (0, 0, 0), Side.LEFT)["transverse"] == pytest.approx(90.0)
    assert trajectory_angles_deg((0, 0, 60), (0, 0, 0), None) == {"transverse": 0.0, "sagittal": 90.0}
    with pytest.raises(ValueError):
        trajectory_angles_deg((1, 2, 3), (1, 2, 3), None)


@pytest.mark.parametrize("mm, grade", [(-1.0, "A"), (0.0, "A"), (0.01, "B"), (1.99, "B"), (2.0, "C"), (3.99, "C"),
                                       (4.0, "D"), (5.99, "D"), (6.0, "E"), (20.0, "E")])
def test_gertzbein_robbins_grades(mm, grade):
    assert breach_grade(mm) == grade


# --- pedicle breach -----------------------------------------------------------------
def _pedicle_path(side: str, shift_mm: float) -> Trajectory:
    """A path along the phantom's L2 pedicle axis, displaced across it in the axial plane
    (shift > 0 medially, < 0 laterally)."""
    axis = pedicle_axes()[f"L2_{side}"]
    d, centre = np.asarray(axis.direction), np.asarray(axis.center)
    medial = np.array([-d[1], d[0], 0.0])
    medial *= -np.sign(medial[0] * centre[0])  # towards x = 0
    offset = shift_mm * medial
    return path(centre - 45 * d + offset, centre + 25 * d + offset, TrajectoryKind.TRANSPEDICULAR, Side(side),
                target_structure="vertebrae_L2")


@pytest.mark.parametrize("side", ["left", "right"])
def test_a_needle_along_the_pedicle_axis_does_not_breach(spine_engine, side):
    readout = spine_engine.compute(_pedicle_path(side, 0.0), TROCAR_11G)
    assert readout.breach_grade == "A" and readout.breach_mm == 0.0 and readout.breach_direction is None
    assert readout.angles_deg["transverse"] == pytest.approx(10.0)  # the phantom's L2 medial angle


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("shift_mm, grade, direction", [(4.0, "B", "medial"), (-4.0, "B", "lateral"),
                                                        (6.0, "C", "medial")])
def test_a_displaced_needle_breaches_by_the_known_amount(spine_engine, side, shift_mm, grade, direction):
    expected_mm = abs(shift_mm) - PEDICLE_HALF_WIDTH_MM["L2"] + RADIUS_11G
    readout = spine_engine.compute(_pedicle_path(side, shift_mm), TROCAR_11G)
    assert readout.breach_mm == pytest.approx(expected_mm, abs=SPACING_MM)
    assert readout.breach_grade == grade == breach_grade(expected_mm)
    assert readout.breach_direction == direction


def test_breach_is_only_graded_on_transpedicular_paths(spine_engine):
    free = _pedicle_path("left", 6.0).model_copy(update={"kind": TrajectoryKind.PARAPEDICULAR})
    readout = spine_engine.compute(free, TROCAR_11G)
    assert readout.breach_grade is None and readout.breach_mm is None


def test_a_thinner_needle_breaches_less(spine_engine):
    shifted = _pedicle_path("left", 4.0)
    thick = spine_engine.compute(shifted, TROCAR_11G).breach_mm
    thin = spine_engine.compute(shifted, Needle(1.473, 150.0)).breach_mm  # 17G
    assert thick - thin == pytest.approx((3.048 - 1.473) / 2, abs=0.05)


# --- skin, bone, tip, device length --------------------------------------------------
def test_skin_depth_is_measured_from_the_known_skin_crossing(spine_engine, spine):
    target = np.asarray(spine.landmarks["L2_body_center"])
    readout = spine_engine.compute(path(target + (0, 130, 0), target), TROCAR_11G)
    assert readout.skin_depth_mm == pytest.approx(SKIN_BACK_Y_MM - target[1], abs=SPACING_MM)
    assert readout.length_mm == pytest.approx(130.0)
    assert readout.device_long_enough is True and readout.skin_to_target_mm == readout.skin_depth_mm
    assert spine_engine.compute(path(target + (0, 130, 0), target), Needle(3.048, 80.0)).device_long_enough is False
    assert spine_engine.compute(path(target + (0, 130, 0), target), Needle(3.048, None)).device_long_enough is None


def test_a_path_starting_inside_the_body_has_no_skin_depth_but_a_device_check(spine_engine, spine):
    target = np.asarray(spine.landmarks["L2_body_center"])
    inside = path(target + (0, 60, 0), target)
    readout = spine_engine.compute(inside, TROCAR_11G)
    assert readout.skin_depth_mm is None
    assert readout.device_long_enough is True  # the skin is found behind the entry
    assert spine_engine.skin_distance_mm(inside) == pytest.approx(SKIN_BACK_Y_MM - target[1], abs=SPACING_MM)
    assert readout.skin_to_target_mm == spine_engine.skin_distance_mm(inside)
    assert spine_engine.compute(inside, Needle(3.048, 90.0)).device_long_enough is False


def test_bone_path_counts_bone_and_the_lesion_in_it(spine_engine, spine):
    centre = np.asarray(spine.landmarks["L2_body_center"])  # body: y from -16 to +16 at x = 0
    out_anteriorly = spine_engine.compute(path(centre, centre + (0, -30, 0)), TROCAR_11G)
    assert out_anteriorly.bone_path_mm == pytest.approx(16.0, abs=SPACING_MM)
    lesion = np.asarray(spine.landmarks["lesion_center"])
    within = spine_engine.compute(path(lesion + (0, 5, 0), lesion + (0, -10, 0)), TROCAR_11G)
    assert within.bone_path_mm == pytest.approx(15.0, abs=1e-6)  # lytic lesion counts as inside the bone


def test_tip_tissue(spine_engine, spine):
    lesion = np.asarray(spine.landmarks["lesion_center"])
    assert spine_engine.compute(path(lesion + (0, 120, 0), lesion), TROCAR_11G).tip_tissue == "lesion"
    canal = np.asarray(spine.landmarks["canal_center_L2"])
    assert spine_engine.compute(path(canal + (0, 90, 0), canal), TROCAR_11G).tip_tissue == "spinal_canal"


def test_readouts_work_without_a_label_map(spine):
    engine = ReadoutEngine(Case(spine.ct))
    readout = engine.compute(_pedicle_path("left", 0.0), TROCAR_11G)
    assert readout.breach_grade == "A"
    assert readout.tip_tissue.endswith("bone")
    assert readout.bone_path_mm > 20


def test_fields_are_cached_between_calls(spine_engine):
    trajectory = _pedicle_path("right", 1.0)
    first = spine_engine.compute(trajectory, TROCAR_11G)
    field = spine_engine.structures.field_near(trajectory.target, "vertebrae_L2")
    assert spine_engine.compute(trajectory, TROCAR_11G) == first
    assert spine_engine.structures.field_near(trajectory.target, "vertebrae_L2") is field


def test_any_object_with_diameter_and_length_is_a_device():
    assert isinstance(TROCAR_11G, NeedleGeometry)
    assert not isinstance(object(), NeedleGeometry)


# --- spindles -----------------------------------------------------------------------
def _run_in_healthy_bone(hip, start, tip, step=0.05) -> float:
    """Ground truth by brute force: the label map stepped finely back from the tip."""
    bone = {v for v, n in hip.label_names.items() if n == "femur_left"}
    direction = (tip - start) / np.linalg.norm(tip - start)
    length = 0.0
    while length < np.linalg.norm(tip - start):
        if int(hip.labels.value_at_lps(tip - direction * length)) not in bone:
            break
        length += step
    return length


def _trocar(hip, spindles) -> Trajectory:
    lesion = np.asarray(hip.landmarks["lesion_center"])
    lateral = np.asarray(hip.landmarks["greater_trochanter_lateral_point"])
    return path(lateral + (lateral - lesion) * 0.5, lesion, TrajectoryKind.TRANSCORTICAL, Side.LEFT,
                spindles=spindles)


def test_a_spindle_from_the_lesion_into_the_head_is_anchored(hip_engine, hip):
    lesion, head = np.asarray(hip.landmarks["lesion_center"]), np.asarray(hip.landmarks["femoral_head_center"])
    to_head = head - lesion
    spindle = Spindle(id="s1", direction=tuple(to_head), length_mm=float(np.linalg.norm(to_head)) + 10.0,
                      device="spindle")
    trocar = _trocar(hip, (spindle,))
    readout = hip_engine.compute(trocar, TROCAR_11G, {"s1": Needle(1.0, 200.0)})
    (result,) = readout.spindles
    expected = _run_in_healthy_bone(hip, spindle.start_lps(trocar), spindle.tip_lps(trocar))
    assert 25.0 < expected < 35.0  # head radius 24 + neck beyond the lesion
    assert result.id == "s1" and result.anchored
    assert result.anchorage_mm == pytest.approx(expected, abs=SPACING_MM)
    assert result.tip_tissue == "femur_left"
    assert readout.tip_tissue == "lesion"


def test_a_spindle_ending_in_the_lesion_or_out_of_bone_is_not_anchored(hip_engine, hip):
    lesion, head = np.asarray(hip.landmarks["lesion_center"]), np.asarray(hip.landmarks["femoral_head_center"])
    short = Spindle(id="short", direction=tuple(head - lesion), length_mm=3.0, device="spindle")
    out = Spindle(id="out", direction=(0.0, -1.0, 0.0), length_mm=40.0, device="spindle")  # anteriorly out
    readout = hip_engine.compute(_trocar(hip, (short, out)), TROCAR_11G)
    by_id = {s.id: s for s in readout.spindles}
    assert by_id["short"].tip_tissue == "lesion" and by_id["short"].anchorage_mm == 0.0
    assert not by_id["short"].anchored
    assert not by_id["out"].anchored and by_id["out"].anchorage_mm == 0.0


def test_the_minimum_anchorage_is_configurable(hip):
    lesion, head = np.asarray(hip.landmarks["lesion_center"]), np.asarray(hip.landmarks["femoral_head_center"])
    spindle = Spindle(id="s1", direction=tuple(head - lesion), length_mm=float(np.linalg.norm(head - lesion)),
                      device="spindle")
    case = Case(hip.ct, LabelMap(hip.labels, dict(hip.label_names)))
    default = ReadoutEngine(case).compute(_trocar(hip, (spindle,)), TROCAR_11G).spindles[0]
    strict = ReadoutEngine(case, min_anchorage_mm=default.anchorage_mm + 1).compute(
        _trocar(hip, (spindle,)), TROCAR_11G).spindles[0]
    assert default.anchored and DEFAULT_MIN_ANCHORAGE_MM < default.anchorage_mm
    assert not strict.anchored and strict.anchorage_mm == default.anchorage_mm
