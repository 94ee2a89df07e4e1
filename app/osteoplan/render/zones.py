"""Ablation zones (and injected cement) in the views: filled and outlined isotherm contours in 2-D views, translucent
shells in 3-D; the lethal zone and the outer shell (45 °C for heat, 0 °C for cryo) coloured apart."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from vtkmodules.vtkRenderingCore import vtkRenderer

from osteoplan.core.imaging.volume import Volume
from osteoplan.render.label_outlines import LabelOutlines
from osteoplan.render.slices import LabelSliceLayer
from osteoplan.render.structure_surfaces import StructureSurfaces

LETHAL, SHELL = 1, 2
ZONE_COLORS = {  # (lethal or filled, outer shell)
    "heat": ((1.0, 0.22, 0.08), (1.0, 0.72, 0.15)),
    "cryo": ((0.20, 0.45, 1.0), (0.55, 0.90, 1.0)),
    "cement": ((0.35, 0.95, 1.0), (0.35, 0.95, 1.0)),  # PMMA: cyan, apart from bone on a bone window
}
FILL_OPACITY = {LETHAL: 0.55, SHELL: 0.25}


def zone_label_volume(zone) -> Volume:
    """An `AblationZone` as a small label map on its box of the CT grid: 1 lethal, 2 outer shell."""
    labels = np.where(zone.lethal, LETHAL, np.where(zone.outer, SHELL, 0)).astype(np.uint8)
    k, j, i = zone.start_kji
    origin = zone.grid.index_to_lps((i, j, k))
    return Volume(labels, zone.grid.spacing, tuple(origin), zone.grid.direction)


def _colors(kind: str) -> dict[int, tuple[float, float, float]]:
    lethal, shell = ZONE_COLORS[kind]
    return {LETHAL: lethal, SHELL: shell}


class ZoneLayers2D:
    """The zones of a plan in one 2-D view; a zone's layers are rebuilt only when it changes."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self._renderer = renderer
        self._shown: dict[str, tuple[object, LabelSliceLayer, LabelOutlines]] = {}

    def set_zones(self, zones: dict[str, tuple[object, str]]) -> None:
        """`zones`: id -> (shape with `lethal`/`outer` masks on a box of the CT grid, "heat"|"cryo"|"cement")."""
        for zone_id in list(self._shown):
            if zone_id not in zones or zones[zone_id][0] is not self._shown[zone_id][0]:
                _, fill, outline = self._shown.pop(zone_id)
                self._renderer.RemoveViewProp(fill.prop)
                self._renderer.RemoveActor(outline.actor)
        for zone_id, (zone, kind) in zones.items():
            if zone_id in self._shown or not zone.outer.any():
                continue
            labels = zone_label_volume(zone)
            colors = _colors(kind)
            fill = LabelSliceLayer(labels, {v: (rgb, FILL_OPACITY[v]) for v, rgb in colors.items()}, self._renderer)
            outline = LabelOutlines(labels, colors, self._renderer)
            self._shown[zone_id] = (zone, fill, outline)

    def update(self, plane_point, frame) -> None:
        for _, _, outline in self._shown.values():
            outline.update(plane_point, frame)


class ZoneSurfaces3D:
    def __init__(self, renderer: vtkRenderer) -> None:
        self._renderer = renderer
        self._shown: dict[str, tuple[object, StructureSurfaces]] = {}

    def set_zones(self, zones: dict[str, tuple[object, str]]) -> None:
        for zone_id in list(self._shown):
            if zone_id not in zones or zones[zone_id][0] is not self._shown[zone_id][0]:
                _, surfaces = self._shown.pop(zone_id)
                self._renderer.RemoveActor(surfaces.actor)
        for zone_id, (zone, kind) in zones.items():
            if zone_id in self._shown or not zone.outer.any():
                continue
            surfaces = StructureSurfaces(self._renderer)
            surfaces.set_labels(zone_label_volume(zone), _colors(kind))
            surfaces.actor.GetProperty().SetOpacity(0.35)
            self._shown[zone_id] = (zone, surfaces)


@dataclass(frozen=True, eq=False)
class FilledShape:
    """A mask on a box of the CT grid, drawn like a zone (e.g. the cement of an injection)."""

    grid: Volume
    start_kji: tuple[int, int, int]
    mask: np.ndarray

    @property
    def lethal(self) -> np.ndarray:
        return self.mask

    @property
    def outer(self) -> np.ndarray:
        return self.mask
