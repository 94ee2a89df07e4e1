"""The spinal canal found on a CT that arrives without labels.

Where the vertebral ring is closed in an axial slice (at the pedicles; the arch is open at the
discs), the canal is the low-density hole the ring encloses. Those slices are the *anchors*:
holes of the bone mask (HU >= `BONE_HU`, closed by ~3 mm so that thin or partial-volumed
cortex still closes the ring) of 60-700 mm², with median HU below `CANAL_MAX_HU` (CSF, cord,
epidural fat; marrow is denser), near the body's left-right middle, with bone in front of them
(the vertebral body or the sacrum). The anchors of the spine are then the longest chain of
anchors, from the bottom up, whose centres move little from one to the next (the sacrum's curve
allowed): continuity along the spine bridges the disc levels, and a level whose wall or pedicle
a lytic lesion destroyed. Between anchors the centre and the size of the canal are interpolated
(beyond the highest or lowest anchor they are carried to the end of the scan when it is near), and the canal
is an ellipse of that size in each slice, minus bone.

The analysis runs on an LPS-aligned grid of `ANALYSIS_SPACING_MM` (any orientation of the CT; a
512 x 512 x 400 CT at 0.8 mm is analysed in about a second) and the mask is resampled onto the
CT's grid. Its limits: the canal is the bony canal's content (dural sac and epidural fat), an
ellipse, not the exact dural outline; a CT with no closed ring at all (very thick slices, a
spine without posterior arches) gives no canal, and the caller then says the canal was not checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from osteoplan.core.imaging.volume import Volume

ANALYSIS_SPACING_MM = 2.0
BONE_HU = 150.0  # the ring's cortex; marrow need not reach it
CANAL_MAX_HU = 70.0  # CSF ~0-20, cord ~15-40, epidural fat < 0; cancellous bone of these patients 109-133 HU
RING_CLOSING_MM = 3.0
HOLE_AREA_MM2 = (60.0, 700.0)  # lumbar canal ~250-500 mm², cervical/thoracic smaller, sacral canal smaller
MIDLINE_MM = 25.0  # the canal is within this of the body's left-right middle
BODY_IN_FRONT_MM = 30.0  # bone within this in front of a hole: it lies behind a vertebral body (or the sacrum)
CHAIN_STEP_MM = 80.0  # two consecutive anchors of the spine are at most this far apart along z
END_REACH_MM = 60.0  # the canal is carried to the scan's first/last slice from an anchor this close to it
ELLIPSE_LR, ELLIPSE_AP = 1.15, 0.87  # semi-axes / the anchor's equivalent radius: wider than deep


@dataclass(frozen=True)
class CanalResult:
    mask: np.ndarray | None  # bool [k, j, i] on the CT's grid; None when no canal was found
    anchors: int  # slices where the closed ring was seen
    extent_mm: tuple[float, float] | None  # lowest and highest z (LPS mm) of the canal
    reason: str = ""  # why there is no canal
    centres: dict[int, tuple[float, float]] = field(default_factory=dict)  # analysis slice -> (y, x) voxels
    grid_mask: np.ndarray | None = None  # the canal on the analysis grid


def analysis_grid(ct: Volume, spacing_mm: float = ANALYSIS_SPACING_MM) -> sitk.Image:
    """The CT resampled (linear, HU) onto an LPS-aligned grid covering it: axes [z, y, x] in numpy order."""
    return sitk.Resample(ct.to_sitk(), analysis_reference(ct, spacing_mm), sitk.Transform(), sitk.sitkLinear,
                         -1024.0, sitk.sitkInt16)


def analysis_reference(ct: Volume, spacing_mm: float = ANALYSIS_SPACING_MM) -> sitk.Image:
    """The analysis grid's geometry (an empty int16 image): LPS-aligned, covering the CT."""
    size = np.asarray(ct.size, dtype=float)
    corners = np.array([[i, j, k] for i in (0, size[0] - 1) for j in (0, size[1] - 1) for k in (0, size[2] - 1)])
    points = ct.index_to_lps(corners)
    spacing = float(spacing_mm)  # also for thicker slices: a finer grid keeps thin cortex in the ring
    low, high = points.min(axis=0), points.max(axis=0)
    count = np.ceil((high - low) / spacing).astype(int) + 1  # covers the last slice (no edge lost to rounding)
    reference = sitk.Image([int(v) for v in count], sitk.sitkInt16)
    reference.SetSpacing([spacing] * 3)
    reference.SetOrigin([float(v) for v in low])
    return reference


def _empty_like(ct: Volume) -> sitk.Image:
    """An image with the CT's geometry and no copy of its voxels (the reference of a resampling)."""
    image = sitk.Image([int(v) for v in ct.size], sitk.sitkUInt8)
    image.SetSpacing([float(v) for v in ct.spacing])
    image.SetOrigin([float(v) for v in ct.origin])
    image.SetDirection([float(v) for v in np.asarray(ct.direction).ravel()])
    return image


def _disk(radius: int) -> np.ndarray:
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return x * x + y * y <= radius * radius + 0.5


