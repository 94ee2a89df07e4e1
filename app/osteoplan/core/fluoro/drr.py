"""Virtual fluoroscopy: a C-arm's cone-beam geometry and digitally reconstructed radiographs (DRR).

Geometry (LPS: +x the patient's left, +y posterior, +z superior). A `CArm` has its X-ray
source `sod_mm` from the isocentre and its flat detector `sid_mm` from the source; the beam
(source -> detector, through the isocentre) is

    d = (-sin(rot) cos(ang), cos(rot) cos(ang), -sin(ang))

- rotation 0, angulation 0 = **AP**: the source anterior (under the table of a prone patient),
  the beam anterior -> posterior; **rotation > 0** swings the source towards the patient's
  left (+90 = **lateral**, source on the left), < 0 towards the right;
- **angulation > 0 = cranial**: the source moves towards the head (the beam runs caudally).

The image is shown as seen from the source, like the slice views: the AP like the coronal
view (the patient's left on screen right, head up), the +90 lateral like the sagittal view
(anterior on screen left). Detector pixel (col, row) has row 0 at the top; the 3x4
projection matrix `P` maps homogeneous LPS points to homogeneous (col, row) pixels, and
everything drawn on a DRR (needles, cement, zones) goes through it.

DRR: attenuation mu = MU_WATER_PER_MM * (1 + HU/1000), 0 for air, block-averaged once per
case to ~ATTENUATION_VOXEL_MM (`attenuation_volume`, cached). Each DRR is a shear-warp
projection: the volume axis closest to the beam is the marching axis; every ray meets each
slice perpendicular to it on a scaled, shifted copy of the ray grid on a reference slice,
so slabs of a few slices (pre-summed, cached; thin enough that a ray drifts less than
MAX_SLAB_DRIFT_VOXELS across one) are resampled with separable linear interpolation (two
precomputed gathers per slab) onto an intermediate image, weighted by the ray's path
length per slice, then warped to the detector with the plane-to-plane homography
(`scipy.ndimage.map_coordinates`). Display (`drr_display`): the clinical convention, bone
dark on a light background, metal (the needles, drawn from P) black.
"""

from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from osteoplan.core.imaging.volume import Volume

MU_WATER_PER_MM = 0.02  # linear attenuation of water at a C-arm's ~60-70 keV effective energy
ATTENUATION_VOXEL_MM = 1.5
MAX_SLAB_DRIFT_VOXELS = 1.5  # a ray may drift this far across a slab summed without shifting (+-0.75 voxel)
DEFAULT_SID_MM = 1000.0  # source to detector (a mobile C-arm: 1000-1200 mm)
DEFAULT_SOD_MM = 650.0  # source to isocentre
DEFAULT_DETECTOR_MM = 300.0  # a 30 cm flat panel
DEFAULT_PIXELS = 512
DISPLAY_BLUR_PX = 40.0  # of a 512-pixel image: the scale of soft-tissue thickness changes
DISPLAY_FLATTENING = 0.7


