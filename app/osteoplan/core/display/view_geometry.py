"""Radiological view conventions and the plane math the slice views use (Qt/VTK-free).

Slice views look along a patient axis in LPS (+x left, +y posterior, +z superior):
- axial: seen from the feet, patient left on screen right, anterior at the top;
- coronal: seen from the front, patient left on screen right, superior at the top;
- sagittal: seen from the patient's left, anterior on screen left, superior at the top.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np


class SliceOrientation(str, Enum):
    AXIAL = "axial"
    SAGITTAL = "sagittal"
    CORONAL = "coronal"


@dataclass(frozen=True)
class ViewFrame:
    """Orthonormal frame of a 2-D view: where the camera looks, what is up and right on screen."""

    view_direction: np.ndarray  # from the eye into the screen
    view_up: np.ndarray
    page_direction: np.ndarray  # where "next slice" (wheel forward, Up key) moves: S, A or L

    @property
    def screen_right(self) -> np.ndarray:
        return np.cross(self.view_direction, self.view_up)

    @property
    def normal(self) -> np.ndarray:
        """The slice plane's normal (the direction a slice step moves along)."""
        return self.view_direction

    def edge_letters(self) -> dict[str, str]:
        """Orientation letters for the left, right, top and bottom edges of the view."""
        right, up = self.screen_right, self.view_up
        return {
            "left": orientation_label(-right),
            "right": orientation_label(right),
            "top": orientation_label(up),
            "bottom": orientation_label(-up),
        }


_FRAMES = {
    SliceOrientation.AXIAL: ViewFrame(np.array([0.0, 0.0, 1.0]), np.array([0.0, -1.0, 0.0]), np.array([0.0, 0.0, 1.0])),
    SliceOrientation.CORONAL: ViewFrame(np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0]), np.array([0.0, -1.0, 0.0])),
    SliceOrientation.SAGITTAL: ViewFrame(np.array([-1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0])),
}


def view_frame(orientation: SliceOrientation) -> ViewFrame:
    return _FRAMES[SliceOrientation(orientation)]


_AXIS_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))  # (negative, positive) along LPS x, y, z


def orientation_label(direction, max_letters: int = 2, min_fraction: float = 0.2) -> str:
    """Patient-direction letters of an LPS vector, dominant axis first ("L", "AS", ...)."""
    v = np.asarray(direction, dtype=float)
    v = v / np.linalg.norm(v)
    order = np.argsort(-np.abs(v))
    letters = [_AXIS_LETTERS[a][int(v[a] > 0)] for a in order[:max_letters] if abs(v[a]) >= min_fraction]
    return "".join(letters)


def slice_step_mm(spacing, direction_matrix, normal) -> float:
    """Voxel size along `normal`: the spacing of the image axis most aligned with it."""
    alignment = np.abs(np.asarray(direction_matrix, dtype=float).T @ np.asarray(normal, dtype=float))
    return float(np.asarray(spacing, dtype=float)[int(np.argmax(alignment))])


def move_point_onto_plane(point, plane_point, normal) -> np.ndarray:
    """`point` shifted along `normal` so that it lies in the plane through `plane_point`."""
    point = np.asarray(point, dtype=float)
    normal = np.asarray(normal, dtype=float)
    return point + normal * float(np.dot(np.asarray(plane_point, dtype=float) - point, normal))


def display_to_world(display_xy, viewport_size, focal_point, frame: ViewFrame, parallel_scale: float) -> np.ndarray:
    """World point under a display pixel of a parallel-projection view centred on `focal_point`.

    `display_xy` has its origin at the bottom-left (VTK display coordinates); `parallel_scale`
    is half the viewport's height in mm.
    """
    width, height = viewport_size
    mm_per_pixel = 2.0 * parallel_scale / height
    dx = display_xy[0] - (width - 1) / 2.0
    dy = display_xy[1] - (height - 1) / 2.0
    return np.asarray(focal_point, dtype=float) + frame.screen_right * dx * mm_per_pixel + frame.view_up * dy * mm_per_pixel


def frame_from_vectors(view_direction, view_up) -> ViewFrame:
    """An orthonormal frame for an oblique view (e.g. along or across a needle).

    `view_up` is made perpendicular to `view_direction`; the page direction is the view direction.
    """
    direction = np.asarray(view_direction, dtype=float)
    direction = direction / np.linalg.norm(direction)
    up = np.asarray(view_up, dtype=float)
    up = up - direction * float(np.dot(up, direction))
    if np.linalg.norm(up) < 1e-9:
        raise ValueError("view_up must not be parallel to view_direction")
    up = up / np.linalg.norm(up)
    return ViewFrame(direction, up, direction)


def signed_distance_to_plane(points, plane_point, normal) -> np.ndarray:
    return (np.asarray(points, dtype=float) - np.asarray(plane_point, dtype=float)) @ np.asarray(normal, dtype=float)


def segment_plane_crossing(start, end, plane_point, normal) -> np.ndarray | None:
    """Where the segment crosses the plane, or None if both ends lie on the same side."""
    d0, d1 = signed_distance_to_plane([start, end], plane_point, normal)
    if d0 * d1 > 0 or d0 == d1:
        return None
    t = d0 / (d0 - d1)
    return np.asarray(start, dtype=float) + t * (np.asarray(end, dtype=float) - np.asarray(start, dtype=float))


def segment_part_near_plane(start, end, plane_point, normal, half_thickness_mm: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The part of a segment within `half_thickness_mm` of a plane (the slab a slice view shows solid)."""
    start = np.asarray(start, dtype=float)
    end = np.asarray(end, dtype=float)
    d0, d1 = signed_distance_to_plane([start, end], plane_point, normal)
    if abs(d1 - d0) < 1e-12:
        return (start, end) if abs(d0) <= half_thickness_mm else None
    t_a = (-half_thickness_mm - d0) / (d1 - d0)
    t_b = (half_thickness_mm - d0) / (d1 - d0)
    t_low, t_high = max(0.0, min(t_a, t_b)), min(1.0, max(t_a, t_b))
    if t_low > t_high:
        return None
    return start + t_low * (end - start), start + t_high * (end - start)
