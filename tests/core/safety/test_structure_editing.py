"""Undoable structure edits (brush, eraser, threshold fill, rename...) and their persistence in plan files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from osteoplan.core.files.autosave import Autosaver
from osteoplan.core.safety.distances import needle_structure_distances
from osteoplan.core.files.plan_file import load_plan, save_plan
from osteoplan.core.files.structure_masks import masks_path
from osteoplan.core.imaging.phantom import build_phantom, write_phantom
from osteoplan.core.planning.plan import ImageRef, LabelsRef, Plan
from osteoplan.core.session import PlanSession, load_case_for_plan, open_plan_session
from osteoplan.core.safety.structure_editing import StructureEditError
from osteoplan.core.safety.structures import StructureSet, structures_from_label_volume
from osteoplan.core.planning.trajectory import TrajectoryKind

SPACING_MM = 1.6
NEEDLE = ((8.0, 21.8, 46.0), (8.0, 21.8, 58.0))  # beside the conus (see test_safety)


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spine")
    write_phantom("spine", folder, spacing_mm=SPACING_MM)
    return folder


@pytest.fixture(scope="module")
def case(case_dir):
    plan = Plan(ImageRef(path=str(case_dir / "ct.nii.gz")), LabelsRef(path=str(case_dir / "labels.nii.gz")))
    save_plan(plan, case_dir / "base.json")
    found, _ = load_case_for_plan(load_plan(case_dir / "base.json"))
    return found


@pytest.fixture
def session(case, case_dir) -> PlanSession:
    plan = Plan(ImageRef(path=str(case_dir / "ct.nii.gz")), LabelsRef(path=str(case_dir / "labels.nii.gz")))
    return PlanSession(case, plan)


def _cord_distance(session) -> float:
    (found,) = needle_structure_distances(*NEEDLE, 1.0, session.distance_fields, [session.structures["spinal_cord"]])
    return found.distance_mm


def _add_needle(session):
    path = session.new_trajectory(*NEEDLE, TrajectoryKind.FREE, device_id="trocar-13g-100")
    session.editor.add_trajectory(path)
    return path


def _messages(session, trajectory_id):
    return [w.to_json() for w in session.warnings(trajectory_id)]


def test_a_brush_edit_changes_the_distance_and_undo_restores_it_exactly(session):
    path = _add_needle(session)
    before_set, before = session.structures, _cord_distance(session)
    before_warnings = _messages(session, path.id)
    heard = []
    session.structures_changed.connect(heard.append)
    assert session.structure_editor.paint("spinal_cord", (5.0, 21.8, 52.0), 2.5)
    assert heard == ["spinal_cord"]
    assert _cord_distance(session) < before - 1.0
    assert _messages(session, path.id) != before_warnings  # the warnings cache follows the structures
    assert session.history.undo()
    assert _cord_distance(session) == before and session.structures.same_as(before_set)
    assert _messages(session, path.id) == before_warnings
    assert session.history.redo() and _cord_distance(session) < before - 1.0


def test_a_stroke_is_one_undo_step_and_a_plane_brush_paints_one_slice(session):
    before = session.structures
    ct = session.case.ct
    with session.history.group("Paint"):
        for x in np.linspace(-30, 30, 25):
            session.structure_editor.paint("cement", (x, 0.0, 52.0), 3.0, plane_normal=(0, 0, 1))
    painted = session.structures["cement"]
    assert painted.source == "user" and painted.box_mask.shape[0] == 1  # one axial slice
    k = int(round(ct.lps_to_index((0, 0, 52.0))[2]))
    assert painted.start_kji[0] == k and painted.voxel_count > 25
    assert session.history.undo() and "cement" not in session.structures and session.structures.same_as(before)
    assert not session.history.can_undo


def test_erase_removes_voxels_and_refuses_an_unknown_structure(session):
    cord = session.structures["spinal_cord"]
    assert session.structure_editor.paint("spinal_cord", (0.0, 21.8, 52.0), 3.0, erase=True)
    assert session.structures["spinal_cord"].voxel_count < cord.voxel_count
    assert not session.structure_editor.paint("spinal_cord", (0.0, 21.8, 52.0), 3.0, erase=True)  # nothing left
    with pytest.raises(StructureEditError, match="no structure named 'nope'"):
        session.structure_editor.paint("nope", (0.0, 21.8, 52.0), 3.0, erase=True)


@pytest.mark.parametrize("connected", [False, True])
def test_threshold_fill_adds_only_in_range_voxels_within_the_ball(session, phantom_landmarks, connected):
    ct = session.case.ct
    centre, radius = np.asarray(phantom_landmarks["L2_body_center"]), 9.0
    assert session.structure_editor.threshold_fill("fill", centre, radius, 150, 3000, connected=connected)
    mask = session.structures["fill"].mask
    kji = np.argwhere(mask)
    lps = ct.index_to_lps(kji[:, ::-1].astype(float))
    assert np.all(np.linalg.norm(lps - centre, axis=1) <= radius + 1e-6)
    values = ct.array[mask]
    assert np.all((values >= 150) & (values <= 3000))
    k, j, i = np.indices(ct.array.shape)
    grid_lps = ct.index_to_lps(np.stack([i, j, k], -1).astype(float))
    expected = (np.linalg.norm(grid_lps - centre, axis=-1) <= radius) & (ct.array >= 150) & (ct.array <= 3000)
    if connected:
        assert mask.sum() <= expected.sum() and not (mask & ~expected).any()
    else:
        assert np.array_equal(mask, expected)


@pytest.fixture(scope="module")
def phantom_landmarks():
    return build_phantom("spine", spacing_mm=SPACING_MM).landmarks


def test_rename_delete_recolour_category_and_thresholds_undo_and_redo(session):
    editor, original = session.structure_editor, session.structures
    editor.rename("spinal_cord", "cord")
    editor.recolour("cord", (255, 0, 10))
    editor.set_category("cord", "vascular")
    editor.set_thresholds("cord", 8.0, None)
    editor.set_visible("aorta", False)
    editor.set_opacity("aorta", 0.25)
    editor.delete("colon")
    cord = session.structures["cord"]
    assert "spinal_cord" not in session.structures and "colon" not in session.structures
    assert cord.color == (1.0, 0.0, 10 / 255) and cord.category == "vascular" and cord.base_name == "spinal_cord"
    assert cord.needle_thresholds().warn_mm == 8.0 and cord.needle_thresholds().origin == "override"
    assert not session.structures["aorta"].visible and session.structures["aorta"].opacity == 0.25
    edited = session.structures
    for _ in range(7):
        assert session.history.undo()
    assert session.structures.same_as(original)
    for _ in range(7):
        assert session.history.redo()
    assert session.structures.same_as(edited)


@pytest.mark.parametrize("edit, message", [
    (lambda e: e.rename("spinal_cord", "aorta"), "exists already"),
    (lambda e: e.rename("spinal_cord", "  "), "not empty"),
    (lambda e: e.rename("nope", "x"), "no structure named"),
    (lambda e: e.add_structure("aorta"), "exists already"),
    (lambda e: e.set_category("aorta", "martian"), "unknown structure category"),
    (lambda e: e.set_thresholds("aorta", 2.0, 3.0), "must not exceed"),
    (lambda e: e.set_thresholds("aorta", float("nan"), None), "finite"),
    (lambda e: e.set_thresholds("aorta", -1, None), "finite"),
    (lambda e: e.recolour("aorta", (256, 0, 0)), "0..255"),
    (lambda e: e.set_opacity("aorta", 1.5), "0..1"),
    (lambda e: e.paint("aorta", (0, 0, float("inf")), 2.0), "finite"),
    (lambda e: e.threshold_fill("aorta", (0, 0, 0), 2.0, 300, 100), "low <= high"),
])
def test_invalid_edits_raise_a_clear_error_and_change_nothing(session, edit, message):
    before = session.structures
    with pytest.raises(StructureEditError, match=message):
        edit(session.structure_editor)
    assert session.structures is before and not session.history.can_undo


def _edit_everything(session):
    editor = session.structure_editor
    editor.paint("spinal_cord", (5.0, 21.8, 52.0), 2.5)
    editor.paint("cement (user)", (5.0, 21.8, 52.0), 4.0)  # overlaps the painted cord: two mask layers
    editor.add_structure("empty one", "lesion")
    editor.rename("aorta", "aorta (renamed)")
    editor.delete("colon")
    editor.set_thresholds("inferior_vena_cava", 7.5, 2.0)
    editor.recolour("liver", (1, 2, 3))
    editor.set_visible("kidney_left", False)
    editor.set_opacity("kidney_right", 0.3)
    editor.set_category("cement (user)", "lesion")


def _assert_same_structures(first, second):
    assert first.names == second.names
    for a, b in zip(first, second):
        assert a.same_as(b), a.name
        assert np.array_equal(a.mask, b.mask)


def test_save_and_reopen_give_identical_structures_thresholds_and_warnings(session, case_dir):
    path = _add_needle(session)
    _edit_everything(session)
    plan_path = case_dir / "edited.json"
    save_plan(session.plan, plan_path)
    data = json.loads(plan_path.read_text())
    layers = data["structures"]["masks"]
    assert [layer["path"] for layer in layers] == ["edited.structures.nii.gz", "edited.structures-2.nii.gz"]
    assert sorted(n for layer in layers for n in layer["names"].values()) == ["cement (user)", "empty one",
                                                                              "spinal_cord"]
    assert data["structures"]["renamed"] == {"aorta (renamed)": "aorta"} and data["structures"]["deleted"] == ["colon"]
    assert data["structures"]["overrides"]["inferior_vena_cava"] == {"warn_mm": 7.5, "stop_mm": 2.0}
    reopened, notes = open_plan_session(plan_path)
    assert not [n for n in notes if "structure" in n]
    _assert_same_structures(session.structures, reopened.structures)
    assert _messages(session, path.id) == _messages(reopened, path.id)
    # saving the reopened plan elsewhere keeps the masks (written beside the new file)
    save_plan(reopened.plan, case_dir / "copy.json")
    again, _ = open_plan_session(case_dir / "copy.json")
    _assert_same_structures(session.structures, again.structures)


def test_a_plan_without_structure_edits_writes_no_mask_file(session, case_dir, tmp_path):
    _add_needle(session)
    session.structure_editor.paint("spinal_cord", (5.0, 21.8, 52.0), 2.5)
    session.history.undo()  # back to the case's own structures
    save_plan(session.plan, tmp_path / "plan.json")
    assert "structures" not in json.loads((tmp_path / "plan.json").read_text())
    assert not masks_path(tmp_path / "plan.json").exists()
    session.structure_editor.set_thresholds("aorta", 9.0, None)  # an override alone: no mask file either
    save_plan(session.plan, tmp_path / "plan.json")
    assert json.loads((tmp_path / "plan.json").read_text())["structures"] == {
        "overrides": {"aorta": {"warn_mm": 9.0}}}
    assert not list(tmp_path.glob("*.nii.gz"))


def test_the_minimal_labels_form_and_the_auto_switches(case_dir, tmp_path):
    minimal = {"format": "osteoplan.plan", "version": 1, "image": {"path": str(case_dir / "ct.nii.gz")},
               "labels": {"path": str(case_dir / "labels.nii.gz"), "names": str(case_dir / "labels.json")}}
    (tmp_path / "labels.json").write_text(json.dumps(minimal))
    labelled, _ = open_plan_session(tmp_path / "labels.json")
    assert "spinal_cord" in labelled.structures and "skin (auto)" not in labelled.structures  # labels have skin
    no_labels = {**minimal, "structures": {"auto": {"skin": False}}}
    del no_labels["labels"]
    (tmp_path / "auto.json").write_text(json.dumps(no_labels))
    session, _ = open_plan_session(tmp_path / "auto.json")
    found_on_ct = [s.name for s in session.structures]  # without labels: the structures found on the CT
    assert "skin (auto)" not in found_on_ct and "spinal_canal" in found_on_ct
    assert session.structure_editor.set_auto(skin=True)
    assert session.structures.names == sorted([*found_on_ct, "skin (auto)"])
    save_plan(session.plan, tmp_path / "auto.json")
    assert "structures" not in json.loads((tmp_path / "auto.json").read_text())  # back to the defaults
    assert session.history.undo() and session.structures.names == found_on_ct
    assert session.plan.structures.auto.skin is False


def test_the_autosave_keeps_edited_masks(session, tmp_path):
    _add_needle(session)
    session.structure_editor.paint("cement (user)", (5.0, 21.8, 52.0), 4.0)
    autosaver = Autosaver(tmp_path / "autosave")
    saved = autosaver.save(session.plan)
    assert masks_path(saved).exists()
    recovered = load_plan(saved)
    case, _ = load_case_for_plan(recovered)
    _assert_same_structures(session.structures, PlanSession(case, recovered.plan).structures)
    autosaver.discard()
    assert not list((tmp_path / "autosave").glob("*.nii.gz"))


def test_label_volume_round_trip(session):
    session.structure_editor.paint("cement (user)", (5.0, 21.8, 52.0), 4.0)
    labels, names = session.structures.to_label_volume(session.case.ct)
    assert labels.dtype == np.uint16 and labels.shape == session.case.ct.array.shape
    assert set(names.values()) == set(session.structures.names)
    cement = session.structures["cement (user)"]
    assert np.array_equal(labels == next(v for v, n in names.items() if n == "cement (user)"), cement.mask)
    back = StructureSet(tuple(structures_from_label_volume(labels, names)))
    assert np.array_equal(back["cement (user)"].mask, cement.mask)  # smaller structures are drawn on top
