"""The aorta and the inferior vena cava on a contrast-enhanced CT, found in front of the spine.

On the `spine.analysis_grid`, in each slice of the spinal canal: in front of the vertebral body
(`PREVERTEBRAL_MM` in front of the canal, `LATERAL_MM` to either side), the round 2-D blobs of
enhanced blood (3 x 3 median of `ENHANCED_HU`), apart from the spine's own bone, of a vessel's
cross-section (`VESSEL_AREA_MM2`). A CT is taken as contrast-enhanced when such blobs form a chain
along the spine in at least `MIN_SLICE_FRACTION` of the canal's slices; the chain left of the canal's
midline is the aorta, the one right of it the IVC (only when enhanced too: an arterial phase may show
the aorta alone). Without contrast, blood reads like muscle (30-60 HU) and no vessel is guessed: the
caller says vessels were not checked, with the blood's HU measured in front of the spine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

ENHANCED_HU = (150.0, 700.0)  # iodinated blood 150-500 HU; calcified plaque and cortex reach higher
PREVERTEBRAL_MM = (15.0, 110.0)  # from the canal's centre forwards: the body, then the great vessels
LATERAL_MM = 60.0
VESSEL_AREA_MM2 = (80.0, 1500.0)  # IVC ~15-30 mm, aorta ~15-35 mm across
MIN_SLICE_FRACTION = 0.5


@dataclass(frozen=True)
class VesselResult:
    aorta: np.ndarray | None  # bool masks on the analysis grid
    vena_cava: np.ndarray | None
    enhanced: bool
    blood_hu: float  # the 90th percentile of the soft tissue in front of the spine (median over slices): unenhanced blood


def find_vessels(grid: sitk.Image, canal_centres: dict[int, tuple[float, float]]) -> VesselResult:
    """`canal_centres`: analysis-grid slice -> canal centre (y, x) in voxels (from `spine.find_canal`)."""
    hu = sitk.GetArrayViewFromImage(grid)
    spacing = grid.GetSpacing()[0]
    blobs: dict[str, dict[int, np.ndarray]] = {"left": {}, "right": {}}
    densest = []
    yy, xx = np.mgrid[:hu.shape[1], :hu.shape[2]]
    for k, (cy, cx) in canal_centres.items():
        front = (cy - yy) * spacing  # LPS: +y is posterior, so "in front" is smaller y
        region = (front >= PREVERTEBRAL_MM[0]) & (front <= PREVERTEBRAL_MM[1]) & (np.abs(xx - cx) * spacing <= LATERAL_MM)
        smooth = ndimage.median_filter(hu[k], size=3)
        spine = ndimage.label(smooth >= ENHANCED_HU[0])[0]
        body_id = spine[int(np.clip(round(cy - 25 / spacing), 0, hu.shape[1] - 1)), int(round(cx))]
        candidate = region & (smooth >= ENHANCED_HU[0]) & (smooth <= ENHANCED_HU[1])
        if body_id:
            candidate &= spine != body_id  # not the vertebral body itself
        labels, count = ndimage.label(candidate)
        for value in range(1, count + 1):
            blob = labels == value
            area = blob.sum() * spacing * spacing
            if not VESSEL_AREA_MM2[0] <= area <= VESSEL_AREA_MM2[1]:
                continue
            rows, cols = np.nonzero(blob)
            box = (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
            if blob.sum() / box < 0.5:  # a vessel's section is round; bowel walls and muscle edges are not
                continue
            side = "left" if cols.mean() > cx else "right"  # LPS: +x is the patient's left
            if k not in blobs[side] or blobs[side][k].sum() < blob.sum():
                blobs[side][k] = blob
        soft = region & (smooth > 0) & (smooth < ENHANCED_HU[0])  # blood, muscle, organs: what blood reads here
        if soft.any():
            densest.append(float(np.percentile(smooth[soft], 90)))
    slices = max(1, len(canal_centres))
    enhanced = len(blobs["left"]) >= MIN_SLICE_FRACTION * slices
    blood = float(np.median(densest)) if densest else float("nan")
    if not enhanced:
        return VesselResult(None, None, False, blood)

    def stack(side: str) -> np.ndarray | None:
        if len(blobs[side]) < MIN_SLICE_FRACTION * slices:
            return None
        mask = np.zeros(hu.shape, bool)
        for k, blob in blobs[side].items():
            mask[k] = blob
        return mask

    return VesselResult(stack("left"), stack("right"), True, blood)
