"""Warnings derived from readouts, and the needle state the views colour by."""

from __future__ import annotations

import numpy as np
import pytest

from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.io import LabelMap
from osteoplan.core.imaging.phantom import build_phantom
from osteoplan.core.safety.warnings import Severity, worst
from osteoplan.core.session import NeedleState, PlanSession, needle_state
from osteoplan.core.planning.trajectory import Spindle, TrajectoryKind


@pytest.fixture(scope="module")
def spine_case() -> Case:
    phantom = build_phantom("spine", spacing_mm=1.6)
    return Case(ct=phantom.ct, labels=LabelMap(volume=phantom.labels, names=dict(phantom.label_names)),
                source="demo:spine", focus_lps=np.asarray(phantom.landmarks["lesion_center"]))


def test_a_device_too_short_warns_even_when_the_entry_is_inside_the_body(spine_case):
    session = PlanSession(spine_case)
    # entry 45 mm behind the lesion, inside the body outline: the skin is ~86 mm behind the target
    target = np.asarray(spine_case.focus_lps)
    path = session.new_trajectory(target + [0, 45, 0], target, TrajectoryKind.FREE, device_id="screw-cann-6.5-80")
    session.editor.add_trajectory(path)
    readout = session.readout(path.id)
    assert readout.skin_depth_mm is None and readout.skin_to_target_mm > 80
    assert readout.device_long_enough is False
    warnings = session.warnings(path.id)
    too_short = [w for w in warnings if "too short" in w.message]
    assert len(too_short) == 1 and too_short[0].severity is Severity.WARN
    assert too_short[0].threshold_mm == 80
    # the too-short warning alone is a caution; this straight posterior path also crosses the
    # canal, a stop from the structure warnings (issue 4)
    assert needle_state(worst(too_short)) is NeedleState.CAUTION
    assert session.state(path.id) is NeedleState.PROBLEM


def test_an_unanchored_spindle_warns_and_an_anchored_one_does_not(spine_case):
    session = PlanSession(spine_case)
    target = np.asarray(spine_case.focus_lps)
    path = session.new_trajectory(target + [0, 45, 0], target, TrajectoryKind.FREE, device_id="trocar-11g-150")
    session.editor.add_trajectory(path)
    short_pin = Spindle(id="s1", direction=(0, -1, 0), length_mm=3.0, device="kwire-2.0-150")  # ends in the lesion
    session.editor.add_spindle(path.id, short_pin)
    messages = [w.message for w in session.warnings(path.id) if w.object == "s1"]
    assert messages and "not anchored" in messages[0]
    session.editor.update_spindle(path.id, "s1", length_mm=22.0)  # through the lesion into the anterior body
    assert session.readout(path.id).spindles[0].anchored
    assert not [w for w in session.warnings(path.id) if w.object == "s1" and w.severity is not Severity.INFO]
