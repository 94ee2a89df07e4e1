"""Ablations in the GUI: a probe's path gets a zone drawn in the views, a thermocouple reads a peak."""

from __future__ import annotations

import numpy as np
import pytest

from osteoplan.core.planning.trajectory import TrajectoryKind

pytestmark = pytest.mark.gui


def _probe_on_the_lesion(window, device_id: str = "rf-bipolar-bone-10"):
    """A path ending in the synthetic lesion with an ablation probe, selected; its ablation added."""
    session = window.session
    lesion = window.case.ct.index_to_lps((24, 40, 20))
    path = session.new_trajectory(lesion + [0, 25, 0], lesion, TrajectoryKind.FREE, device_id=device_id)
    session.editor.add_trajectory(path)
    window.controller.select(path.id)
    window.ablation_panel.add_to_selected_path()
    return path


def test_an_rf_ablation_on_a_probe_path_is_drawn_and_summarised(window, qtbot):
    session = window.session
    lesion = window.case.ct.index_to_lps((24, 40, 20))
    path = session.new_trajectory(lesion + [0, 25, 0], lesion, TrajectoryKind.FREE, device_id="trocar-11g-150")
    session.editor.add_trajectory(path)
    window.controller.select(path.id)
    panel = window.ablation_panel
    panel.add_to_selected_path()  # a trocar is not a probe: refused with a message, nothing added
    assert not session.plan.ablations
    assert "not an ablation probe" in window.statusBar().currentMessage()

    session.editor.set_device(path.id, "rf-bipolar-bone-10")
    window.viewer.set_cursor(lesion)
    axial = window.views["axial"]
    before = axial.pixels()
    panel.add_to_selected_path()
    (ablation,) = session.plan.ablations
    assert panel.table.rowCount() == 1 and panel.table.item(0, 1).text() == path.id
    assert "mL" in panel.table.item(0, 4).text()
    assert panel.table.item(0, 5).text().endswith("%")  # the lesion label is covered in part
    assert not np.array_equal(before, axial.pixels()), "the zone is not drawn in the axial view"

    window.viewer.set_cursor(lesion + [0, 0, 4])
    panel.add_thermocouple_at_cursor()
    (thermocouple,) = session.plan.thermocouples
    assert f"thermocouple {thermocouple.id}: peak" in panel.details.text()
    summary = panel.summary(ablation.id)
    assert summary["thermocouples"][0]["peak_c"] > 45  # 4 mm from the tip: inside the heated zone

    session.history.undo()
    session.history.undo()
    assert not session.plan.ablations and panel.table.rowCount() == 0


def test_refine_runs_in_the_background_and_replaces_the_table_model(window, qtbot):
    session = window.session
    _probe_on_the_lesion(window)
    panel = window.ablation_panel
    (ablation,) = session.plan.ablations
    assert panel.summary(ablation.id)["model"] == "table"
    assert panel.refined_zone(ablation.id) is None
    panel.refine_selected()
    qtbot.waitUntil(lambda: ablation.id in panel.refined, timeout=120000)
    refined = panel.summary(ablation.id)
    assert refined["model"] == "bioheat" and refined["lethal_zone"]["volume_ml"] > 0
    assert "bioheat" in panel.table.item(0, 7).text()
    assert window.controller.ablation_zones()[ablation.id][0] is panel.refined_zone(ablation.id)  # drawn
    session.editor.update_ablation(ablation.id, "Move zone along probe", offset_mm=3.0)  # a change: table model again
    assert panel.summary(ablation.id)["model"] == "table"
    assert panel.refined_zone(ablation.id) is None
    assert window.controller.ablation_zones()[ablation.id][0] is session.ablation_zone(ablation.id)
    assert panel.refined_zone(ablation.id) is None


def test_a_cancelled_refine_changes_nothing(window, qtbot):
    _probe_on_the_lesion(window)
    panel = window.ablation_panel
    task = panel.refine_selected()
    panel.cancel_refine.set()
    qtbot.waitUntil(lambda: task not in window._tasks, timeout=120000)
    assert not panel.refined
    assert window.last_message is None  # a cancel is not an error
