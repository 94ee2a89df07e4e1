"""Nothing lost: a GUI session killed with SIGKILL is offered for recovery, identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PySide6.QtWidgets import QMessageBox

pytestmark = pytest.mark.gui

# A real GUI process: femoral-neck plan with three spindles on the hip demo, then killed.
_CHILD = r"""
import json, os, signal, sys
import numpy as np
from osteoplan.ui.app import configure_rendering_environment, create_application
configure_rendering_environment(offscreen=True)
app = create_application()
from osteoplan.core.imaging.demo import load_demo_case
from osteoplan.core.files.plan_file import plan_to_dict
from osteoplan.core.imaging.phantom import landmarks
from osteoplan.core.planning.trajectory import Spindle
from osteoplan.ui.main_window import MainWindow
window = MainWindow()
window.show()
window.set_case(load_demo_case("hip"))
window.viewer.set_cursor(window.case.focus_lps)
window.controller.add_femoral_neck_at_cursor()
session = window.session
trocar = session.plan.trajectories[0]
head = np.asarray(landmarks("hip")["femoral_head_center"])
for number, offset in enumerate(([0, 0, 0], [0, 8, 8], [0, -8, 8]), start=1):
    direction = head + offset - trocar.target
    session.editor.add_spindle(trocar.id, Spindle(id=f"s{number}", direction=tuple(direction),
        length_mm=float(np.linalg.norm(direction)), device=session.default_spindle_device().id))
print(json.dumps(plan_to_dict(session.plan)), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_session_is_recovered_identical(qtbot, monkeypatch):
    child = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=240,
                           env=dict(os.environ))
    assert child.returncode == -9, child.stderr
    expected = json.loads(child.stdout.strip().splitlines()[-1])
    assert len(expected["trajectories"]) == 2 and len(expected["trajectories"][0]["spindles"]) == 3

    from osteoplan.core.files.plan_file import plan_to_dict
    from osteoplan.ui.main_window import MainWindow

    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: QMessageBox.StandardButton.Yes)
    window = MainWindow()
    window.plan_files.confirm_discard = lambda: True
    qtbot.addWidget(window)
    window.show()
    assert window.plan_files.offer_recovery()
    qtbot.waitUntil(lambda: window.session is not None and len(window.session.plan.trajectories) == 2, timeout=60000)
    assert plan_to_dict(window.session.plan) == expected
    assert window.plan_files.has_unsaved_changes  # recovered work still needs a Save
    assert window.case.source == "demo:hip"
    window.close()
