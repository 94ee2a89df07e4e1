"""Colours and titles shared by the views (one place for the UI's look)."""

from __future__ import annotations

from osteoplan.core.display.view_geometry import SliceOrientation

# The slice colours radiologists know from 3D Slicer: axial red, sagittal yellow, coronal green.
VIEW_COLORS = {
    SliceOrientation.AXIAL: (0.95, 0.40, 0.40),
    SliceOrientation.SAGITTAL: (0.95, 0.85, 0.35),
    SliceOrientation.CORONAL: (0.45, 0.85, 0.45),
}
VIEW_TITLES = {
    SliceOrientation.AXIAL: "Axial",
    SliceOrientation.SAGITTAL: "Sagittal",
    SliceOrientation.CORONAL: "Coronal",
}
PANE_BACKGROUND = (0.0, 0.0, 0.0)
VOLUME_BACKGROUND_TOP = (0.18, 0.20, 0.26)
VOLUME_BACKGROUND_BOTTOM = (0.02, 0.02, 0.04)

# Needle colours by state (the core decides the state, the UI only colours it).
from osteoplan.core.session import NeedleState  # noqa: E402

NEEDLE_COLORS = {
    NeedleState.OK: (0.25, 0.85, 0.45),
    NeedleState.CAUTION: (1.0, 0.62, 0.10),
    NeedleState.PROBLEM: (0.95, 0.20, 0.20),
}
PLACEMENT_COLOR = (0.55, 0.80, 1.0)  # the rubber band while a new path is being placed
VIRTUAL_TIP_COLOR = (1.0, 0.95, 0.30)
THERMOCOUPLE_COLOR = (0.95, 0.95, 0.95)
