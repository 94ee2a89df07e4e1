"""Ablations in the GUI: a probe's path gets a zone drawn in the views, a thermocouple reads a peak."""

from __future__ import annotations

import numpy as np
import pytest

from osteoplan.core.trajectory import TrajectoryKind

pytestmark = pytest.mark.gui


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
    assert "mL" in panel.table.item(0, 3).text()
    assert panel.table.item(0, 4).text().endswith("%")  # the lesion label is covered in part
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
