"""Dragging a needle towards the canal on the spine demo: green, then orange, then red, with the
distance line and the warnings list following (the issue's "done means")."""

from __future__ import annotations

import numpy as np
import pytest

from osteoplan.core.imaging.demo import load_demo_case
from osteoplan.core.imaging.phantom import landmarks
from osteoplan.core.session import NeedleState
from osteoplan.core.planning.trajectory import TrajectoryKind
from osteoplan.ui.style import NEEDLE_COLORS

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def spine_case():
    return load_demo_case("spine")


def test_a_needle_dragged_towards_the_canal_turns_orange_then_red(qtbot, spine_case):
    from osteoplan.ui.main_window import MainWindow

    window = MainWindow()
    window.plan_files.confirm_discard = lambda: True
    qtbot.addWidget(window)
    window.show()
    window.set_case(spine_case)
    session = window.session
    session.prepare()
    canal = np.asarray(landmarks("spine")["canal_center_L2"])
    # an antero-posterior needle beside the canal, moved medially 2 mm per step in one drag
    path = session.new_trajectory(canal + [25, 60, 0], canal + [25, -10, 0], TrajectoryKind.FREE,
                                  device_id="trocar-11g-150")
    session.editor.add_trajectory(path)
    window.controller.select(path.id)
    states, canal_distances = [], []
    with session.history.group("Move path"):
        for dx in range(25, 4, -2):
            session.editor.update(path.id, "Move path", entry_lps=tuple(canal + [dx, 60, 0]),
                                  target_lps=tuple(canal + [dx, -10, 0]))
            state = session.state(path.id)
            states.append(state)
            canal_distances.append(next(d.distance_mm for d in session.structure_distances(path.id)[path.id]
                                        if d.structure.name == "spinal_canal"))
            (graphic,) = [g for g in window.controller.needle_graphics() if g.id == path.id]
            assert graphic.rgb[:3] == pytest.approx(NEEDLE_COLORS[state]) or graphic.selected
            if state is not NeedleState.OK:
                # the distance line is drawn and labelled with the nearest structure's distance
                (line,) = [d for d in window.controller.distance_graphics() if "spinal_canal" in d.text]
                assert line.text.startswith(f"{canal_distances[-1]:.1f} mm")
    order = [NeedleState.OK, NeedleState.CAUTION, NeedleState.PROBLEM]
    assert [order.index(s) for s in states] == sorted(order.index(s) for s in states)  # never back to green
    assert set(states) == set(order)
    # the published thresholds: warn below 5 mm from a neural structure, stop when crossed
    for state, distance in zip(states, canal_distances):
        expected = NeedleState.OK if distance >= 5 else NeedleState.CAUTION if distance >= 0 else NeedleState.PROBLEM
        assert state is expected, (distance, state)
    assert min(canal_distances) < 0 and states[-1] is NeedleState.PROBLEM
    # the warnings list shows the stop for this needle, naming the canal
    rows = window.warnings_panel.rows
    assert rows[0][1].severity.value == "stop" and rows[0][1].structure in ("spinal_canal", "spinal_cord")
    # the whole drag is one undo step
    session.history.undo()
    assert session.plan.trajectory(path.id).entry_lps == path.entry_lps
    window.close()
