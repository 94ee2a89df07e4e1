"""Needle paths in the GUI: placing by clicks, dragging handles, needle views, save/reopen."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from osteoplan.core.planning.trajectory import Trajectory, TrajectoryKind

pytestmark = pytest.mark.gui


def _qt_pos(view, lps) -> QPoint:
    x, y = view.display_of_world(lps)
    return QPoint(round(x), round(view.height() - 1 - y))


def _add_path(window, entry=(20.0, 25.0, 0.0), target=(-10.0, -5.0, 0.0)) -> Trajectory:
    session = window.session
    trajectory = session.new_trajectory(entry, target, TrajectoryKind.FREE)
    session.editor.add_trajectory(trajectory)
    window.controller.select(trajectory.id)
    return trajectory


def test_place_a_path_with_two_clicks(window, qtbot):
    axial = window.views["axial"]
    window.controller.start_placement(TrajectoryKind.TRANSPEDICULAR)
    z = window.viewer.cursor_lps[2]
    qtbot.mouseClick(axial, Qt.MouseButton.LeftButton, pos=QPoint(axial.width() * 3 // 4, axial.height() * 3 // 4))
    assert not window.session.plan.trajectories  # the entry alone makes no path
    qtbot.mouseClick(axial, Qt.MouseButton.LeftButton, pos=QPoint(axial.width() // 2, axial.height() // 2))
    (trajectory,) = window.session.plan.trajectories
    assert trajectory.kind is TrajectoryKind.TRANSPEDICULAR
    assert trajectory.entry[2] == pytest.approx(z) and trajectory.target[2] == pytest.approx(z)
    # the entry was clicked lower-right: posterior (+y) and patient's left (+x) of the target
    assert trajectory.entry[0] > trajectory.target[0] and trajectory.entry[1] > trajectory.target[1]
    assert window.controller.placement_kind is None
    table = window.paths_panel.table
    assert table.rowCount() == 1
    assert table.item(0, 3).text() == f"{trajectory.length_mm:.1f} mm"
    assert window.session.history.undo_label.startswith("Add")


def test_dragging_a_handle_is_one_undo_step_and_updates_readouts(window, qtbot):
    trajectory = _add_path(window)
    window.viewer.set_cursor(trajectory.target)
    axial = window.views["axial"]
    axial.render()
    start = _qt_pos(axial, trajectory.target)
    length_before = window.paths_panel.table.item(0, 3).text()
    qtbot.mousePress(axial, Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 11):
        qtbot.mouseMove(axial, start + QPoint(3 * step, 0))
    qtbot.mouseRelease(axial, Qt.MouseButton.LeftButton, pos=start + QPoint(30, 0))
    moved = window.session.plan.trajectory(trajectory.id)
    expected_shift = 30 * axial.mm_per_pixel
    assert moved.target[0] - trajectory.target[0] == pytest.approx(expected_shift, abs=axial.mm_per_pixel)
    assert moved.target[1] == pytest.approx(trajectory.target[1], abs=1e-6)
    assert moved.entry_lps == trajectory.entry_lps
    assert window.paths_panel.table.item(0, 3).text() != length_before
    assert window.viewer.cursor_lps == pytest.approx(trajectory.target)  # the drag did not move the cursor
    window.session.history.undo()
    assert window.session.plan.trajectory(trajectory.id) == trajectory
    assert window.session.history.undo_label.startswith("Add")


def test_dragging_the_body_moves_the_whole_needle(window, qtbot):
    trajectory = _add_path(window)
    axial = window.views["axial"]
    axial.render()
    middle = (trajectory.entry + trajectory.target) / 2
    start = _qt_pos(axial, middle)
    qtbot.mousePress(axial, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(axial, start + QPoint(0, -20))
    qtbot.mouseRelease(axial, Qt.MouseButton.LeftButton, pos=start + QPoint(0, -20))
    moved = window.session.plan.trajectory(trajectory.id)
    np.testing.assert_allclose(moved.vector, trajectory.vector, atol=1e-9)
    # screen up is anterior (-y) in the axial view
    assert moved.entry[1] - trajectory.entry[1] == pytest.approx(-20 * axial.mm_per_pixel, abs=axial.mm_per_pixel)


def test_needle_views_render_the_selected_path_and_advance_the_tip(window, qtbot):
    trajectory = _add_path(window)
    panel = window.needle_panel
    assert window.needle_dock.isVisible()
    for view in (panel.in_plane, panel.probe_eye):
        assert view.pixels().std() > 5
    panel.advance.setValue(panel.advance.maximum() // 2)
    assert f"{trajectory.length_mm / 2:.1f} of {trajectory.length_mm:.1f} mm" in panel.tip_readout.text()
    np.testing.assert_allclose(window.controller.virtual_tip, trajectory.point_at(trajectory.length_mm / 2))
    probe_focal = np.asarray(panel.probe_eye.renderer.GetActiveCamera().GetFocalPoint())
    np.testing.assert_allclose(probe_focal, trajectory.point_at(trajectory.length_mm / 2), atol=1e-6)


def test_save_and_reopen_restore_the_plan_exactly(window, qtbot, tmp_path):
    from osteoplan.core.files.plan_file import load_plan

    trajectory = _add_path(window)
    window.session.editor.rename(trajectory.id, "L2 left")
    path = tmp_path / "plan.json"
    assert window.plan_files._write(path)
    assert not window.plan_files.has_unsaved_changes
    saved = load_plan(path).plan
    assert saved.same_content(window.session.plan) or saved.trajectories == window.session.plan.trajectories
    window.session.editor.remove_trajectory(trajectory.id)
    assert window.plan_files.has_unsaved_changes


def test_dragging_a_handle_in_3d_moves_it_parallel_to_the_screen(window, qtbot):
    trajectory = _add_path(window)
    view = window.views["3d"]
    view.render()
    camera_before = view.renderer.GetActiveCamera().GetPosition()
    start = _qt_pos(view, trajectory.entry)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 6):
        qtbot.mouseMove(view, start + QPoint(0, -5 * step))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=start + QPoint(0, -25))
    moved = window.session.plan.trajectory(trajectory.id)
    assert moved.target_lps == trajectory.target_lps
    shift = moved.entry - trajectory.entry
    assert np.linalg.norm(shift) > 1.0
    camera = view.renderer.GetActiveCamera()
    assert camera.GetPosition() == camera_before  # the gesture moved the handle, not the camera
    towards_camera = np.subtract(camera.GetPosition(), camera.GetFocalPoint())
    assert abs(np.dot(shift, towards_camera / np.linalg.norm(towards_camera))) < 0.05 * np.linalg.norm(shift)
    assert np.dot(shift, camera.GetViewUp()) > 0  # dragged up on screen
    window.session.history.undo()
    assert window.session.plan.trajectory(trajectory.id) == trajectory


def test_warnings_panel_lists_and_centres_on_a_warning(window, qtbot):
    session = window.session
    # the screw's numbers are illustrative: at least an info row
    path = session.new_trajectory((0.0, 31.0, 0.0), (0.0, -20.0, 0.0), TrajectoryKind.FREE, device_id="screw-cann-6.5-80")
    session.editor.add_trajectory(path)
    panel = window.warnings_panel
    unchecked = session.hazard_coverage().unchecked  # a "NOT CHECKED" row each, before the info rows
    assert panel.table.rowCount() == len(session.warnings(path.id)) + len(unchecked) > len(unchecked)
    row = next(index for index, (owner, _) in enumerate(panel.rows) if owner == path.id)
    assert panel.table.item(row, 1).text() == path.label
    assert [panel.table.item(i, 0).text() for i in range(row)] == ["NOT CHECKED"] * len(unchecked)
    window.viewer.set_cursor((5.0, 5.0, 5.0))
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton,
                     pos=panel.table.visualItemRect(panel.table.item(row, 5)).center())
    assert window.controller.selected_id == path.id
    expected = panel.rows[row][1].closest_lps if panel.rows[row][1].closest_lps is not None else path.target
    np.testing.assert_allclose(window.viewer.cursor_lps, expected, atol=1e-6)
