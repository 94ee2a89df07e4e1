"""The spinal canal found on a CT without labels, and what the verdicts make of it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from osteoplan.core.imaging.automatic import with_automatic_anatomy
from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.demo import load_demo_case
from osteoplan.core.imaging.io import load_image
from osteoplan.core.imaging.spine import find_canal
from osteoplan.core.imaging.volume import Volume
from osteoplan.core.planning.trajectory import TrajectoryKind
from osteoplan.core.safety.warnings import Severity
from osteoplan.core.session import PlanSession
from tests.conftest import shared_data_path


def _canal_slice_centre(session: PlanSession, k: int) -> np.ndarray:
    kji = np.argwhere(session.structures["spinal_canal"].mask[k])
    return session.case.ct.index_to_lps(np.array([*kji.mean(axis=0)[::-1], k], dtype=float))


def _needle(session: PlanSession, entry, target):
    path = session.new_trajectory(entry, target, TrajectoryKind.FREE, device_id="trocar-11g-150")
    session.editor.add_trajectory(path)
    return path, {w.structure: w for w in session.warnings(path.id) if w.structure}


def test_the_canal_of_a_real_ct_is_one_tube_from_the_sacrum_to_the_top_of_the_scan(pelvis):
    canal = pelvis.structures["spinal_canal"]
    assert canal.source == "auto" and canal.category == "neural"
    slices = np.flatnonzero(canal.mask.any(axis=(1, 2)))
    assert slices[-1] == pelvis.case.ct.array.shape[0] - 1, "up to the last (top) slice"
    assert (slices[-1] - slices[0]) * 3.0 >= 200, "L1 to the sacrum is over 20 cm"
    assert np.all(np.diff(slices) == 1), "continuous: the disc levels are bridged"
    areas = canal.mask.sum(axis=(1, 2))[slices] * 9.0
    assert np.all((areas > 80) & (areas < 800)), "a canal's cross-section in every slice (mm²)"
    # it lies behind the vertebral body, near the body's left-right middle
    centre = _canal_slice_centre(pelvis, 75)
    assert abs(centre[0] - pelvis.case.ct.center_lps()[0]) < 25


def test_a_needle_through_the_l3_canal_is_a_stop_naming_the_canal(pelvis):
    centre = _canal_slice_centre(pelvis, 75)  # L3: about 3 vertebrae below the labelled L2 of the crop
    _, found = _needle(pelvis, centre + [0, 80, 0], centre + [0, -30, 0])  # from the back, through the canal
    assert found["spinal_canal"].severity is Severity.STOP and found["spinal_canal"].distance_mm < 0


def test_a_needle_ending_2_mm_behind_the_canal_warns(pelvis):
    ct = pelvis.case.ct
    mask = pelvis.structures["spinal_canal"].mask
    k = 75
    column = int(np.round(np.argwhere(mask[k])[:, 1].mean()))
    rows = np.flatnonzero(mask[k][:, column])
    back = ct.index_to_lps(np.array([column, rows.min() - 0.5, k], dtype=float))  # the posterior face of the canal
    posterior = np.sign(ct.index_to_lps([column, 0, k])[1] - back[1])  # +y or -y: towards the back
    radius = 3.048 / 2
    tip = back + [0, posterior * (2.0 + radius), 0]
    _, found = _needle(pelvis, tip + [0, posterior * 60, 0], tip)
    warning = found["spinal_canal"]
    assert warning.severity is Severity.WARN and 0.0 <= warning.distance_mm < 5.0


def test_the_canal_covers_the_labelled_cord_of_the_real_crop():
    folder = shared_data_path("ct_abdomen_3mm_labels")
    ct = load_image(folder / "ct.nii.gz").volume
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "labels.nii.gz")))
    names = {int(k): v for k, v in json.loads((folder / "labels.json").read_text()).items()}
    cord = labels == next(v for v, n in names.items() if n == "spinal_cord")
    canal = find_canal(ct).mask
    assert (canal & cord).sum() / cord.sum() >= 0.9
    assert canal.sum() < 4 * cord.sum(), "a canal, not the whole spine"


def test_a_ct_without_a_spine_has_no_canal_and_the_verdict_says_neural_not_checked():
    array = np.full((40, 60, 60), -1000, np.int16)
    array[2:38, 10:50, 10:50] = 40
    array[15:25, 25:35, 25:35] = 700  # a bone block without any ring
    case = with_automatic_anatomy(Case(ct=Volume(array, (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))))
    session = PlanSession(case)
    assert "spinal_canal" not in session.structures
    reason = dict(session.hazard_coverage().unchecked)["neural"]
    assert "no spine found" in reason


def test_a_label_map_with_a_canal_gets_no_automatic_one():
    demo = load_demo_case("spine")
    case = with_automatic_anatomy(demo)
    assert case.labels.names == demo.labels.names and not case.automatic.values
    assert np.array_equal(case.labels.volume.array, demo.labels.volume.array)


def test_check_json_and_the_report_name_the_automatic_structures_and_their_method(pelvis):
    from osteoplan.core.report.check import check_plan
    from osteoplan.core.report.content import build_report

    found = {item["name"]: item for item in check_plan(pelvis, "pelvis")["automatic_structures"]}
    assert found["spinal_canal"]["category"] == "neural" and "vertebral ring" in found["spinal_canal"]["method"]
    assert {"skin (auto)", "vertebrae_L3", "sacrum"} <= set(found)
    assert "counted up from the sacrum" in found["vertebrae_L3"]["method"]
    rows = dict(build_report(pelvis).sections[0].blocks[0].rows)
    assert "vertebral ring" in rows["spinal_canal (neural)"] and "Label map" not in rows


def test_air_inside_the_body_is_a_visceral_hazard_and_air_outside_is_not():
    array = np.full((30, 60, 60), -1000, np.int16)
    array[2:28, 8:52, 8:52] = 40
    array[10:16, 20:28, 20:28] = -1000  # a gas pocket (~0.6 mL at 2 mm): bowel
    case = with_automatic_anatomy(Case(ct=Volume(array, (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))))
    session = PlanSession(case)
    air = session.structures["lung_or_bowel_air"]
    assert air.category == "visceral" and air.source == "auto"
    assert air.mask[13, 24, 24] and air.mask[13, 24, 29]  # the gas and the wall around it
    assert not air.mask[13, 4, 30], "the air around the patient is not bowel"
    assert "visceral" in session.hazard_coverage().checked
    solid = array.copy()
    solid[10:16, 20:28, 20:28] = 40
    bare = PlanSession(with_automatic_anatomy(Case(ct=Volume(solid, (2.0, 2.0, 2.0), (0.0, 0.0, 0.0)))))
    assert "visceral" in dict(bare.hazard_coverage().unchecked)


def test_the_real_pelvis_ct_has_its_bowel_gas_checked(pelvis):
    assert "lung_or_bowel_air" in pelvis.structures
    assert set(pelvis.hazard_coverage().checked) == {"neural", "visceral"}
    assert "CT not contrast-enhanced" in dict(pelvis.hazard_coverage().unchecked)["vascular"]


def test_the_vertebrae_of_the_real_pelvis_ct_are_named_from_the_sacrum_as_the_labels_name_them(pelvis):
    names = set(pelvis.case.labels.names.values())
    assert {"sacrum", "vertebrae_L5", "vertebrae_L4", "vertebrae_L3", "vertebrae_L2", "vertebrae_L1"} <= names
    # the labelled crop shares the top 30 slices' voxels: each labelled vertebra is mostly the same-named one
    folder = shared_data_path("ct_abdomen_3mm_labels")
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "labels.nii.gz")))
    label_names = {int(k): v for k, v in json.loads((folder / "labels.json").read_text()).items()}
    ct = pelvis.case.ct.array
    crop = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "ct.nii.gz")))
    offset = next(o for o in range(ct.shape[0] - crop.shape[0] + 1) if np.array_equal(ct[o:o + crop.shape[0]], crop))
    automatic = pelvis.case.labels.volume.array[offset:offset + crop.shape[0]]
    for value, name in label_names.items():
        mask = labels == value
        if name in ("vertebrae_L2", "vertebrae_L1", "vertebrae_T12") and mask.any():
            found, counts = np.unique(automatic[mask], return_counts=True)
            assert pelvis.case.labels.names.get(int(found[np.argmax(counts)])) == name


def test_ctrl_b_proposes_pedicle_paths_at_every_lumbar_level_of_the_real_pelvis_ct(pelvis):
    from osteoplan.core.planning.templates import bilateral_transpedicular

    device = pelvis.default_device(TrajectoryKind.TRANSPEDICULAR)
    lab, names = pelvis.case.labels.volume.array, pelvis.case.labels.names
    for level in ("L1", "L2", "L3", "L4", "L5"):
        value = next(v for v, n in names.items() if n == f"vertebrae_{level}")
        body = np.argwhere(lab == value).mean(axis=0)
        paths = bilateral_transpedicular(pelvis.case, pelvis.case.ct.index_to_lps(body[::-1]), device.length_mm,
                                         new_id=pelvis.plan.id_factory("t"), device_id=device.id,
                                         radius_mm=device.radius_mm, structures=pelvis.engine.structures)
        assert {p.level for p in paths} == {level} and len(paths) == 2
        for path in paths:
            readout = pelvis.engine.compute(path, device)
            assert readout.breach_grade in ("A", "B") and readout.tip_tissue == f"vertebrae_{level}", (level, readout)


def test_each_lumbar_level_of_the_real_pelvis_ct_has_its_nerve_root_zones_between_its_pedicle_and_the_next(pelvis):
    lab, names = pelvis.case.labels.volume.array, pelvis.case.labels.names
    canal = pelvis.structures["spinal_canal"].mask
    def slices(name):
        value = next(v for v, n in names.items() if n == name)
        return np.flatnonzero((lab == value).any(axis=(1, 2)))
    for level, below in (("L1", "L2"), ("L2", "L3"), ("L3", "L4"), ("L4", "L5"), ("L5", "sacrum")):
        upper, lower = slices(f"vertebrae_{level}"), slices(below if below == "sacrum" else f"vertebrae_{below}")
        for side, sign in (("left", 1), ("right", -1)):
            root = pelvis.structures[f"nerve_root_{level}_{side}"]
            assert root.category == "neural" and root.source == "auto"
            ks = np.flatnonzero(root.mask.any(axis=(1, 2)))
            # the foramen: from the lower half of its vertebra down to the disc below (+-1 slice of 3 mm)
            assert ks.min() >= lower.max() - 1 - 3 and ks.max() <= 0.5 * (upper.min() + upper.max()) + 1, (level, ks)
            k = int(np.median(ks))
            canal_x = np.argwhere(canal[k])[:, 1].mean()
            lps_x = pelvis.case.ct.index_to_lps(np.array([[np.argwhere(root.mask[k])[:, 1].mean(), 0, k],
                                                          [canal_x, 0, k]]))[:, 0]
            assert sign * (lps_x[0] - lps_x[1]) > 8.0, "beside the canal, on its own side"


def test_a_needle_into_the_l3_l4_foramen_is_a_stop_naming_the_exiting_l3_root(pelvis):
    root = pelvis.structures["nerve_root_L3_left"]
    kji = np.argwhere(root.mask).mean(axis=0)
    centre = pelvis.case.ct.index_to_lps(kji[::-1])
    _, found = _needle(pelvis, centre + [40, 60, 0], centre)  # from behind and the left (LPS +x +y)
    assert found["nerve_root_L3_left"].severity is Severity.STOP


def test_a_scan_without_sacrum_numbers_its_vertebrae_and_one_name_renames_them_all():
    from osteoplan.core.imaging.vertebrae import rename_levels

    ct = load_image(shared_data_path("ct_abdomen_3mm_labels", "ct.nii.gz")).volume
    case = with_automatic_anatomy(Case(ct=ct))
    names = case.labels.names
    unknown = sorted(v for v, n in names.items() if n.startswith("vertebrae_unknown"))
    assert len(unknown) >= 2 and "sacrum" not in names.values()
    renamed = rename_levels(names, unknown[1], "L1")  # "this vertebra is L1": the one below is L2, above T12
    assert [renamed[v] for v in unknown[:3]] == ["vertebrae_L2", "vertebrae_L1", "vertebrae_T12"][:len(unknown[:3])]
    with pytest.raises(ValueError, match="unknown level"):
        rename_levels(names, unknown[0], "L9")


def test_the_level_correction_is_saved_with_the_plan_and_applied_when_it_opens(tmp_path):
    from osteoplan.core.files.plan_file import load_plan, save_plan
    from osteoplan.core.imaging.automatic import relevel
    from osteoplan.core.session import open_plan_session

    ct_path = shared_data_path("ct_abdomen_3mm_labels", "ct.nii.gz")
    plan = {"format": "osteoplan.plan", "version": 1, "image": {"path": str(ct_path)}, "trajectories": [],
            "structures": {"level": {"vertebra": "vertebrae_unknown2", "level": "L1"}}}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    session, _ = open_plan_session(tmp_path / "plan.json")
    names = set(session.case.labels.names.values())
    assert {"vertebrae_L2", "vertebrae_L1"} <= names and not any(n.startswith("vertebrae_unknown") for n in names)
    assert "levels set by the user (vertebrae_unknown2 is L1)" in session.case.automatic.methods["vertebrae_L1"]
    assert session.structures["vertebrae_L1"].source == "auto"
    # the nerve-root zones follow their vertebrae: the root of the vertebra renamed L1 is the L1 root
    assert {"nerve_root_L1_left", "nerve_root_L1_right"} <= names
    assert not any(n.startswith("nerve_root_unknown") for n in names)
    save_plan(session.plan, tmp_path / "again.json")
    assert load_plan(tmp_path / "again.json").plan.structures.level.level == "L1"
    with pytest.raises(ValueError, match="not an automatic vertebra"):
        relevel(session.case, "spinal_canal", "L3")