def canal_anchors(hu: np.ndarray, spacing: float) -> np.ndarray:
    """(z index, y index, x index, area mm²) of each enclosed low-density hole behind a vertebral body."""
    bone = hu >= BONE_HU
    body = hu > -300
    radius = max(1, int(round(RING_CLOSING_MM / spacing)))
    element, pad = _disk(radius), radius + 2
    found = []
    for k in range(hu.shape[0]):
        if not bone[k].any():
            continue
        columns = np.flatnonzero(body[k].any(axis=0))
        middle_x = 0.5 * (columns[0] + columns[-1])
        closed = ndimage.binary_closing(np.pad(bone[k], pad), structure=element)[pad:-pad, pad:-pad]
        holes = ndimage.binary_fill_holes(closed) & ~closed
        labels, count = ndimage.label(holes)
        if not count:
            continue
        areas = ndimage.sum(holes, labels, range(1, count + 1)) * spacing * spacing
        for value in np.flatnonzero((areas >= HOLE_AREA_MM2[0]) & (areas <= HOLE_AREA_MM2[1])) + 1:
            hole = labels == value
            if not -150.0 < float(np.median(hu[k][hole])) < CANAL_MAX_HU:
                continue
            cy, cx = np.argwhere(hole).mean(axis=0)
            if abs(cx - middle_x) * spacing > MIDLINE_MM:
                continue
            in_front = bone[k, max(0, int(cy - BODY_IN_FRONT_MM / spacing)):int(cy), int(round(cx))]  # -y: anterior
            if in_front.any():
                found.append((k, cy, cx, areas[value - 1]))
    return np.array(found, dtype=float).reshape(-1, 4)


def spine_chain(anchors: np.ndarray, spacing: float) -> np.ndarray:
    """The longest chain of anchors, bottom to top, each close to the previous (the spine's canal)."""
    if not len(anchors):
        return anchors
    ordered = anchors[np.argsort(anchors[:, 0], kind="stable")]
    z, y, x = (ordered[:, c] * spacing for c in range(3))
    length, parent = np.ones(len(ordered)), -np.ones(len(ordered), int)
    for i in range(len(ordered)):
        dz = z[i] - z[:i]
        ok = (dz > 0) & (dz <= CHAIN_STEP_MM) & (np.abs(x[i] - x[:i]) <= 6 + 0.25 * dz) & \
             (np.abs(y[i] - y[:i]) <= 6 + 1.2 * dz)  # the sacrum curves backwards steeply
        if ok.any():
            j = int(np.flatnonzero(ok)[np.argmax(length[:i][ok])])
            length[i], parent[i] = length[j] + 1, j
    i, picked = int(np.argmax(length)), []
    while i >= 0:
        picked.append(i)
        i = parent[i]
    return ordered[picked[::-1]]


def find_canal(ct: Volume, spacing_mm: float = ANALYSIS_SPACING_MM, grid: sitk.Image | None = None,
               on_ct: bool = True) -> CanalResult:
    """The spinal canal of `ct` (see the module docstring), as a mask on the CT's grid (`grid`: the
    `analysis_grid` if the caller has it already; `on_ct=False`: only on that grid, `grid_mask`)."""
    grid = analysis_grid(ct, spacing_mm) if grid is None else grid
    spacing = grid.GetSpacing()[0]
    hu = sitk.GetArrayViewFromImage(grid)
    chain = spine_chain(canal_anchors(hu, spacing), spacing)
    if len(chain) < 2:
        return CanalResult(None, len(chain), None, "no spine found: the CT shows no closed vertebral ring "
                           "(a CT without a spine, or slices too thick to see one)")
    z = chain[:, 0]
    reach = END_REACH_MM / spacing  # the scan ends within the spine: carry the canal to its first/last slice
    top = hu.shape[0] - 1 if hu.shape[0] - 1 - z.max() <= reach else z.max()
    bottom = 0 if z.min() <= reach else z.min()
    slices = np.arange(int(bottom), int(top) + 1)
    centre_y, centre_x = np.interp(slices, z, chain[:, 1]), np.interp(slices, z, chain[:, 2])
    radius = np.sqrt(np.interp(slices, z, chain[:, 3]) / np.pi) / spacing  # voxels
    mask = np.zeros(hu.shape, bool)
    yy, xx = np.mgrid[:hu.shape[1], :hu.shape[2]]
    for k, cy, cx, r in zip(slices, centre_y, centre_x, radius):
        ellipse = ((xx - cx) / (ELLIPSE_LR * r)) ** 2 + ((yy - cy) / (ELLIPSE_AP * r)) ** 2 <= 1.0
        mask[k] = ellipse & (hu[k] < BONE_HU) & (hu[k] > -300)
    origin_z = grid.GetOrigin()[2]
    extent = (origin_z + slices[0] * spacing, origin_z + slices[-1] * spacing)
    centres = {int(k): (float(cy), float(cx)) for k, cy, cx in zip(slices, centre_y, centre_x)}
    return CanalResult(on_ct_grid(mask, grid, ct) if on_ct else None, len(chain), extent, centres=centres,
                       grid_mask=mask)


def on_ct_grid(mask: np.ndarray, grid: sitk.Image, ct: Volume) -> np.ndarray:
    """A mask (bool) or label array (uint8/uint16) of the analysis grid resampled (nearest neighbour) onto
    the CT's own grid."""
    labels = mask.view(np.uint8) if mask.dtype == bool else mask
    image = sitk.GetImageFromArray(labels)
    image.CopyInformation(grid)
    pixel = sitk.sitkUInt8 if labels.dtype == np.uint8 else sitk.sitkUInt16
    on_ct = sitk.GetArrayFromImage(sitk.Resample(image, _empty_like(ct), sitk.Transform(), sitk.sitkNearestNeighbor,
                                                 0, pixel))
    return on_ct.astype(bool) if mask.dtype == bool else on_ct
