"""Plan > Propose paths…: search in the background, ranked table, preview and risk map, accept in one undo step."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def _run(window, qtbot, target: str, technique: str):
    panel = window.proposals_panel
    panel.open_panel()
    assert window.proposals_dock.isVisible()
    panel.set_inputs(target, technique)
    panel.propose()
    qtbot.waitUntil(lambda: not panel.running, timeout=60000)
    return panel


def test_the_menu_opens_the_panel_with_the_lesion_labels(window):
    plan_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Plan")
    action = next(a for a in plan_menu.actions() if a.text() == "&Propose paths…")
    action.trigger()
    panel = window.proposals_panel
    assert window.proposals_dock.isVisible()
    targets = [panel.target_combo.itemText(i) for i in range(panel.target_combo.count())]
    assert targets == ["Cursor", "lesion"]
    assert [panel.technique_combo.itemData(i) for i in range(panel.technique_combo.count())] == [
        "transpedicular", "parapedicular", "transcortical"]


def test_proposals_are_listed_previewed_and_accepted_in_one_undo_step(window, qtbot):
    session = window.session
    panel = _run(window, qtbot, "lesion", "transcortical")
    result = panel.result
    assert result is not None and result.candidates, panel.details.text()
    assert panel.table.rowCount() == len(result.candidates) + len(result.pairs)
    assert panel.table.item(0, 0).text().startswith("1. ")
    assert panel.table.item(0, 1).text() == f"{result.candidates[0].score:.2f}"
    assert "directions searched" in panel.details.text() or "score" in panel.details.text()

    # the risk map is drawn in 3-D while the panel is open, and the best path previewed in the views
    assert panel.risk_layer.visible and panel.risk_layer.count == len(result.risk_map.entries_lps) > 0
    assert len(panel.preview) == 1
    assert np.allclose(window.viewer.cursor_lps, result.candidates[0].target_lps)
    axial = window.views["axial"]
    axial.render()
    with_preview = axial.pixels()
    panel.set_preview([])
    axial.render()
    assert not np.array_equal(with_preview, axial.pixels()), "the preview is not drawn in the axial view"
    panel.table.selectRow(0)

    added = panel.accept_selected()
    assert [t.id for t in session.plan.trajectories] == [added[0].id]
    assert added[0].entry_lps == pytest.approx(result.candidates[0].entry_lps)
    assert added[0].kind.value == "transcortical" and "(proposed)" in added[0].name
    assert window.controller.selected_id == added[0].id
    session.history.undo()
    assert session.plan.trajectories == ()

    window.proposals_dock.close()  # closing the panel removes the risk map and the preview
    assert not panel.risk_layer.visible and panel.preview == []
    panel.open_panel()
    assert panel.risk_layer.visible
    panel.clear()
    assert panel.result is None and not panel.risk_layer.visible and panel.table.rowCount() == 0


def test_a_target_outside_the_image_is_explained_not_searched(window, qtbot):
    panel = window.proposals_panel
    panel.open_panel()
    panel.set_inputs("Cursor", "transcortical")
    window.viewer.set_cursor(np.array([500.0, 0.0, 0.0]))
    panel.propose()
    assert not panel.running and panel.result is None
    assert "outside the image" in panel.details.text()


def test_the_legend_names_the_pedicle_only_for_a_technique_through_it(window):
    panel = window.proposals_panel
    panel.set_inputs("lesion", "transpedicular")
    assert "misses the pedicle" in panel.legend.text()
    panel.set_inputs("lesion", "transcortical")
    assert "misses the pedicle" not in panel.legend.text() and "stop structure" in panel.legend.text()
