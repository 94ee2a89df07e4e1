"""Air inside the body, found on the CT: the lungs and gas-filled bowel (stomach, bowel, rectum).

On the `spine.analysis_grid`: air is HU < `AIR_HU` inside the body (CT > -300 HU with its holes
filled, per slice), in 3-D components of at least `GAS_MIN_ML`, grown by `WALL_MM` for the pleura or
bowel wall around it. Lungs and bowel gas are not told apart: at the thoracolumbar junction or in a
long colon both reach the scan's edge and mix parenchyma-like and pure-air voxels, and both are
visceral hazards with the same thresholds, so one structure says "lung or bowel". Limits: bowel
without gas (collapsed or fluid-filled loops) is not found, and the notes say so; free air or a
pneumothorax is taken for lung or bowel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

AIR_HU = -400.0  # lung parenchyma -900..-500, gas -1000; fat (-100) and soft tissue stay above
GAS_MIN_ML = 0.3  # smaller pockets are noise or partial volume
WALL_MM = 3.0  # the pleura / bowel wall around the air


@dataclass(frozen=True)
class AirResult:
    mask: np.ndarray  # bool, on the analysis grid: the air components grown by the wall
    components: int
    volume_ml: float


def find_air(grid: sitk.Image) -> AirResult:
    hu = sitk.GetArrayViewFromImage(grid)
    spacing = grid.GetSpacing()[0]
    body = hu > -300
    for k in range(body.shape[0]):  # per slice: the body's holes are its lungs and gas; outside air is not
        body[k] = ndimage.binary_fill_holes(body[k])
    air = body & (hu < AIR_HU)
    labels, count = ndimage.label(air)
    volumes = ndimage.sum(air, labels, np.arange(1, count + 1)) * spacing ** 3 / 1000.0 if count else np.zeros(0)
    kept = np.flatnonzero(volumes >= GAS_MIN_ML) + 1
    inside = np.isin(labels, kept)
    wall = max(1, int(round(WALL_MM / spacing)))
    mask = ndimage.binary_dilation(inside, iterations=wall) & body & (hu < 150) if len(kept) else inside
    return AirResult(mask, len(kept), float(volumes[kept - 1].sum()) if len(kept) else 0.0)
