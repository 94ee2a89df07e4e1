"""Slice positions -> uniform grid: the pure geometry behind DICOM loading."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osteoplan.core.imaging.io.slice_stack import plan_stack, resample_stack

AXIAL = (1, 0, 0, 0, 1, 0)


def _positions(z, normal=(0, 0, 1), origin=(3.0, -4.0, 0.0)):
    return np.asarray(origin)[None, :] + np.outer(z, normal)


def test_uniform_stack_is_kept_as_read():
    plan = plan_stack(_positions(np.arange(6) * 1.25 + 10), AXIAL)
    assert plan.target_z is None and plan.warnings == () and plan.spacing_z == pytest.approx(1.25)
    assert plan.origin == pytest.approx((3.0, -4.0, 10.0))


def test_tiny_position_noise_is_not_non_uniform():
    z = np.arange(8) * 2.0 + np.array([0, 1e-3, -2e-3, 0, 3e-3, 0, -1e-3, 0])
    assert plan_stack(_positions(z), AXIAL).target_z is None


def test_duplicate_positions_are_dropped_with_a_warning():
    z = np.array([0.0, 2.0, 2.0, 4.0, 6.0])
    plan = plan_stack(_positions(z), AXIAL)
    assert "repeat the position" in plan.warnings[0]
    array = np.arange(5, dtype=np.int16)[:, None, None] * np.ones((1, 2, 2), np.int16)
    out = resample_stack(array, plan)
    np.testing.assert_array_equal(out[:, 0, 0], [0, 1, 3, 4])


def test_descending_input_is_refused():
    with pytest.raises(ValueError):
        plan_stack(_positions([4.0, 2.0, 0.0]), AXIAL)


def test_tilt_angle_is_measured():
    z = np.arange(5) * 2.0
    positions = np.stack([np.zeros(5), z * np.tan(np.radians(20)), z], axis=1)
    plan = plan_stack(positions, AXIAL)
    assert plan.tilt_deg == pytest.approx(20.0, abs=1e-6)
    assert "20.0 degrees" in plan.warnings[0]


@settings(max_examples=40, deadline=None)
@given(gaps=st.lists(st.sampled_from([1.0, 2.0, 2.0, 2.0, 3.0, 4.0, 6.0]), min_size=2, max_size=12),
       start=st.floats(-500, 500, allow_nan=False))
def test_linear_field_survives_resampling_and_slices_keep_their_place(gaps, start):
    z = start + np.concatenate([[0.0], np.cumsum(gaps)])
    oblique = (0.0, 1.0, 0.0, 0.8, 0.0, -0.6)  # row x column = (-0.6, 0, -0.8)
    plan = plan_stack(_positions(z, normal=(-0.6, 0.0, -0.8)), oblique)
    array = (np.asarray(z, dtype=np.float32) * 3.0)[:, None, None] * np.ones((1, 2, 3), np.float32)
    out = resample_stack(array, plan)
    target = plan.source_z if plan.target_z is None else plan.target_z
    offset = plan.source_z[0] - z[0]  # the origin's own distance along the normal
    np.testing.assert_allclose(out[:, 1, 2], 3.0 * (target - offset), rtol=1e-5, atol=1e-2)
    steps = (target - target[0]) / plan.spacing_z
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-6)  # a uniform grid
