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
