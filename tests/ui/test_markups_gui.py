"""File > Import markups / Export markups: paths in as one undo step, landmarks the cursor jumps to."""

from __future__ import annotations

import json

import numpy as np
import pytest

from osteoplan.core.files.slicer_markups import MARKUPS_SCHEMA, export_markups
from osteoplan.core.planning.plan import ImageRef, Plan
from osteoplan.core.planning.trajectory import Trajectory, TrajectoryKind
from osteoplan.ui.markups_actions import export_markups_to, export_segmentation_to, import_markups_files

pytestmark = pytest.mark.gui


def _file_menu_texts(window) -> list[str]:
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    return [a.text().replace("&", "") for a in menu.actions()]


def test_import_adds_the_path_and_undo_removes_it(window, tmp_path):
    assert "Import markups (3D Slicer)…" in _file_menu_texts(window)
    assert "Export markups (3D Slicer)…" in _file_menu_texts(window)
    source = Trajectory(id="t1", name="from Slicer", kind=TrajectoryKind.TRANSPEDICULAR, entry_lps=(20.0, 25.0, 0.0),
                        target_lps=(-10.0, -5.0, 2.0), device="trocar-13g-100")
    (path,) = export_markups(Plan(ImageRef(path="x"), trajectories=[source]), tmp_path, window.session.catalog)
    plan = window.session.plan
    imported = import_markups_files(window, [str(path)])
    assert plan.trajectories == (source,)
    assert window.controller.selected_id == "t1"
    assert window.paths_panel.table.rowCount() == 1
    assert window.session.history.undo_label == "Import markups"
    window.session.history.undo()
    assert not plan.trajectories and window.paths_panel.table.rowCount() == 0
    window.session.history.redo()
    assert plan.trajectories == tuple(imported.trajectories)


def test_point_list_gives_landmarks_the_cursor_jumps_to(window, tmp_path):
    points = [[-12.5, 3.0, 4.0], [10.0, -8.0, -6.0], [0.0, 0.0, 10.0]]
    path = tmp_path / "F.mrk.json"
    path.write_text(json.dumps({"@schema": MARKUPS_SCHEMA, "markups": [{"type": "Fiducial", "coordinateSystem": "RAS",
                    "controlPoints": [{"label": f"F-{n}", "position": p} for n, p in enumerate(points, 1)]}]}))
    imported = import_markups_files(window, [str(path)])
    assert not imported.trajectories and not window.session.plan.trajectories
    dialog = window.landmarks_dialog
    assert dialog.isVisible() and dialog.list.count() == 3
    assert np.allclose(window.viewer.cursor_lps, (12.5, -3.0, 4.0))  # RAS -> LPS, first point
    dialog.list.setCurrentRow(1)  # a click or an arrow key
    assert np.allclose(window.viewer.cursor_lps, (-10.0, 8.0, -6.0))
    dialog.close()


def test_a_bad_file_changes_nothing_and_says_why(window, tmp_path):
    path = tmp_path / "bad.mrk.json"
    path.write_text("{not json")
    assert import_markups_files(window, [str(path)]) is None
    assert not window.session.plan.trajectories and not window.session.history.can_undo
    title, text = window.last_message
    assert "bad.mrk.json" in text and "invalid JSON" in text


def test_export_markups_and_segmentation(window, tmp_path):
    session = window.session
    session.editor.add_trajectory(session.new_trajectory((20.0, 25.0, 0.0), (-10.0, -5.0, 0.0)))
    (written,) = export_markups_to(window, tmp_path / "markups")
    assert written.name.endswith(".mrk.json") and json.loads(written.read_text())["markups"][0]["type"] == "Line"
    seg, table = export_segmentation_to(window, tmp_path / "case.seg.nrrd")
    assert seg.is_file() and "lesion" in table.read_text()
