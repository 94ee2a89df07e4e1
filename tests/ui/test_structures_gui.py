"""Editing critical structures in the GUI: brush strokes, undo, thresholds, visibility."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

pytestmark = pytest.mark.gui


def _select(panel, name: str) -> None:
    panel.table.selectRow(panel._names.index(name))


def test_a_brush_stroke_grows_the_structure_in_one_undo_step(window, qtbot):
    session = window.session
    panel = window.structures_panel
    before = session.structures["lesion"].voxel_count
    _select(panel, "lesion")
    panel.size.setValue(2.0)
    panel.brush_button.setChecked(True)
    axial = window.views["axial"]
    window.viewer.set_cursor(window.case.ct.index_to_lps((24, 40, 20)))  # the lesion's slice
    axial.render()
    start = QPoint(axial.width() // 3, axial.height() // 3)
    qtbot.mousePress(axial, Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 8):
        qtbot.mouseMove(axial, start + QPoint(4 * step, 0))
    qtbot.mouseRelease(axial, Qt.MouseButton.LeftButton, pos=start + QPoint(28, 0))
    after = session.structures["lesion"].voxel_count
    assert after > before + 10
    assert window.viewer.cursor_lps[2] == pytest.approx(window.case.ct.index_to_lps((24, 40, 20))[2])  # no cursor move
    # painted in the view's plane only: every new voxel lies on the current axial slice
    grown = session.structures["lesion"].mask & ~window.case.labels.volume.array.astype(bool)
    assert set(np.nonzero(grown)[0]) == {20}
    assert session.history.undo_label == "Paint"
    session.history.undo()
    assert session.structures["lesion"].voxel_count == before
    qtbot.waitUntil(lambda: panel.table.rowCount() == len(session.structures), timeout=2000)


def test_threshold_override_changes_what_is_in_force_and_undoes(window, qtbot):
    session = window.session
    panel = window.structures_panel
    row = panel._names.index("lesion")
    panel.table.item(row, 4).setText("7.5")
    assert session.structures["lesion"].warn_mm == 7.5
    qtbot.waitUntil(lambda: "7.5" in panel.table.item(panel._names.index("lesion"), 6).text(), timeout=2000)
    assert panel.table.item(panel._names.index("lesion"), 6).toolTip() == "override"
    session.history.undo()
    assert session.structures["lesion"].warn_mm is None


def test_hiding_a_structure_removes_it_from_the_slice_views(window, qtbot):
    session = window.session
    panel = window.structures_panel
    window.viewer.set_cursor(window.case.ct.index_to_lps((24, 40, 20)))
    axial = window.views["axial"]
    shown = axial.pixels()
    panel.table.item(panel._names.index("lesion"), 0).setCheckState(Qt.CheckState.Unchecked)
    assert session.structures["lesion"].visible is False
    window.show_structures()
    assert not np.array_equal(shown, axial.pixels())


def test_this_vertebra_is_l1_renames_the_automatic_vertebrae_in_one_action(window, qtbot):
    from osteoplan.core.imaging.automatic import with_automatic_anatomy
    from osteoplan.core.imaging.case import Case
    from osteoplan.core.imaging.io import load_image
    from tests.conftest import shared_data_path

    ct = load_image(shared_data_path("ct_abdomen_3mm_labels", "ct.nii.gz")).volume
    window.set_case(with_automatic_anatomy(Case(ct=ct, source="crop")))
    panel = window.structures_panel
    _select(panel, "vertebrae_unknown2")
    panel.set_level_of_selected("L1")
    names = set(window.session.case.labels.names.values())
    assert {"vertebrae_L2", "vertebrae_L1"} <= names and "vertebrae_unknown2" not in names
    assert "vertebrae_L1" in window.session.structures and window.session.plan.structures.level.level == "L1"
    assert window.plan_files.has_unsaved_changes
    qtbot.waitUntil(lambda: "vertebrae_L1" in panel._names, timeout=5000)
    # one undo step takes the correction back, redo applies it again; the paths stay on the plan
    window.session.history.undo()
    names = set(window.session.case.labels.names.values())
    assert "vertebrae_unknown2" in names and "vertebrae_L1" not in names
    assert window.session.plan.structures.level is None
    qtbot.waitUntil(lambda: "vertebrae_unknown2" in panel._names, timeout=5000)
    window.session.history.redo()
    assert "vertebrae_L1" in set(window.session.case.labels.names.values())
    assert window.session.plan.structures.level.level == "L1"


def test_structures_menu_runs_totalsegmentator_and_adds_its_named_structures(window, qtbot, tmp_path, monkeypatch):
    from osteoplan.ui import loading
    from tests.fixtures import fake_totalsegmentator

    monkeypatch.setenv("OSTEOPLAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no TotalSegmentator: the menu item says how to install it
    window.segment_with_totalsegmentator_dialog()
    assert window.last_message[0] == "TotalSegmentator is not installed"
    assert "pip install TotalSegmentator" in window.last_message[1]
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Structures")
    assert "Segment with &TotalSegmentator…" in [a.text() for a in menu.actions()]
    (tmp_path / "bin").mkdir()
    fake_totalsegmentator.install(tmp_path / "bin", monkeypatch)
    loading.segment_with_totalsegmentator(window, fast=True)
    qtbot.waitUntil(lambda: "esophagus" in window.session.structures, timeout=60000)
    assert window.session.structures["esophagus"].category == "visceral"
    assert window.session.plan.labels.path.startswith(str(tmp_path / "data" / "totalsegmentator"))
