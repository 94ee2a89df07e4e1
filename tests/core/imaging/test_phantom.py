"""Ground truth of the synthetic demo cases (osteoplan.core.imaging.phantom).

Coarse grids (1.6-2 mm) keep this fast; every assertion would fail if the generator
broke the anatomy the later modules rely on (labels, HU, landmarks, pedicle geometry).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from osteoplan.core.imaging.phantom import (CASES, DEFAULT_SPACING_MM, NECK_AXIS_DIRECTION, NECK_SHAFT_ANGLE_DEG,
                                    PEDICLE_HALF_WIDTH_MM, PEDICLE_MEDIAL_ANGLE_DEG, SHAFT_AXIS_DIRECTION,
                                    PhantomCase, build_phantom, demo_case, pedicle_axes, write_phantom)
from osteoplan.core.imaging.phantom import cache as phantom_cache
from osteoplan.core.imaging.phantom.hip import HEAD_CENTER, HEAD_RADIUS_MM, JOINT_SPACE_MM, femur_shape, pelvis_shape
from osteoplan.core.imaging.phantom.vertebra import Vertebra


@pytest.fixture(scope="module")
def spine() -> PhantomCase:
    return build_phantom("spine", 1.6)


@pytest.fixture(scope="module")
def hip() -> PhantomCase:
    return build_phantom("hip", 1.6)


def mask(case: PhantomCase, name: str) -> np.ndarray:
    value = {v: k for k, v in case.label_names.items()}[name]
    return case.labels.array == value


def label_at(case: PhantomCase, lps) -> str:
    value = case.labels.value_at_lps(lps)
    assert value is not None, f"{lps} is outside the grid"
    return case.label_names.get(int(value), "background")


def mean_hu(case: PhantomCase, m: np.ndarray) -> float:
    assert m.any()
    return float(case.ct.array[m].mean())


# --- API ------------------------------------------------------------------------------
def test_unknown_case_is_a_value_error_listing_the_cases(tmp_path):
    for call in (lambda: build_phantom("knee", 2.0), lambda: demo_case("knee", tmp_path),
                 lambda: write_phantom("knee", tmp_path)):
        with pytest.raises(ValueError) as err:
            call()
        assert all(case in str(err.value) for case in CASES)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("case", CASES)
def test_volumes_share_one_grid_and_carry_series_info(case, spine, hip):
    p = {"spine": spine, "hip": hip}[case]
    assert p.name == case
    assert p.ct.array.dtype == np.int16 and p.labels.array.dtype == np.uint8
    assert p.ct.same_grid(p.labels) and p.ct.spacing == (1.6, 1.6, 1.6)
    assert np.array_equal(p.ct.direction, np.eye(3))
    assert p.ct.info.description == f"OsteoPlan synthetic {case} phantom"
    assert p.ct.info.modality == "CT" and p.ct.info.uid is None
    # every named label is drawn, nothing unnamed is
    present = set(np.unique(p.labels.array).tolist()) - {0}
    assert present == set(p.label_names)
    assert "lesion" in p.label_names.values()


def test_spine_field_of_view_and_label_names(spine):
    lo, hi = spine.ct.bounds_lps()
    extent = hi - lo
    assert 300 <= extent[0] <= 340 and 220 <= extent[1] <= 260 and 110 <= extent[2] <= 140
    names = set(spine.label_names.values())
    expected = {"vertebrae_L1", "vertebrae_L2", "vertebrae_L3", "intervertebral_disc_L1_L2",
                "intervertebral_disc_L2_L3", "spinal_canal", "spinal_cord", "aorta", "inferior_vena_cava",
                "iliopsoas_left", "iliopsoas_right", "autochthon_left", "autochthon_right", "subcutaneous_fat",
                "skin", "lesion"} | {f"nerve_root_L{n}_{s}" for n in (1, 2, 3) for s in ("left", "right")}
    assert expected <= names


def test_hip_label_names(hip):
    expected = {"femur_left", "hip_left", "lesion", "femoral_artery_left", "femoral_vein_left",
                "sciatic_nerve_left", "gluteus_maximus_left", "gluteus_medius_left", "iliopsoas_left", "skin"}
    assert expected <= set(hip.label_names.values())


# --- spine: HU ------------------------------------------------------------------------
def test_spine_hounsfield_units(spine):
    body = mask(spine, "vertebrae_L3")
    # the L3 body: the label inside a box around the body (posterior elements excluded)
    c = spine.ct.lps_to_index(spine.landmarks["L3_body_center"]).round().astype(int)
    box = np.zeros_like(body)
    r = int(round(18 / 1.6))
    box[c[2] - 7:c[2] + 8, c[1] - r:c[1] + 7, c[0] - r:c[0] + r + 1] = True
    body &= box
    surface = body & ~ndimage.binary_erosion(body)
    assert mean_hu(spine, surface) > 700  # cortical shell
    interior = ndimage.binary_erosion(body, iterations=3)
    assert 100 <= mean_hu(spine, interior) <= 300  # trabecular bone
    lesion = ndimage.binary_erosion(mask(spine, "lesion"))
    assert 10 <= mean_hu(spine, lesion) <= 50
    assert 50 <= mean_hu(spine, ndimage.binary_erosion(mask(spine, "intervertebral_disc_L2_L3"))) <= 120
    assert 20 <= mean_hu(spine, ndimage.binary_erosion(mask(spine, "aorta"))) <= 60
    assert 30 <= mean_hu(spine, ndimage.binary_erosion(mask(spine, "iliopsoas_left"))) <= 70
    assert mean_hu(spine, ndimage.binary_erosion(mask(spine, "subcutaneous_fat"))) < -50
    csf = [spine.ct.value_at_lps(np.add(spine.landmarks["canal_center_L2"], (dx, 0, dz)))
           for dx in (-1.6, 0, 1.6) for dz in (-8, -1.6, 0, 1.6, 8)]
    assert -10 <= np.mean(csf) <= 30
    a = spine.ct.array
    for corner in (a[0, 0, 0], a[-1, -1, -1], a[0, -1, 0], a[-1, 0, -1]):
        assert corner < -900  # air outside the body


# --- spine: geometry and landmarks --------------------------------------------------------
def test_spine_landmarks_lie_in_their_structures(spine):
    lm = spine.landmarks
    for level in ("L1", "L2", "L3"):
        assert label_at(spine, lm[f"{level}_body_center"]) == f"vertebrae_{level}"
        for side in ("left", "right"):
            assert label_at(spine, lm[f"{level}_pedicle_{side}_center"]) == f"vertebrae_{level}"
    assert label_at(spine, lm["lesion_center"]) == "lesion"
    assert label_at(spine, lm["canal_center_L2"]) == "spinal_canal"
    assert label_at(spine, lm["canal_center_L3"]) == "spinal_canal"
    assert label_at(spine, lm["aorta_center_L2"]) == "aorta"
    assert label_at(spine, lm["ivc_center_L2"]) == "inferior_vena_cava"
    assert label_at(spine, lm["disc_L2_L3_center"]) == "intervertebral_disc_L2_L3"


def test_pedicle_axes_ground_truth(spine):
    axes = pedicle_axes()
    for level, n in (("L1", 1), ("L2", 2), ("L3", 3)):
        vertebra = Vertebra(level)
        for side, sign in (("left", 1.0), ("right", -1.0)):
            ax = axes[f"{level}_{side}"]
            c, d, e = np.array(ax.center), np.array(ax.direction), np.array(ax.entry)
            assert np.allclose(spine.landmarks[f"{level}_pedicle_{side}_center"], c)
            assert np.allclose(spine.landmarks[f"{level}_pedicle_{side}_axis_entry"], e)
            assert math.isclose(np.linalg.norm(d), 1.0) and d[2] == 0.0
            # convergent: anterior and medial, 5 deg per lumbar level
            assert d[1] < 0 and sign * d[0] < 0
            assert math.isclose(math.degrees(math.acos(-d[1])), 5.0 * n, abs_tol=1e-9)
            assert ax.medial_angle_deg == PEDICLE_MEDIAL_ANGLE_DEG[level] == 5.0 * n
            # centre between the body and the lamina, entry behind it on the axis, on the bone surface
            body = np.array(spine.landmarks[f"{level}_body_center"])
            assert body[1] + 10 < c[1] < e[1] < spine.landmarks[f"{level}_spinous_process_tip"][1]
            assert np.allclose(np.cross(e - c, d), 0.0, atol=1e-9) and np.dot(e - c, d) < -8
            assert vertebra.contains(e + 0.5 * d) and not vertebra.contains(e - 0.5 * d)
            assert label_at(spine, e + 3.0 * d) == f"vertebrae_{level}"
            # exact half-width across the axis in the axial plane: bone inside, canal or soft tissue outside
            hw = ax.half_width_mm
            assert hw == PEDICLE_HALF_WIDTH_MM[level]
            across = np.array([-d[1], d[0], 0.0])
            assert vertebra.contains(c + (hw - 0.1) * across) and vertebra.contains(c - (hw - 0.1) * across)
            assert not vertebra.contains(c + (hw + 0.1) * across)
            assert not vertebra.contains(c - (hw + 0.1) * across)
            to_midline = across if across[0] * sign < 0 else -across
            assert label_at(spine, c + (hw + 1.0) * to_midline) == "spinal_canal"  # a medial breach enters the canal


def test_lesion_breaks_the_posterior_wall_into_the_canal(spine):
    lesion, canal = mask(spine, "lesion"), mask(spine, "spinal_canal")
    assert (ndimage.binary_dilation(lesion) & canal).any()
    # walking straight back from the lesion centre meets no L2 bone before the canal
    start = np.array(spine.landmarks["lesion_center"])
    seen = [label_at(spine, start + (0, t, 0)) for t in np.arange(0, 20, 0.4)]
    assert "spinal_canal" in seen
    assert "vertebrae_L2" not in seen[: seen.index("spinal_canal")]
    # ...whereas the intact L3 has its posterior cortex between body and canal
    c3 = np.array(spine.landmarks["L3_body_center"])
    seen3 = [label_at(spine, c3 + (0, t, 0)) for t in np.arange(0, 30, 0.4)]
    assert seen3.index("spinal_canal") > 0 and seen3[seen3.index("spinal_canal") - 1] == "vertebrae_L3"
    size = (6 * lesion.sum() * 1.6 ** 3 / math.pi) ** (1 / 3)
    assert 14 <= size <= 21  # equivalent diameter, mm


def test_great_vessels_in_front_of_the_spine(spine):
    def centroid(name):
        idx = np.argwhere(mask(spine, name))[:, ::-1]
        return spine.ct.index_to_lps(idx.mean(axis=0))

    aorta, ivc, l2 = centroid("aorta"), centroid("inferior_vena_cava"), centroid("vertebrae_L2")
    body = np.array(spine.landmarks["L2_body_center"])
    assert aorta[1] < body[1] - 16 and ivc[1] < body[1] - 10  # anterior to the L2 body
    assert aorta[0] > ivc[0] and aorta[0] > 0 > ivc[0]  # aorta left of midline, IVC right
    assert l2[1] > body[1]  # posterior elements pull the vertebra's centroid backwards
    for name in ("aorta", "inferior_vena_cava"):
        width = mask(spine, name)[spine.labels.array.shape[0] // 2].any(axis=0).sum() * 1.6
        assert 18 <= width <= 30


# --- hip ------------------------------------------------------------------------------
def test_hip_landmarks_and_hounsfield_units(hip):
    lm = hip.landmarks
    assert label_at(hip, lm["femoral_head_center"]) == "femur_left"
    assert label_at(hip, lm["lesion_center"]) == "lesion"
    assert label_at(hip, lm["neck_axis_point"]) in ("femur_left", "lesion")
    assert label_at(hip, lm["shaft_axis_point"]) == "femur_left"
    assert label_at(hip, lm["acetabular_roof_point"]) == "hip_left"
    assert label_at(hip, lm["sciatic_nerve_point"]) == "sciatic_nerve_left"
    assert label_at(hip, lm["femoral_artery_point"]) == "femoral_artery_left"
    gt = np.array(lm["greater_trochanter_lateral_point"])
    lateral = np.array([math.cos(math.radians(7)), 0, -math.sin(math.radians(7))])
    assert label_at(hip, gt - 3 * lateral) == "femur_left" and label_at(hip, gt + 3 * lateral) != "femur_left"
    assert gt[0] > lm["femoral_head_center"][0] + 60  # lateral
    # artery antero-medial to the hip, sciatic nerve posterior
    assert lm["femoral_artery_point"][1] < lm["femoral_head_center"][1] - HEAD_RADIUS_MM
    assert lm["sciatic_nerve_point"][1] > lm["femoral_head_center"][1] + HEAD_RADIUS_MM
    assert 10 <= mean_hu(hip, ndimage.binary_erosion(mask(hip, "lesion"))) <= 50
    # diaphysis: fatty marrow on the axis, thick dense cortex at its edge
    shaft = np.array(lm["shaft_axis_point"])
    profile = [hip.ct.value_at_lps(shaft + r * lateral) for r in np.arange(0, 20, 0.8)]
    assert profile[0] < 50 and max(profile) > 1100
    cortex = [r for r, v in zip(np.arange(0, 20, 0.8), profile) if v > 700]
    assert 3.0 <= cortex[-1] - cortex[0] + 0.8 <= 8.0  # cortex 4-6 mm thick (1.6 mm voxels)


def test_hip_geometry_constants():
    n, s = np.array(NECK_AXIS_DIRECTION), np.array(SHAFT_AXIS_DIRECTION)
    assert math.isclose(math.degrees(math.acos(np.dot(n, -s))), 180 - NECK_SHAFT_ANGLE_DEG, abs_tol=1e-6)
    assert 125 <= NECK_SHAFT_ANGLE_DEG <= 130
    assert n[1] < 0 and n[0] < 0  # the neck points forwards (anteversion) and medially to the head
    femur, pelvis = femur_shape(), pelvis_shape()
    up = np.array([0.0, 0.0, 1.0])
    # head radius, then the joint space, then the acetabular roof
    assert femur.contains(HEAD_CENTER + (HEAD_RADIUS_MM - 0.2) * up)
    for r in np.arange(HEAD_RADIUS_MM + 0.2, HEAD_RADIUS_MM + JOINT_SPACE_MM - 0.1, 0.5):
        assert not femur.contains(HEAD_CENTER + r * up) and not pelvis.contains(HEAD_CENTER + r * up)
    assert pelvis.contains(HEAD_CENTER + (HEAD_RADIUS_MM + JOINT_SPACE_MM + 0.5) * up)
    assert 3 <= JOINT_SPACE_MM <= 4 and 45 <= 2 * HEAD_RADIUS_MM <= 50


# --- determinism, files, cache ------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_builds_are_deterministic(case):
    a, b = build_phantom(case, 2.0), build_phantom(case, 2.0)
    assert np.array_equal(a.ct.array, b.ct.array) and np.array_equal(a.labels.array, b.labels.array)
    assert a.landmarks == b.landmarks and a.label_names == b.label_names
    assert a.ct.origin == b.ct.origin and a.ct.size == b.ct.size


def test_write_phantom_round_trip(tmp_path):
    paths = write_phantom("hip", tmp_path / "out", spacing_mm=2.0)
    assert [p.name for p in paths] == ["ct.nii.gz", "labels.nii.gz", "labels.json"]
    reference = build_phantom("hip", 2.0)
    ct, labels = (sitk.ReadImage(str(p)) for p in paths[:2])
    for image, volume in ((ct, reference.ct), (labels, reference.labels)):
        assert image.GetSize() == volume.size
        assert np.allclose(image.GetSpacing(), volume.spacing) and np.allclose(image.GetOrigin(), volume.origin)
        assert np.array_equal(sitk.GetArrayFromImage(image), volume.array)
    names = json.loads(paths[2].read_text())
    assert all(isinstance(k, str) for k in names)
    assert {int(k): v for k, v in names.items()} == reference.label_names


def test_cache_round_trip_and_repair(tmp_path):
    built = phantom_cache.cached_case("spine", 2.0, tmp_path)
    stem = phantom_cache.cache_stem("spine", 2.0)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert f"{stem}.json" in files and sum(f.endswith(".mha") for f in files) == 2
    read = phantom_cache.read_cached(tmp_path, "spine", 2.0)
    assert np.array_equal(read.ct.array, built.ct.array) and np.array_equal(read.labels.array, built.labels.array)
    assert read.ct.same_grid(built.ct) and read.landmarks == built.landmarks
    assert read.label_names == built.label_names and read.ct.info == built.ct.info
    # corrupt the CT file: it is rebuilt (not an error) and the cache is whole again
    ct_file = next(p for p in tmp_path.iterdir() if p.name.endswith(".ct.mha"))
    data = ct_file.read_bytes()
    ct_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(Exception):
        phantom_cache.read_cached(tmp_path, "spine", 2.0)
    again = phantom_cache.cached_case("spine", 2.0, tmp_path)
    assert np.array_equal(again.ct.array, built.ct.array)
    assert np.array_equal(phantom_cache.read_cached(tmp_path, "spine", 2.0).ct.array, built.ct.array)
    assert sum(p.name.endswith(".mha") for p in tmp_path.iterdir()) == 2  # the broken pair was cleaned up
    # garbage json: rebuilt as well
    (tmp_path / f"{stem}.json").write_text("{not json")
    assert np.array_equal(phantom_cache.cached_case("spine", 2.0, tmp_path).labels.array, built.labels.array)


def test_demo_case_uses_the_default_spacing_and_its_cache(tmp_path):
    first = demo_case("spine", cache_dir=tmp_path)
    assert first.ct.spacing == (DEFAULT_SPACING_MM,) * 3
    second = demo_case("spine", cache_dir=tmp_path)
    assert np.array_equal(first.ct.array, second.ct.array)
    assert np.array_equal(first.labels.array, second.labels.array)
    assert first.landmarks == second.landmarks


def test_cache_folder_honours_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OSTEOPLAN_CACHE_DIR", str(tmp_path))
    assert phantom_cache.default_cache_dir() == tmp_path / "phantoms"
    monkeypatch.delenv("OSTEOPLAN_CACHE_DIR")
    assert phantom_cache.default_cache_dir().name == "phantoms"
