"""The proposals' risk map in 3-D: every searched entry point on the skin as a coloured dot
(green safe .. amber .. red where a stop structure lies on the path), and the previewed path(s)."""

from __future__ import annotations

import numpy as np
from vtkmodules.vtkRenderingCore import vtkRenderer

from osteoplan.core.proposals.propose import RISK_OK, RISK_PEDICLE, RiskMap
from osteoplan.render.polydata import ColoredActor, points_polydata

STOP_RGB = (0.85, 0.12, 0.12)
PEDICLE_RGB = (0.55, 0.35, 0.75)  # reachable and clear, but the path misses the pedicle
RAMP = ((0.0, (0.95, 0.30, 0.12)), (0.45, (1.0, 0.78, 0.15)), (0.75, (0.35, 0.90, 0.35)), (1.0, (0.15, 0.85, 0.45)))


def score_rgb(scores) -> np.ndarray:
    """Colours (n, 3) of scores 0..1 along the ramp red-orange -> amber -> green."""
    scores = np.clip(np.asarray(scores, dtype=float), 0.0, 1.0)
    stops = np.array([s for s, _ in RAMP])
    colours = np.array([c for _, c in RAMP])
    return np.column_stack([np.interp(scores, stops, colours[:, channel]) for channel in range(3)])


def risk_colors(risk: RiskMap) -> np.ndarray:
    """Per entry: the score's colour where the path is viable, else the reason's colour."""
    ok = risk.scores
    # the viable scores spread over the ramp, so that "best here" stands out from "possible"
    viable = risk.status == RISK_OK
    if viable.any():
        low, high = float(ok[viable].min()), float(ok[viable].max())
        ok = np.where(viable, 0.15 + 0.85 * (ok - low) / max(high - low, 1e-6), 0.0)
    rgb = score_rgb(ok)
    rgb[risk.status == RISK_PEDICLE] = PEDICLE_RGB
    rgb[(risk.status != RISK_OK) & (risk.status != RISK_PEDICLE)] = STOP_RGB
    return rgb


class RiskMapLayer:
    """Coloured dots on the skin in one 3-D renderer; `clear` removes them from view."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self._stop = ColoredActor(renderer, point_size=5.0, spheres=True, opacity=0.55)
        self._viable = ColoredActor(renderer, point_size=7.0, spheres=True)
        self.count = 0

    def set_map(self, risk: RiskMap | None) -> None:
        if risk is None or len(risk.entries_lps) == 0:
            self.clear()
            return
        rgb = risk_colors(risk)
        viable = risk.status == RISK_OK
        self._viable.set_data(points_polydata(list(risk.entries_lps[viable]), list(rgb[viable])))
        self._stop.set_data(points_polydata(list(risk.entries_lps[~viable]), list(rgb[~viable])))
        for layer in (self._viable, self._stop):
            layer.actor.VisibilityOn()
        self.count = len(risk.entries_lps)

    def clear(self) -> None:
        for layer in (self._viable, self._stop):
            layer.set_data(points_polydata([], []))
            layer.actor.VisibilityOff()
        self.count = 0

    @property
    def visible(self) -> bool:
        return self.count > 0 and bool(self._viable.actor.GetVisibility() or self._stop.actor.GetVisibility())
