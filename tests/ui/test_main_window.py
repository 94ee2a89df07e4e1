"""The main window driven as a user would: clicks, keys, presets, bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

pytestmark = pytest.mark.gui


def _centre_lps(case):
    return case.ct.center_lps()


def test_each_pane_renders_real_pixels(window):
    for name, view in window.views.items():
        pixels = view.pixels()
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100, name
        assert pixels.std() > 5, f"{name} view is uniform (black or empty)"


def test_axial_click_moves_the_other_views_radiologically(window, qtbot):
    axial, sagittal, coronal = (window.views[n] for n in ("axial", "sagittal", "coronal"))
    before_sagittal = sagittal.pixels()
    centre = _centre_lps(window.case)
    z_before = window.viewer.cursor_lps[2]
    # upper-right quadrant of the axial view = anterior (-y) and patient's left (+x)
    qtbot.mouseClick(axial, Qt.MouseButton.LeftButton, pos=QPoint(axial.width() * 3 // 4, axial.height() // 4))
    cursor = window.viewer.cursor_lps
    assert cursor[0] > centre[0] + 5 and cursor[1] < centre[1] - 5
    assert cursor[2] == pytest.approx(z_before)
    for view in (sagittal, coronal):
        focal = np.asarray(view.renderer.GetActiveCamera().GetFocalPoint())
        assert np.dot(focal - cursor, view.frame.normal) == pytest.approx(0, abs=1e-6)
    assert not np.array_equal(before_sagittal, sagittal.pixels()), "the sagittal slice did not change"
    # the clicked point is where the crosshair is drawn, to the pixel
    x, y = axial.display_of_world(cursor)
    assert abs(x - axial.width() * 3 // 4) <= 1.5 and abs((axial.height() - 1 - y) - axial.height() // 4) <= 1.5
    assert "Cursor LPS" in window._cursor_label.text()


def test_keys_page_slices_by_one_voxel(window, qtbot):
    axial = window.views["axial"]
    z = window.viewer.cursor_lps[2]
    qtbot.keyClick(axial, Qt.Key.Key_Up)
    assert window.viewer.cursor_lps[2] == pytest.approx(z + 2.0)  # 2 mm slices, Up = superior
    qtbot.keyClick(axial, Qt.Key.Key_Down)
    qtbot.keyClick(axial, Qt.Key.Key_Down)
    assert window.viewer.cursor_lps[2] == pytest.approx(z - 2.0)
    assert axial._corners.text("bottom_left").endswith("mm")


def test_window_level_preset_changes_the_pixels(window):
    axial = window.views["axial"]
    before = axial.pixels()
    lung = next(a for a in window.presets_toolbar.window_level_actions.actions() if a.data() == "lung")
    lung.trigger()
    assert window.viewer.window_level == (1500, -600)
    assert lung.isChecked()
    after = axial.pixels()
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 2
    assert axial._corners.text("bottom_right") == "W 1500  L -600"


def test_right_drag_adjusts_window_level(window, qtbot):
    axial = window.views["axial"]
    width, level = window.viewer.window_level
    start = QPoint(axial.width() // 2, axial.height() // 2)
    qtbot.mousePress(axial, Qt.MouseButton.RightButton, pos=start)
    qtbot.mouseMove(axial, start + QPoint(60, -40))
    qtbot.mouseRelease(axial, Qt.MouseButton.RightButton, pos=start + QPoint(60, -40))
    new_width, new_level = window.viewer.window_level
    assert new_width > width and new_level != level
    assert not any(a.isChecked() for a in window.presets_toolbar.window_level_actions.actions())


def test_orientation_letters_on_each_view(window):
    assert window.views["axial"]._letters.text("left") == "R"
    assert window.views["axial"]._letters.text("right") == "L"
    assert window.views["coronal"]._letters.text("top") == "S"
    assert window.views["sagittal"]._letters.text("left") == "A"


def test_double_click_maximises_and_restores(window, qtbot):
    axial = window.views["axial"]
    qtbot.mouseDClick(axial, Qt.MouseButton.LeftButton, pos=QPoint(20, 20))
    assert window.layout_name == "axial"
    assert axial.isVisible() and not window.views["3d"].isVisible()
    qtbot.mouseDClick(axial, Qt.MouseButton.LeftButton, pos=QPoint(20, 20))
    assert window.layout_name == "four-up" and window.views["3d"].isVisible()


def test_label_overlay_toggle_changes_pixels(window):
    window.viewer.set_cursor(window.case.ct.index_to_lps((24, 40, 20)))  # inside the lesion
    axial = window.views["axial"]
    with_labels = axial.pixels()
    window.presets_toolbar.labels_action.setChecked(False)
    assert not np.array_equal(with_labels, axial.pixels())
    assert "lesion" in window._cursor_label.text()


def test_a_bad_file_shows_a_message_and_keeps_the_case(window, qtbot, tmp_path):
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"this is not an image")
    case = window.case
    window.open_path(str(broken))
    qtbot.waitUntil(lambda: window.last_message is not None, timeout=10000)
    title, text = window.last_message
    assert "broken.nii.gz" in text
    assert window.case is case and window.isVisible()


def test_opening_an_image_file_loads_it(window, qtbot, tmp_path, synthetic_case):
    import SimpleITK as sitk

    path = tmp_path / "ct.nii.gz"
    sitk.WriteImage(synthetic_case.ct.to_sitk(), str(path))
    window.open_path(str(path))
    qtbot.waitUntil(lambda: window.case.source == str(path), timeout=10000)
    assert window.case.ct.size == synthetic_case.ct.size
    assert window.views["axial"].pixels().std() > 5


def test_series_picker_lists_and_returns_the_choice(qtbot):
    from osteoplan.core.imaging.io import SeriesSummary
    from osteoplan.ui.dialogs import SeriesPickerDialog

    def summary(uid, description, modality, slices, patient="DOE^JANE", patient_id="P1"):
        return SeriesSummary(uid=uid, description=description, modality=modality, n_slices=slices,
                             size=(512, 512, slices), spacing=(0.7, 0.7, 1.0), origin=(0, 0, 0),
                             direction=(1, 0, 0, 0, 1, 0, 0, 0, 1), file_names=(), patient_name=patient,
                             study_date="20240131", patient_id=patient_id, series_number="3", slice_thickness="1.0")

    dialog = SeriesPickerDialog("/data/case", [summary("1.2.1", "Scout", "CT", 2), summary("1.2.2", "Body 1mm", "CT", 300)])
    qtbot.addWidget(dialog)
    patient = dialog.tree.topLevelItem(0)
    assert dialog.tree.topLevelItemCount() == 1 and patient.text(0).startswith("DOE JANE — ID P1")
    study = patient.child(0)
    assert study.text(0).startswith("Study 2024-01-31") and study.childCount() == 2
    assert study.child(1).text(1) == "Body 1mm" and study.child(1).text(4) == "1 mm"
    assert dialog.selected_uid() == "1.2.2"  # one patient: the CT with the most slices is pre-selected
    dialog.select(0)
    assert dialog.selected_uid() == "1.2.1"
    # two patients: grouped apart, and nothing is chosen for the user
    two = SeriesPickerDialog("/data/case", [summary("1.2.1", "CT Body 3.0", "CT", 120),
                                            summary("1.2.9", "CT Body 3.0", "CT", 120, "ROE^RICHARD", "P2")])
    qtbot.addWidget(two)
    assert two.tree.topLevelItemCount() == 2 and two.selected_uid() is None
    assert not two.buttons.button(two.buttons.StandardButton.Open).isEnabled()
    two.select(1)
    assert two.selected_uid() == "1.2.9" and two.buttons.button(two.buttons.StandardButton.Open).isEnabled()


def test_the_banner_shows_the_dicom_patient_and_a_saved_plan_keeps_only_fingerprints(window, qtbot, tmp_path):
    from tests.fixtures.images import make_ct_series

    assert "No patient identity in this file" in window.patient_banner.text(), "the synthetic case has none"
    make_ct_series(tmp_path / "series", patient_name="DOE^JOHN", patient_id="PID4471X", birth_date="19610203")
    window.open_path(str(tmp_path / "series"))
    qtbot.waitUntil(lambda: window.case.source == str(tmp_path / "series"), timeout=10000)
    text = window.patient_banner.text()
    assert "DOE, JOHN" in text and "PID4471X" in text and "1961-02-03" in text and window.patient_banner.isVisible()
    assert "DOE, JOHN" in window.windowTitle()
    assert window.plan_files._write(tmp_path / "plan.json")
    saved = (tmp_path / "plan.json").read_text()
    image = json.loads(saved)["image"]
    assert image["patient_fingerprint"].startswith("sha256:") and "PID4471X" not in saved and "DOE" not in saved


def test_saving_over_a_plan_another_window_saved_asks_first(window, qtbot, tmp_path):
    from osteoplan.core.files.plan_file import load_plan
    from osteoplan.core.planning.trajectory import TrajectoryKind

    session = window.session
    centre = window.case.ct.center_lps()
    session.editor.add_trajectory(session.new_trajectory(centre + [0, 40, 0], centre, TrajectoryKind.FREE))
    assert window.plan_files._write(tmp_path / "plan.json")
    theirs = (tmp_path / "plan.json").read_text().replace('"Path 1"', '"their path"')
    (tmp_path / "plan.json").write_text(theirs)  # the other window saved meanwhile
    asked = []
    window.plan_files.changed_on_disk_choice = lambda path: asked.append(path) or "cancel"
    assert not window.plan_files.save() and asked, "asked, and cancelled: nothing written"
    assert (tmp_path / "plan.json").read_text() == theirs
    window.plan_files.changed_on_disk_choice = lambda path: "overwrite"
    assert window.plan_files.save()
    assert load_plan(tmp_path / "plan.json").plan.trajectories[0].name == "Path 1"
    window.plan_files.changed_on_disk_choice = lambda path: asked.append(path) or "cancel"
    assert window.plan_files.save() and len(asked) == 1, "our own save is not 'changed on disk'"


def test_an_autosave_failure_stays_in_sight_until_an_autosave_succeeds(window, qtbot, monkeypatch):
    from osteoplan.core.files.autosave import AutosaveError
    from osteoplan.core.planning.trajectory import TrajectoryKind

    files, session = window.plan_files, window.session
    real = files.autosaver.save

    def failing(*args, **kwargs):
        raise AutosaveError("the autosave folder is on a full disk")

    monkeypatch.setattr(files.autosaver, "save", failing)
    centre = window.case.ct.center_lps()
    session.editor.add_trajectory(session.new_trajectory(centre + [0, 40, 0], centre, TrajectoryKind.FREE))
    assert files.autosave_problem.isVisible() and "full disk" in files.autosave_problem.text()
    window.statusBar().showMessage("something else happened", 1000)
    assert files.autosave_problem.isVisible(), "not overwritten by the next status message"
    monkeypatch.setattr(files.autosaver, "save", real)
    session.editor.add_trajectory(session.new_trajectory(centre + [5, 40, 0], centre, TrajectoryKind.FREE))
    assert not files.autosave_problem.isVisible()
