"""Every edit goes through one undo stack; a gesture is one step; a refused edit changes nothing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from osteoplan.core.planning.editing import PlanEditor
from osteoplan.core.planning.plan import ImageRef, Plan
from osteoplan.core.planning.trajectory import Spindle, Trajectory


def _editor() -> PlanEditor:
    return PlanEditor(Plan(ImageRef(path="ct.nii.gz")))


def _path(trajectory_id: str = "t1", y: float = 60.0) -> Trajectory:
    return Trajectory(id=trajectory_id, entry_lps=(20.0, y, 0.0), target_lps=(0.0, 0.0, 0.0), device="trocar-11g-100")


def test_each_kind_of_edit_undoes_and_redoes():
    editor = _editor()
    plan, history = editor.plan, editor.history
    editor.add_trajectory(_path())
    snapshots = [plan.trajectories]
    edits = [
        lambda: editor.move_entry("t1", (25.0, 60.0, 0.0)),
        lambda: editor.move_target("t1", (1.0, 1.0, 1.0)),
        lambda: editor.translate("t1", (0.0, 0.0, 5.0)),
        lambda: editor.set_device("t1", "trocar-13g-150"),
        lambda: editor.rename("t1", "L2 left"),
        lambda: editor.set_visible("t1", False),
        lambda: editor.add_spindle("t1", Spindle(id="s1", direction=(0, -1, 0), length_mm=30, device="kwire-2.0-150")),
        lambda: editor.update_spindle("t1", "s1", length_mm=40),
        lambda: editor.remove_spindle("t1", "s1"),
        lambda: editor.remove_trajectory("t1"),
    ]
    for edit in edits:
        edit()
        snapshots.append(plan.trajectories)
    assert all(a != b for a, b in zip(snapshots, snapshots[1:]))  # every edit changed something
    for expected in reversed(snapshots[:-1]):
        assert history.undo()
        assert plan.trajectories == expected
    for expected in snapshots[1:]:
        assert history.redo()
        assert plan.trajectories == expected
    assert not history.can_redo


def test_a_drag_of_many_moves_is_one_step():
    editor = _editor()
    editor.add_trajectory(_path())
    changes = []
    editor.plan.trajectory_changed.connect(changes.append)
    with editor.history.group("Move target"):
        for step in range(200):
            editor.move_target("t1", (0.0, 0.1 * step, 0.0))
    assert len(changes) == 199  # the views saw every move...
    assert editor.history.undo_label == "Move target"
    editor.history.undo()  # ...and one undo takes the whole drag back
    assert editor.plan.trajectory("t1").target_lps == (0.0, 0.0, 0.0)
    assert editor.history.undo_label == "Add path"


def test_a_refused_edit_changes_nothing_and_records_nothing():
    editor = _editor()
    editor.add_trajectory(_path())
    with pytest.raises(ValidationError):
        editor.move_target("t1", (20.0, 60.0, 0.0))  # onto the entry
    with pytest.raises(ValidationError):
        editor.move_entry("t1", (float("nan"), 0.0, 0.0))
    assert editor.plan.trajectory("t1") == _path()
    assert editor.history.undo_label == "Add path"


def test_an_edit_after_undo_drops_the_redo_branch():
    editor = _editor()
    editor.add_trajectory(_path())
    editor.rename("t1", "first")
    editor.history.undo()
    editor.rename("t1", "second")
    assert not editor.history.can_redo
    assert editor.plan.trajectory("t1").name == "second"


def test_removing_restores_the_position_in_the_list():
    editor = _editor()
    for number in (1, 2, 3):
        editor.add_trajectory(_path(f"t{number}", y=50.0 + number))
    editor.remove_trajectory("t2")
    editor.history.undo()
    assert [t.id for t in editor.plan.trajectories] == ["t1", "t2", "t3"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["rename", "move", "undo", "redo", "add", "remove"]), max_size=25))
def test_any_sequence_of_edits_and_undos_can_be_fully_undone(operations):
    editor = _editor()
    editor.add_trajectory(_path())
    start = editor.plan.trajectories
    base_depth = 1
    for index, operation in enumerate(operations):
        ids = [t.id for t in editor.plan.trajectories]
        if operation == "undo":
            if len(editor.history._undo) > base_depth:
                editor.history.undo()
        elif operation == "redo":
            editor.history.redo()
        elif operation == "add":
            editor.add_trajectory(_path(editor.plan.new_id(), y=40.0 + index))
        elif ids and operation == "remove":
            editor.remove_trajectory(ids[-1])
        elif ids and operation == "rename":
            editor.rename(ids[0], f"name {index}")
        elif ids and operation == "move":
            editor.move_target(ids[0], (0.0, 0.0, float(index + 1)))
    while len(editor.history._undo) > base_depth:
        editor.history.undo()
    assert editor.plan.trajectories == start
