import numpy as np
import pytest

from osteoplan.core.display.view_geometry import (
    SliceOrientation,
    display_to_world,
    move_point_onto_plane,
    orientation_label,
    slice_step_mm,
    view_frame,
)


@pytest.mark.parametrize(
    "orientation, letters",
    [
        # Radiological convention: the patient's left on the screen's right in axial and coronal views.
        (SliceOrientation.AXIAL, {"left": "R", "right": "L", "top": "A", "bottom": "P"}),
        (SliceOrientation.CORONAL, {"left": "R", "right": "L", "top": "S", "bottom": "I"}),
        (SliceOrientation.SAGITTAL, {"left": "A", "right": "P", "top": "S", "bottom": "I"}),
    ],
)
def test_edge_letters_follow_radiological_convention(orientation, letters):
    assert view_frame(orientation).edge_letters() == letters


def test_frames_are_right_handed_and_orthonormal():
    for orientation in SliceOrientation:
        frame = view_frame(orientation)
        # right, up, towards-the-eye form a right-handed camera frame
        basis = np.stack([frame.screen_right, frame.view_up, -frame.view_direction])
        np.testing.assert_allclose(basis @ basis.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(basis) == pytest.approx(1.0)


def test_orientation_label_of_oblique_direction():
    assert orientation_label([0.2, -0.9, 0.1]) == "AL"
    assert orientation_label([0.0, 0.0, -1.0]) == "I"


def test_display_to_world_maps_centre_and_edges():
    frame = view_frame(SliceOrientation.AXIAL)
    focal = np.array([10.0, 20.0, 30.0])
    # 100 x 200 pixels, parallel scale 50 mm: 0.5 mm per pixel, centre between pixels 49 and 50
    np.testing.assert_allclose(display_to_world((49.5, 99.5), (100, 200), focal, frame, 50.0), focal)
    right = display_to_world((59.5, 99.5), (100, 200), focal, frame, 50.0)
    np.testing.assert_allclose(right - focal, [5.0, 0.0, 0.0])  # screen right is the patient's left (+x)
    up = display_to_world((49.5, 109.5), (100, 200), focal, frame, 50.0)
    np.testing.assert_allclose(up - focal, [0.0, -5.0, 0.0])  # screen up is anterior (-y)


def test_slice_step_uses_spacing_of_the_most_aligned_axis():
    assert slice_step_mm((0.8, 0.8, 2.5), np.eye(3), [0, 0, 1]) == 2.5
    swapped = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float)  # image k axis along LPS x
    assert slice_step_mm((0.8, 0.9, 2.5), swapped, [1, 0, 0]) == 2.5


def test_move_point_onto_plane():
    moved = move_point_onto_plane([1.0, 2.0, 3.0], [0.0, 0.0, 10.0], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(moved, [1.0, 2.0, 10.0])


def test_segment_clipping_against_a_slab_and_crossing():
    from osteoplan.core.display.view_geometry import segment_part_near_plane, segment_plane_crossing

    start, end = np.array([0.0, 0.0, -10.0]), np.array([0.0, 20.0, 10.0])
    part = segment_part_near_plane(start, end, [0, 0, 0], [0, 0, 1], 2.0)
    np.testing.assert_allclose(part[0], [0, 8, -2])
    np.testing.assert_allclose(part[1], [0, 12, 2])
    np.testing.assert_allclose(segment_plane_crossing(start, end, [0, 0, 0], [0, 0, 1]), [0, 10, 0])
    assert segment_plane_crossing(start, end, [0, 0, 50], [0, 0, 1]) is None
    assert segment_part_near_plane(start, end, [0, 0, 50], [0, 0, 1], 2.0) is None
    # a segment lying in the slab is kept whole
    flat = segment_part_near_plane([0, 0, 1], [5, 0, 1], [0, 0, 0], [0, 0, 1], 2.0)
    np.testing.assert_allclose(flat[1], [5, 0, 1])


def test_oblique_frame_is_orthonormal():
    from osteoplan.core.display.view_geometry import frame_from_vectors

    frame = frame_from_vectors([0.3, -0.9, 0.2], [0, 0, 1])
    basis = np.stack([frame.screen_right, frame.view_up, -frame.view_direction])
    np.testing.assert_allclose(basis @ basis.T, np.eye(3), atol=1e-12)
