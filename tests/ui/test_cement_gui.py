"""Cement in the GUI: an injection through a trocar fills the lesion first, the preview slider
re-queries the spread instantly, the panel lists the gateways."""

from __future__ import annotations

import numpy as np
import pytest

from osteoplan.core.planning.trajectory import TrajectoryKind
from osteoplan.ui.cement_panel import COLUMNS

pytestmark = pytest.mark.gui


def test_an_injection_is_drawn_and_the_preview_slider_grows_it(window, qtbot):
    session = window.session
    lesion = window.case.ct.index_to_lps((24, 40, 20))
    path = session.new_trajectory(lesion + [0, 25, 0], lesion, TrajectoryKind.FREE, device_id="trocar-11g-150")
    session.editor.add_trajectory(path)
    window.controller.select(path.id)
    window.viewer.set_cursor(lesion)
    axial = window.views["axial"]
    before = axial.pixels()
    panel = window.cement_panel
    panel.add_to_selected_trocar()
    (injection,) = session.plan.injections
    assert panel.table.rowCount() == 1 and panel.table.item(0, COLUMNS.index("Filled")).text().endswith("mL")
    assert not np.array_equal(before, axial.pixels()), "the cement is not drawn"
    shapes = window.controller.cement_shapes()
    full = int(shapes[f"cement:{injection.id}"][0].mask.sum())
    panel.preview.setValue(panel.preview.minimum())  # the smallest volume
    small = int(window.controller.cement_shapes()[f"cement:{injection.id}"][0].mask.sum())
    assert 0 < small < full
    assert session.plan.injection(injection.id).volume_ml == pytest.approx(4.0)  # preview does not edit
    assert injection.id in panel.timeline.text()
    session.history.undo()
    assert not session.plan.injections and not window.controller.cement_shapes()


def test_dragging_a_trocar_resolves_the_cement_once_at_the_end(window, qtbot, monkeypatch):
    from PySide6.QtCore import QPoint, Qt

    import osteoplan.core.cement.simulation as cement_session

    session = window.session
    lesion = window.case.ct.index_to_lps((24, 40, 20))
    path = session.new_trajectory(lesion + [0, 25, 0], lesion, TrajectoryKind.FREE, device_id="trocar-11g-150")
    session.editor.add_trajectory(path)
    window.controller.select(path.id)
    window.viewer.set_cursor(lesion)
    window.cement_panel.add_to_selected_trocar()
    solves = []
    real_solver = cement_session.arrival_times
    monkeypatch.setattr(cement_session, "arrival_times", lambda *a, **k: solves.append(1) or real_solver(*a, **k))
    axial = window.views["axial"]
    axial.render()
    x, y = axial.display_of_world(path.target)
    start = QPoint(round(x), round(axial.height() - 1 - y))
    qtbot.mousePress(axial, Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 6):
        qtbot.mouseMove(axial, start + QPoint(step, 0))
    during = len(solves)
    qtbot.mouseRelease(axial, Qt.MouseButton.LeftButton, pos=start + QPoint(5, 0))
    assert session.plan.trajectory(path.id).target_lps != path.target_lps
    assert during == 0  # no new spread computed while the handle moved
    assert len(solves) >= 1  # the spread follows the final position


def test_portions_set_the_steps_and_follow_volume_changes(window, qtbot):
    session = window.session
    lesion = window.case.ct.index_to_lps((24, 40, 20))
    path = session.new_trajectory(lesion + [0, 25, 0], lesion, TrajectoryKind.FREE, device_id="trocar-11g-150")
    session.editor.add_trajectory(path)
    window.controller.select(path.id)
    panel = window.cement_panel
    panel.add_to_selected_trocar()
    (injection,) = session.plan.injections
    portions = panel.table.cellWidget(0, COLUMNS.index("Portions"))
    assert portions.value() == 0 and portions.text() == "all at once"
    portions.setValue(1.0)
    assert session.plan.injection(injection.id).steps_ml == (1.0, 1.0, 1.0, 1.0)
    assert "4 portions" in panel.timeline.text()
    assert panel.table.item(0, COLUMNS.index("Filled")).text() == "4.00 mL"  # the portions add up
    panel.table.cellWidget(0, COLUMNS.index("Volume")).setValue(2.5)
    assert session.plan.injection(injection.id).steps_ml == (1.0, 1.0, 0.5)
    assert panel.table.cellWidget(0, COLUMNS.index("Portions")).value() == 1.0
    session.history.undo()
    assert session.plan.injection(injection.id).steps_ml == (1.0, 1.0, 1.0, 1.0)
    panel.table.cellWidget(0, COLUMNS.index("Portions")).setValue(0.0)
    assert session.plan.injection(injection.id).steps_ml == ()
