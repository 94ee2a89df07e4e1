"""Needle views of the selected path: an in-plane view containing the needle (rotatable about
it) and a probe's-eye view across it at the depth of the "advance" slider, which also moves a
virtual tip along the path so the user rehearses the insertion (depth and tissue at the tip)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QSlider, QVBoxLayout, QWidget

from osteoplan.core.display.view_geometry import frame_from_vectors
from osteoplan.core.display.viewer import ViewerState
from osteoplan.core.planning.trajectory import Trajectory
from osteoplan.ui.reslice_view import ResliceView

IN_PLANE_MARGIN = 1.25  # the in-plane view shows the needle and a quarter of its length around it
PROBE_EYE_HALF_HEIGHT_MM = 30.0


SUPERIOR = np.array([0.0, 0.0, 1.0])
ANTERIOR = np.array([0.0, -1.0, 0.0])


def _across(axis: np.ndarray, hints=(SUPERIOR, ANTERIOR)) -> np.ndarray:
    """A unit vector across the needle, as close to the first usable hint as possible."""
    for hint in hints:
        across = hint - axis * float(np.dot(hint, axis))
        if np.linalg.norm(across) > 0.3:
            return across / np.linalg.norm(across)
    return np.cross(axis, [1.0, 0.0, 0.0]) / np.linalg.norm(np.cross(axis, [1.0, 0.0, 0.0]))


def _up_in_view(view_direction: np.ndarray) -> np.ndarray:
    """Screen-up as close to anterior (or, failing that, superior) as the view allows."""
    return _across(view_direction, (ANTERIOR, SUPERIOR))


def in_plane_frame(trajectory: Trajectory, rotation_deg: float):
    """A plane containing the needle. At 0° it is the one closest to axial, seen from the feet with
    anterior up (like the axial view); `rotation_deg` turns it about the needle (90°: sagittal-like)."""
    axis = trajectory.axis
    first = _across(axis)  # plane normal at 0°: as close to superior as possible
    second = np.cross(axis, first)
    angle = np.radians(rotation_deg)
    view_direction = np.cos(angle) * first + np.sin(angle) * second
    return frame_from_vectors(view_direction, _up_in_view(view_direction))


def probe_eye_frame(trajectory: Trajectory):
    """Looking down the needle from the entry, anterior (or superior) up."""
    return frame_from_vectors(trajectory.axis, _up_in_view(trajectory.axis))


class NeedleView(ResliceView):
    def __init__(self, kind: str, viewer: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(frame_from_vectors([0, 0, 1], [0, -1, 0]), viewer, parent)
        self.kind = kind  # "in_plane" | "probe_eye"
        self.setObjectName(f"needle_{kind}_view")
        self._corners.set_text("top_left", "Needle — in plane" if kind == "in_plane" else "Probe's eye",
                               (0.55, 0.80, 1.0))
        self.setMinimumSize(160, 100)

    def show_trajectory(self, trajectory: Trajectory | None, rotation_deg: float, depth_mm: float) -> None:
        for layer in (self._ct_layer, self._label_layer):
            if layer is not None:
                layer.prop.SetVisibility(trajectory is not None)
        if trajectory is None or self.case is None:
            self._corners.set_text("bottom_left", "no path selected")
            self.render()
            return
        if self.kind == "in_plane":
            center = (trajectory.entry + trajectory.target) / 2
            self.look_at(center, in_plane_frame(trajectory, rotation_deg),
                         half_height_mm=IN_PLANE_MARGIN * trajectory.length_mm / 2)
            self._corners.set_text("bottom_left", f"rotation {rotation_deg:.0f}°")
        else:
            self.look_at(trajectory.point_at(depth_mm), probe_eye_frame(trajectory),
                         half_height_mm=PROBE_EYE_HALF_HEIGHT_MM)
            self._corners.set_text("bottom_left", f"depth {depth_mm:.1f} mm")
        self.render()


class NeedleViewsPanel(QWidget):
    """The two needle views with the advance and rotation sliders and the tip readout."""

    advance_changed = Signal(object)  # LPS of the virtual tip, or None

    def __init__(self, viewer: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.trajectory: Trajectory | None = None
        self.in_plane = NeedleView("in_plane", viewer)
        self.probe_eye = NeedleView("probe_eye", viewer)
        self.advance = QSlider(Qt.Orientation.Horizontal)
        self.advance.setRange(0, 1000)
        self.advance.setToolTip("Advance the needle: moves a virtual tip along the path and the probe's-eye plane with it")
        self.rotation = QSlider(Qt.Orientation.Horizontal)
        self.rotation.setRange(0, 180)
        self.rotation.setToolTip("Turn the in-plane view about the needle")
        self.tip_readout = QLabel("Select a path to see it along its needle.")
        self.tip_readout.setObjectName("tip_readout")
        self.tip_readout.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.in_plane, 3)
        layout.addWidget(self.probe_eye, 2)
        grid = QGridLayout()
        grid.addWidget(QLabel("Advance"), 0, 0)
        grid.addWidget(self.advance, 0, 1)
        grid.addWidget(QLabel("Rotate"), 1, 0)
        grid.addWidget(self.rotation, 1, 1)
        layout.addLayout(grid)
        layout.addWidget(self.tip_readout)
        self.advance.valueChanged.connect(self.refresh)
        self.rotation.valueChanged.connect(self.refresh)
        self._tissue_at = None

    def set_case(self, case) -> None:
        for view in (self.in_plane, self.probe_eye):
            view.set_case(case)

    def set_tissue_lookup(self, tissue_at) -> None:
        """`tissue_at(lps) -> str` names what the virtual tip is in."""
        self._tissue_at = tissue_at

    @property
    def depth_mm(self) -> float:
        if self.trajectory is None:
            return 0.0
        return self.trajectory.length_mm * self.advance.value() / self.advance.maximum()

    def virtual_tip(self) -> np.ndarray | None:
        return None if self.trajectory is None else self.trajectory.point_at(self.depth_mm)

    def show_trajectory(self, trajectory: Trajectory | None) -> None:
        first_time = trajectory is not None and (self.trajectory is None or self.trajectory.id != trajectory.id)
        self.trajectory = trajectory
        if first_time:
            self.advance.blockSignals(True)
            self.advance.setValue(self.advance.maximum())  # fully inserted until the user pulls back
            self.advance.blockSignals(False)
        self.refresh()

    def refresh(self) -> None:
        trajectory = self.trajectory
        self.in_plane.show_trajectory(trajectory, self.rotation.value(), self.depth_mm)
        self.probe_eye.show_trajectory(trajectory, self.rotation.value(), self.depth_mm)
        if trajectory is None:
            self.tip_readout.setText("Select a path to see it along its needle.")
        else:
            tip = self.virtual_tip()
            tissue = self._tissue_at(tip) if self._tissue_at is not None else "?"
            self.tip_readout.setText(f"<b>{trajectory.label}</b>: tip at {self.depth_mm:.1f} of "
                                     f"{trajectory.length_mm:.1f} mm, in <b>{tissue}</b>")
        self.advance_changed.emit(self.virtual_tip())