@dataclass(frozen=True)
class CArm:
    """Where the C-arm is: angles in degrees (conventions in the module docstring), distances in mm."""

    isocentre_lps: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation_deg: float = 0.0
    angulation_deg: float = 0.0
    sid_mm: float = DEFAULT_SID_MM
    sod_mm: float = DEFAULT_SOD_MM
    detector_mm: tuple[float, float] = (DEFAULT_DETECTOR_MM, DEFAULT_DETECTOR_MM)  # width, height
    pixels: tuple[int, int] = (DEFAULT_PIXELS, DEFAULT_PIXELS)  # columns, rows

    def __post_init__(self) -> None:
        if not 0 < self.sod_mm < self.sid_mm:
            raise ValueError(f"the isocentre must lie between source and detector (SOD {self.sod_mm:g} mm, "
                             f"SID {self.sid_mm:g} mm)")
        if min(self.pixels) < 2 or min(self.detector_mm) <= 0:
            raise ValueError("the detector needs a positive size and at least 2x2 pixels")
        object.__setattr__(self, "isocentre_lps", tuple(float(v) for v in self.isocentre_lps))

    def turned(self, rotation_deg: float, angulation_deg: float) -> "CArm":
        return replace(self, rotation_deg=float(rotation_deg), angulation_deg=float(angulation_deg))

    def centred(self, isocentre_lps) -> "CArm":
        return replace(self, isocentre_lps=tuple(float(v) for v in isocentre_lps))

    # --- frame ----------------------------------------------------------------------------
    @property
    def beam_direction(self) -> np.ndarray:
        """Unit vector from the source through the isocentre to the detector."""
        rot, ang = math.radians(self.rotation_deg), math.radians(self.angulation_deg)
        return np.array([-math.sin(rot) * math.cos(ang), math.cos(rot) * math.cos(ang), -math.sin(ang)])

    @property
    def detector_right(self) -> np.ndarray:
        """Screen-right on the detector (the patient's left in AP)."""
        rot = math.radians(self.rotation_deg)
        return np.array([math.cos(rot), math.sin(rot), 0.0])

    @property
    def detector_up(self) -> np.ndarray:
        """Screen-up on the detector (superior in AP and lateral)."""
        return np.cross(self.detector_right, self.beam_direction)

    @property
    def source_lps(self) -> np.ndarray:
        return np.asarray(self.isocentre_lps) - self.sod_mm * self.beam_direction

    @property
    def pixel_mm(self) -> tuple[float, float]:
        return self.detector_mm[0] / self.pixels[0], self.detector_mm[1] / self.pixels[1]

    @property
    def magnification(self) -> float:
        return self.sid_mm / self.sod_mm

    def projection_matrix(self) -> np.ndarray:
        """3x4 P: [col*w, row*w, w] = P @ [x, y, z, 1] (LPS mm), w = depth from the source along the beam."""
        px, py = self.pixel_mm
        k = np.array([[self.sid_mm / px, 0.0, (self.pixels[0] - 1) / 2.0],
                      [0.0, self.sid_mm / py, (self.pixels[1] - 1) / 2.0],
                      [0.0, 0.0, 1.0]])
        rows = np.stack([self.detector_right, -self.detector_up, self.beam_direction])
        return k @ np.hstack([rows, (-rows @ self.source_lps)[:, None]])

    def pixel_points_lps(self, cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """LPS points on the detector plane at pixel coordinates (broadcast together)."""
        px, py = self.pixel_mm
        centre = self.source_lps + self.sid_mm * self.beam_direction
        du = (np.asarray(cols, dtype=float) - (self.pixels[0] - 1) / 2.0) * px
        dv = -(np.asarray(rows, dtype=float) - (self.pixels[1] - 1) / 2.0) * py
        return centre + du[..., None] * self.detector_right + dv[..., None] * self.detector_up


def project_points(projection: np.ndarray, points_lps) -> np.ndarray:
    """Detector pixel coordinates (N, 2) = (col, row) of LPS points (N, 3) under a 3x4 projection."""
    points = np.atleast_2d(np.asarray(points_lps, dtype=float))
    homogeneous = np.hstack([points, np.ones((len(points), 1))]) @ np.asarray(projection).T
    return homogeneous[:, :2] / homogeneous[:, 2:3]


def carm_angles_for_beam(direction) -> tuple[float, float]:
    """(rotation_deg, angulation_deg) that put the beam along `direction`."""
    d = np.asarray(direction, dtype=float)
    d = d / np.linalg.norm(d)
    angulation = math.degrees(math.asin(float(np.clip(-d[2], -1.0, 1.0))))
    rotation = math.degrees(math.atan2(-d[0], d[1]))
    return rotation + 0.0, angulation + 0.0


def bulls_eye_angles(entry_lps, target_lps) -> tuple[float, float]:
    """C-arm angles of the "down-the-pedicle" (bull's-eye) view of a path: the central ray runs
    along the needle, from the target's side (the source anterior, as for AP), so that entry and
    target fall on the same detector pixel."""
    return carm_angles_for_beam(np.asarray(entry_lps, dtype=float) - np.asarray(target_lps, dtype=float))


# --- attenuation volume ---------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class AttenuationVolume:
    """mu (1/mm, float32, [k, j, i]) on a coarse grid; `index_to_lps` maps (i, j, k, 1) of it to LPS."""

    mu: np.ndarray
    index_to_lps: np.ndarray
    _slabs: dict = field(default_factory=dict, repr=False)  # (axis, slices per slab) -> (starts, slabs)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def slabs(self, axis: int, thickness: int) -> tuple[np.ndarray, np.ndarray]:
        """Slab start slices and the slabs (sums of `thickness` slices, a power of two) along array
        axis `axis`, moved to axis 0. Thicker slabs are pairwise sums of the next thinner ones, so
        a C-arm turning through a few thicknesses copies the volume only once per axis."""
        key = (axis, thickness)
        with self._lock:
            if key not in self._slabs:
                if thickness == 1:
                    slabs = np.ascontiguousarray(np.moveaxis(self.mu, axis, 0))
                else:
                    half = self.slabs(axis, thickness // 2)[1]  # (a re-entrant lock)
                    slabs = half[0::2].copy()
                    slabs[: len(half) // 2] += half[1::2]
                if len(self._slabs) >= 6:  # oldest first: a C-arm turning stays near a few of these
                    self._slabs.pop(next(iter(self._slabs)))
                self._slabs[key] = (np.arange(0, self.mu.shape[axis], thickness), slabs)
            return self._slabs[key]


_attenuation_cache: "weakref.WeakKeyDictionary[Volume, AttenuationVolume]" = weakref.WeakKeyDictionary()
_attenuation_lock = threading.Lock()


def cached_attenuation_volume(ct: Volume) -> AttenuationVolume | None:
    """The attenuation volume of a CT if it has been built (see `attenuation_volume`), else None."""
    with _attenuation_lock:
        return _attenuation_cache.get(ct)


def attenuation_volume(ct: Volume, voxel_mm: float = ATTENUATION_VOXEL_MM) -> AttenuationVolume:
    """mu of a CT block-averaged to about `voxel_mm` (built once per CT, then cached)."""
    with _attenuation_lock:
        cached = _attenuation_cache.get(ct)
        if cached is not None:
            return cached
        factors_kji = [max(1, int(round(voxel_mm / s))) for s in ct.spacing[::-1]]
        nk, nj, ni = (n // f for n, f in zip(ct.array.shape, factors_kji))
        if min(nk, nj, ni) == 0:
            factors_kji, (nk, nj, ni) = [1, 1, 1], ct.array.shape
        fk, fj, fi = factors_kji
        mu = np.empty((nk, nj, ni), dtype=np.float32)
        for k in range(nk):  # one block of slices at a time: the whole CT in float would not fit
            block = ct.array[k * fk:(k + 1) * fk, :nj * fj, :ni * fi].astype(np.float32)
            block = block.reshape(fk, nj, fj, ni, fi).mean(axis=(0, 2, 4))
            mu[k] = np.maximum(block * (MU_WATER_PER_MM / 1000.0) + MU_WATER_PER_MM, 0.0)
        scale = np.diag([fi, fj, fk, 1.0]).astype(float)
        scale[:3, 3] = (np.array([fi, fj, fk]) - 1) / 2.0  # a block's centre
        result = AttenuationVolume(mu, ct.index_to_lps_matrix @ scale)
        _attenuation_cache[ct] = result
        return result


# --- DRR --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Drr:
    line_integral: np.ndarray  # float32 (rows, cols): the integral of mu along each ray (unitless)
    covered: np.ndarray  # bool (rows, cols): the ray crosses the CT
    carm: CArm
    projection: np.ndarray  # 3x4, the same as carm.projection_matrix()

    @property
    def intensity(self) -> np.ndarray:
        """I / I0 = exp(-integral) on the detector."""
        return np.exp(-self.line_integral)


def _linear_taps(position: np.ndarray, size: int):
    """Indices and weights of linear interpolation at `position` (taps outside [0, size-1] weigh 0)."""
    lower = np.floor(position)
    upper_weight = (position - lower).astype(np.float32)
    lower_weight = 1.0 - upper_weight
    index0 = lower.astype(np.int64)
    index1 = index0 + 1
    lower_weight[(index0 < 0) | (index0 > size - 1)] = 0.0
    upper_weight[(index1 < 0) | (index1 > size - 1)] = 0.0
    return np.clip(index0, 0, size - 1), lower_weight, np.clip(index1, 0, size - 1), upper_weight


def compute_drr(attenuation: AttenuationVolume, carm: CArm) -> Drr:
    """The DRR of a C-arm position (shear-warp, see the module docstring)."""
    to_index = np.linalg.inv(attenuation.index_to_lps)
    source = (to_index @ np.append(carm.source_lps, 1.0))[:3]  # (i, j, k)
    beam = to_index[:3, :3] @ carm.beam_direction
    shape_ijk = np.array(attenuation.mu.shape[::-1])
    march = int(np.argmax(np.abs(beam) / np.linalg.norm(beam)))  # index axis along the beam
    a_axis, b_axis = [axis for axis in range(3) if axis != march]
    n_march = int(shape_ijk[march])

    # The detector's corners and the volume seen through the reference slice (the middle one).
    cols, rows = carm.pixels
    corners = carm.pixel_points_lps(np.array([-0.5, cols - 0.5, -0.5, cols - 0.5]),
                                    np.array([-0.5, -0.5, rows - 0.5, rows - 0.5]))
    corners_ijk = np.hstack([corners, np.ones((4, 1))]) @ to_index[:3].T
    reference = (n_march - 1) / 2.0

    def on_reference(points_ijk: np.ndarray) -> np.ndarray:
        scale = (reference - source[march]) / (points_ijk[..., march] - source[march])
        return source[[a_axis, b_axis]] + (points_ijk[..., [a_axis, b_axis]] - source[[a_axis, b_axis]]) * scale[..., None]

    box = np.array([[i, j, k] for i in (-0.5, shape_ijk[0] - 0.5) for j in (-0.5, shape_ijk[1] - 0.5)
                    for k in (-0.5, shape_ijk[2] - 0.5)])
    if np.any((box[:, march] - source[march]) * (reference - source[march]) <= 0):
        raise ValueError("the X-ray source is inside the CT volume: increase the source-to-isocentre distance")
    seen = on_reference(corners_ijk)
    volume_seen = on_reference(box)
    low = np.maximum(seen.min(axis=0), volume_seen.min(axis=0))
    high = np.minimum(seen.max(axis=0), volume_seen.max(axis=0))
    # A ray is "covered" when it crosses the whole CT, from its first slice to its last: rays that
    # leave through a side (a scan cut above the pedicles, say) would show a truncated body.
    faces = [on_reference(box[box[:, march] == end]) for end in (-0.5, shape_ijk[march] - 0.5)]
    full_low = np.max([face.min(axis=0) for face in faces], axis=0)
    full_high = np.min([face.max(axis=0) for face in faces], axis=0)
    empty = Drr(np.zeros((rows, cols), np.float32), np.zeros((rows, cols), bool), carm, carm.projection_matrix())
    if np.any(high <= low):
        return empty
    step = 1.0  # intermediate pixels: one (coarse) voxel on the reference slice
    size = np.ceil((high - low) / step).astype(int) + 1
    grid_a = low[0] + step * np.arange(size[0])
    grid_b = low[1] + step * np.arange(size[1])

    # Slabs thin enough that no ray drifts more than MAX_SLAB_DRIFT_VOXELS across one.
    drift = max(np.abs(seen - source[[a_axis, b_axis]]).max(axis=0)) / abs(reference - source[march])
    thickness = 2 ** int(np.log2(max(1.0, MAX_SLAB_DRIFT_VOXELS / max(drift, 1e-6))))
    array_axis = {0: 2, 1: 1, 2: 0}
    starts, slabs = attenuation.slabs(array_axis[march], thickness)
    # a slab is [b, a]: the array's axes are [k, j, i], the reverse of the index axes (a < b)
    accumulated = np.zeros((size[1], size[0]), dtype=np.float32)
    rows_buffer = np.empty_like(accumulated)
    counts = np.diff(np.append(starts, n_march))
    for slab, start, count in zip(slabs, starts, counts):
        depth = start + (count - 1) / 2.0
        scale = (depth - source[march]) / (reference - source[march])
        pos_a = source[a_axis] + (grid_a - source[a_axis]) * scale
        pos_b = source[b_axis] + (grid_b - source[b_axis]) * scale
        ia0, wa0, ia1, wa1 = _linear_taps(pos_a, int(shape_ijk[a_axis]))
        ib0, wb0, ib1, wb1 = _linear_taps(pos_b, int(shape_ijk[b_axis]))
        # in place, with np.take: a quarter faster than the plain expression (fewer temporaries)
        columns = np.take(slab, ia0, axis=1)  # [b, grid a]
        columns *= wa0
        upper = np.take(slab, ia1, axis=1)
        upper *= wa1
        columns += upper
        np.take(columns, ib0, axis=0, out=rows_buffer)
        rows_buffer *= wb0[:, None]
        accumulated += rows_buffer
        np.take(columns, ib1, axis=0, out=rows_buffer)
        rows_buffer *= wb1[:, None]
        accumulated += rows_buffer

    # Path length (mm) per slice step of each ray through an intermediate pixel.
    aa, bb = np.meshgrid(grid_a, grid_b)
    ray = np.zeros((size[1], size[0], 3))
    ray[..., a_axis] = aa - source[a_axis]
    ray[..., b_axis] = bb - source[b_axis]
    ray[..., march] = reference - source[march]
    ray /= np.abs(ray[..., march:march + 1])
    mm_per_step = np.linalg.norm(ray @ attenuation.index_to_lps[:3, :3].T, axis=-1)
    integral_ref = accumulated * mm_per_step.astype(np.float32)

    # Warp: each detector pixel's ray meets the reference slice at a point of the intermediate grid.
    pixel_cols, pixel_rows = np.meshgrid(np.arange(cols, dtype=float), np.arange(rows, dtype=float))
    pixels_ijk = carm.pixel_points_lps(pixel_cols, pixel_rows) @ to_index[:3, :3].T + to_index[:3, 3]
    at = (on_reference(pixels_ijk) - low) / step
    line_integral = ndimage.map_coordinates(integral_ref, [at[..., 1], at[..., 0]], order=1, mode="constant",
                                            cval=0.0, prefilter=False).astype(np.float32)
    on_plane = at * step + low
    covered = np.all((on_plane >= full_low) & (on_plane <= full_high), axis=-1)
    return Drr(line_integral, covered, carm, carm.projection_matrix())


def drr_display(drr: Drr, outside_grey: int = 32) -> np.ndarray:
    """uint8 grey image of a DRR in the clinical convention: bone dark on a light background.

    Like a C-arm's image processing: the slowly varying thickness of the soft tissue is mostly
    taken out (the line integral minus DISPLAY_FLATTENING of its ~DISPLAY_BLUR_PX blur) so bone
    edges stand out, then the body's range is windowed (air white). Pixels whose ray misses the
    CT are `outside_grey`.
    """
    integral = drr.line_integral
    grey = np.full(integral.shape, outside_grey, dtype=np.uint8)
    covered = drr.covered
    if not covered.any():
        return grey
    flattened = integral - DISPLAY_FLATTENING * _covered_blur(integral, covered,
                                                              DISPLAY_BLUR_PX * max(integral.shape) / 512.0)
    values = flattened[covered]
    body = values[integral[covered] > 0.2 * float(integral[covered].max())]
    low, high = np.percentile(body if body.size > 100 else values, [1.0, 99.8])
    high = max(high, low + 1e-3)
    shade = np.clip((flattened - low) / (high - low), 0.0, 1.0)
    grey[covered] = (250.0 - 235.0 * shade[covered]).astype(np.uint8)
    return grey


def _covered_blur(image: np.ndarray, covered: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur of `image` over its covered pixels only (normalised), computed on a grid
    about sigma/5 coarser and interpolated back: a wide blur at full size costs ~100x more."""
    factor = max(1, int(sigma_px / 5.0))
    rows, cols = image.shape
    padded_shape = (-(-rows // factor) * factor, -(-cols // factor) * factor)
    weight = np.zeros(padded_shape, np.float32)
    values = np.zeros(padded_shape, np.float32)
    weight[:rows, :cols] = covered
    values[:rows, :cols] = image * covered
    shape = (padded_shape[0] // factor, factor, padded_shape[1] // factor, factor)
    small_weight = ndimage.gaussian_filter(weight.reshape(shape).mean(axis=(1, 3)), sigma_px / factor)
    small_values = ndimage.gaussian_filter(values.reshape(shape).mean(axis=(1, 3)), sigma_px / factor)
    small = small_values / np.maximum(small_weight, 1e-3)
    return _upsampling_matrix(rows, factor, small.shape[0]) @ small @ _upsampling_matrix(cols, factor, small.shape[1]).T


def _upsampling_matrix(size: int, factor: int, coarse: int) -> np.ndarray:
    """(size, coarse) linear interpolation from block centres ((index + 0.5) * factor - 0.5) to pixels."""
    position = np.clip((np.arange(size) + 0.5) / factor - 0.5, 0.0, coarse - 1.0)
    lower = np.minimum(np.floor(position).astype(int), max(coarse - 2, 0))
    upper_weight = position - lower
    matrix = np.zeros((size, coarse), np.float32)
    matrix[np.arange(size), lower] = 1.0 - upper_weight
    matrix[np.arange(size), np.minimum(lower + 1, coarse - 1)] += upper_weight
    return matrix


def mask_projection(projection: np.ndarray, grid: Volume, start_kji, mask: np.ndarray,
                    pixels: tuple[int, int], max_points: int = 200_000) -> np.ndarray:
    """Detector image (rows, cols) of the number of a mask's voxels projected onto each pixel
    (a zone's or the cement's footprint), on the CT grid `grid` from `start_kji`."""
    kji = np.argwhere(mask)
    if len(kji) > max_points:  # a huge zone: every n-th voxel shows its outline just as well
        kji = kji[:: int(np.ceil(len(kji) / max_points))]
    image = np.zeros((pixels[1], pixels[0]), dtype=np.float32)
    if len(kji) == 0:
        return image
    points = grid.index_to_lps((kji + np.asarray(start_kji))[:, ::-1].astype(float))
    uv = np.floor(project_points(projection, points) + 0.5).astype(int)
    keep = (uv[:, 0] >= 0) & (uv[:, 0] < pixels[0]) & (uv[:, 1] >= 0) & (uv[:, 1] < pixels[1])
    np.add.at(image, (uv[keep, 1], uv[keep, 0]), 1.0)
    # A voxel covers more than one pixel when magnified: spread each count over its footprint
    # (the sum is kept), or the shape shows as a dotted grid.
    centre = points.mean(axis=0)
    steps = centre + np.diag(np.asarray(grid.spacing)) @ grid.direction.T
    footprint = float(np.max(np.linalg.norm(project_points(projection, steps) - project_points(projection, centre),
                                            axis=1)))
    if footprint > 1.0:
        image = ndimage.gaussian_filter(image, 0.7 * footprint)
    return image
