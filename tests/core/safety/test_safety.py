"""Whole-needle distances to critical structures and the warnings they raise."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from osteoplan.core.imaging.case import Case
from osteoplan.core.safety.distances import DistanceFields, needle_structure_distances
from osteoplan.core.imaging.io import LabelMap, load_image, load_label_map
from osteoplan.core.imaging.phantom import build_phantom
from osteoplan.core.report.check import check_plan
from osteoplan.core.safety.warnings import Severity
from osteoplan.core.session import NeedleState, PlanSession
from osteoplan.core.safety.structures import Structure, case_structures
from osteoplan.core.planning.templates import bilateral_transpedicular
from osteoplan.core.planning.trajectory import Spindle, TrajectoryKind
from osteoplan.core.imaging.volume import Volume
from tests.conftest import shared_data_path

SPACING_MM = 1.6


@pytest.fixture(scope="module")
def phantom():
    return build_phantom("spine", spacing_mm=SPACING_MM)


@pytest.fixture(scope="module")
def session(phantom) -> PlanSession:
    case = Case(ct=phantom.ct, labels=LabelMap(volume=phantom.labels, names=dict(phantom.label_names)),
                source="demo:spine", focus_lps=np.asarray(phantom.landmarks["L2_body_center"]))
    session = PlanSession(case)
    session.prepare()
    return session


def _add(session, entry, target, device="trocar-11g-150", **kwargs):
    path = session.new_trajectory(entry, target, kwargs.pop("kind", TrajectoryKind.FREE), device_id=device)
    path = path.model_copy(update=kwargs) if kwargs else path
    session.editor.add_trajectory(path)
    return path


def _by_structure(warnings):
    return {w.structure: w for w in warnings if w.structure}


def test_a_cylinder_parallel_to_a_rod_reports_the_gap_and_the_closest_points():
    grid = Volume(np.zeros((60, 50, 50), np.int16), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    k, j, i = np.ogrid[:60, :50, :50]
    rod = Structure.from_mask("spinal_cord", ((i - 20) ** 2 + (j - 25) ** 2 <= 16) & (k > 5) & (k < 55))  # r ~ 4 mm
    fields = DistanceFields(grid)
    (found,) = needle_structure_distances((32, 25, 15), (32, 25, 45), 1.5, fields, [rod])
    assert found.distance_mm == pytest.approx(12 - 4 - 1.5, abs=0.5)  # half a voxel
    assert found.closest_on_needle_lps[0] == pytest.approx(30.5, abs=0.3)
    assert found.closest_on_structure_lps[0] == pytest.approx(24.0, abs=0.5)
    assert found.closest_on_structure_lps[1] == pytest.approx(25.0, abs=0.3)


def test_a_needle_parallel_to_the_conus_reports_its_distance(session):
    # the conus (phantom): a cone along z at (0, 21.8), radius 4.4 mm at z = 42 to 4.6 at z = 70
    radius_mm, offset_mm = 1.0, 8.0
    cord = session.structures["spinal_cord"]
    (found,) = needle_structure_distances((offset_mm, 21.8, 46.0), (offset_mm, 21.8, 58.0), radius_mm,
                                          session.distance_fields, [cord])
    expected = offset_mm - (4.4 + 0.2 * (58.0 - 42.0) / 28.0) - radius_mm
    assert found.distance_mm == pytest.approx(expected, abs=SPACING_MM / 2 + 0.2)
    assert found.closest_on_structure_lps[0] == pytest.approx(4.5, abs=SPACING_MM / 2 + 0.2)


def test_a_needle_through_the_canal_is_a_stop_naming_the_canal_and_the_cord(session, phantom):
    spine = phantom.landmarks
    # 0.5 mm off the midline: on the midline the needle passes between the two voxelised cauda bundles,
    # 0.08 mm from their voxels (the exact distance is a warning there, not a crossing)
    aside = np.array([0.5, 0.0, 0.0])
    path = _add(session, spine["L2_spinous_process_tip"] + aside, spine["L2_body_center"] + aside)
    found = _by_structure(session.warnings(path.id))
    for name in ("spinal_canal", "spinal_cord"):
        warning = found[name]
        assert warning.severity is Severity.STOP and warning.distance_mm < 0 and warning.threshold_mm == 0.0
        assert "crosses" in warning.message and name in warning.message
        assert abs(warning.closest_lps[0]) < 6 and 12 < warning.closest_lps[1] < 32  # in the canal
    assert "vertebrae_L2" not in found  # where the tip is: not a hazard
    assert session.state(path.id) is NeedleState.PROBLEM


def test_closer_than_the_warning_distance_warns_and_an_override_is_in_force(session, phantom):
    # straight down the canal's side, beside the sac: outside the canal label only by the epidural space
    cord = session.structures["spinal_cord"]
    path = _add(session, (9.0, 21.8, 60.0), (9.0, 21.8, 46.0), device="trocar-13g-100")
    warning = _by_structure(session.warnings(path.id))["spinal_cord"]
    assert warning.severity is Severity.WARN and warning.threshold_mm == 5.0
    assert 0 < warning.distance_mm < 5 and "warn below 5 mm" in warning.message
    session.set_structures(session.structures.with_structure(cord.with_overrides(stop_mm=4.0, warn_mm=6.0)))
    try:
        warning = _by_structure(session.warnings(path.id))["spinal_cord"]
        assert warning.severity is Severity.STOP and warning.threshold_mm == 4.0 and "[override]" in warning.message
    finally:
        session.set_structures(session.structures.with_structure(cord))


def test_aligned_transpedicular_paths_have_no_stop(session, phantom):
    device = session.device("trocar-11g-150")
    paths = bilateral_transpedicular(session.case, phantom.landmarks["L2_body_center"], device.length_mm,
                                     new_id=session.plan.id_factory(), device_id=device.id,
                                     radius_mm=device.radius_mm)
    assert len(paths) == 2
    for path in paths:
        session.editor.add_trajectory(path)
        warnings = session.warnings(path.id)
        assert all(w.severity is not Severity.STOP for w in warnings), [w.message for w in warnings]
        distances = session.structure_distances(path.id)[path.id]
        assert {d.structure.name for d in distances} >= {"spinal_canal", "spinal_cord", "aorta"}
        assert min(d.distance_mm for d in distances) > 0
        assert "vertebrae_L2" not in {d.structure.name for d in distances}


def test_a_spindle_is_checked_on_its_own(session, phantom):
    target = np.asarray(phantom.landmarks["lesion_center"])
    path = _add(session, target + [60, 45, 0], target, target_structure="lesion")
    assert all(w.object == path.id for w in session.warnings(path.id) if w.structure)
    into_canal = Spindle(id="s1", direction=(0, 1, 0), length_mm=25.0, device="kwire-2.0-150")
    session.editor.add_spindle(path.id, into_canal)
    spindle_warnings = [w for w in session.warnings(path.id) if w.object == "s1" and w.structure]
    assert "spinal_canal" in {w.structure for w in spindle_warnings if w.severity is Severity.STOP}
    assert "spindle s1" in spindle_warnings[0].message


def test_warnings_are_cached_by_trajectory_value(session, phantom):
    spine = phantom.landmarks
    path = _add(session, spine["L3_spinous_process_tip"], spine["L3_body_center"])
    first = session.structure_distances(path.id)
    assert session.structure_distances(path.id) is first
    session.editor.move_target(path.id, np.asarray(spine["L3_body_center"]) + [0, 0, 1])
    assert session.structure_distances(path.id) is not first


def test_check_json_names_the_structure(session, phantom):
    spine = phantom.landmarks
    path = _add(session, spine["L1_spinous_process_tip"], spine["L1_body_center"])
    report = check_plan(session, "plan.json")
    stops = [w for w in report["warnings"] if w["object"] == path.id and w["severity"] == "stop"]
    named = {w["structure"] for w in stops}
    assert "spinal_canal" in named
    canal = next(w for w in stops if w["structure"] == "spinal_canal")
    assert canal["distance_mm"] < 0 and canal["threshold_mm"] == 0.0 and len(canal["closest_lps"]) == 3


# --- real CT (TotalSegmentator labels) ------------------------------------------------------
@pytest.fixture(scope="module")
def abdomen() -> PlanSession:
    folder = shared_data_path("ct_abdomen_3mm_labels")
    ct = load_image(folder / "ct.nii.gz").volume
    labels = load_label_map(folder / "labels.nii.gz", folder / "labels.json", reference=ct)
    return PlanSession(Case(ct=ct, labels=labels, source=str(folder)))


def _deepest_lps(session, name: str) -> np.ndarray:
    labels = session.case.labels
    value = next(v for v, n in labels.names.items() if n == name)
    depth = ndimage.distance_transform_edt(labels.volume.array == value)
    kji = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return session.case.ct.index_to_lps(np.asarray(kji[::-1], dtype=float))


def test_real_ct_a_path_ending_in_the_aorta_is_a_stop_naming_it(abdomen):
    aorta = _deepest_lps(abdomen, "aorta")
    path = _add(abdomen, aorta + [30, -60, 0], aorta)  # from anterior-left
    warning = _by_structure(abdomen.warnings(path.id))["aorta"]
    assert warning.severity is Severity.STOP and warning.distance_mm < 0
    assert abdomen.structures["aorta"].category == "vascular"
    assert np.linalg.norm(np.asarray(warning.closest_lps) - aorta) < 20


def test_real_ct_a_path_through_the_spinal_cord_names_it(abdomen):
    cord = _deepest_lps(abdomen, "spinal_cord")
    path = _add(abdomen, cord + [0, 70, 0], cord - [0, 20, 0])  # straight from behind into the body
    found = _by_structure(abdomen.warnings(path.id))
    assert found["spinal_cord"].severity is Severity.STOP and found["spinal_cord"].distance_mm < 0
    assert not any(name.startswith("vertebrae_") for name in found)  # the tip's bone is not a hazard


def test_real_ct_structure_set(abdomen):
    structures = case_structures(abdomen.case)
    assert "skin (auto)" in structures.names and "bone (auto)" not in structures.names
    assert {s.name for s in structures.of_category("neural")} == {"spinal_cord"}
    assert structures.notes == ("Skin computed from the CT (body outline).",)  # the loader keeps present labels only
