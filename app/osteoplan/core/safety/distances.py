"""Signed distance fields of structures, and the distance of a whole needle to each structure.

A field is the signed distance (mm, negative inside) to a structure's surface, computed by
`bone_fields.signed_distance_mm` (SimpleITK SignedMaurerDistanceMap with image spacing,
not squared) on the structure's bounding box grown by `margin_mm`. Outside that box the
field reads its border value, which is at least about `margin_mm`: beyond the margin a
distance means "at least this far", which is all the thresholds (<= 10 mm) need.

Fields (and the voxel surfaces below) are cached by the mask's content hash, so an edited
mask gets a new field and the old one is simply no longer asked for. `prepare` computes
them up front (in a worker thread, with progress); one not prepared is computed on first
use. A lock guards the cache, not the computation, so the UI thread can read finished
fields meanwhile.

A needle is a capsule: its axis segment with the device's outer radius. Its distance to a
structure is measured exactly, not read from the field: the field (a Maurer map to voxel
centres, blurred, trilinear) overstates the distance to the voxels taken as full boxes by
up to about half a voxel or more (+1.1 mm mean at 3 mm voxels), the unsafe way. An outside
point's nearest point of a structure lies on a boundary voxel (one with a 6-neighbour
outside the mask), so those are kept (`VoxelSurface`, cached and prepared like the fields),
as boxes in the grid's own frame scaled to mm (index * spacing: oblique CTs included; the
direction matrix is taken to be orthonormal, as ITK's are), grouped in blocks of about
BLOCK_MM. Bounds from the blocks' enclosing spheres, then from the voxels', leave a few
boxes that can be nearest; each is measured against the whole segment in closed form (the
squared point-box distance is piecewise quadratic along it): no sampling error, and no KD
search (its nearest queries took up to 50 ms per needle for a far, large organ). When the
axis itself reaches the structure the distance is the field's depth there (<= 0) less the
radius: a stop either way.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from osteoplan.core.imaging.bone_fields import CropField, signed_distance_mm
from osteoplan.core.imaging.volume import Volume
from osteoplan.core.safety.structures import Structure

# Fields reach this far beyond a structure's box: past every threshold in force (<= 10 mm) with
# room to spare; a farther distance reads as "at least this" (half the margin halves set-up time).
FIELD_MARGIN_MM = 25.0
NEEDLE_SAMPLE_STEP_MM = 0.5
BLOCK_MM = 5.0  # boundary voxels are grouped in blocks of about this size (bounds before exact distances)
PRUNE_SLACK_MM = 1e-4  # the bounds' rounding (squared norms of <= 1 m coordinates), kept on the safe side
Progress = Callable[[float, str], None]


def structure_field(structure: Structure, grid: Volume, margin_mm: float = FIELD_MARGIN_MM) -> CropField:
    """The signed distance field of one structure on its box + `margin_mm`.

    Axes much finer than the coarsest (thin slices) are subsampled to about its spacing, as
    the readouts' bone fields are: the field is no sharper than that and it is set up faster.
    """
    spacing_kji = np.asarray(grid.spacing[::-1])
    margin = np.ceil(margin_mm / spacing_kji).astype(int)
    lo = np.maximum(0, np.asarray(structure.start_kji) - margin)
    hi = np.minimum(grid.array.shape, np.asarray(structure.start_kji) + structure.box_mask.shape + margin)
    step = np.maximum(1, np.round(spacing_kji.max() / spacing_kji)).astype(int)
    crop = np.zeros(tuple(hi - lo), dtype=bool)
    inner = tuple(slice(s - l, s - l + n) for s, l, n in zip(structure.start_kji, lo, structure.box_mask.shape))
    crop[inner] = structure.box_mask
    coarse = crop[::step[0], ::step[1], ::step[2]]
    if coarse.any():
        values = signed_distance_mm(coarse, (spacing_kji * step)[::-1])
    else:  # an edited-away structure: "far" everywhere
        values = np.full(coarse.shape, margin_mm, np.float32)
    kji = np.argwhere(structure.box_mask)
    centre_kji = (kji.mean(axis=0) if len(kji) else np.asarray(structure.box_mask.shape) / 2) + structure.start_kji
    centroid = grid.index_to_lps(np.asarray(centre_kji, dtype=float)[::-1])
    return CropField(values.astype(np.float32, copy=False), tuple(int(v) for v in lo), grid, centroid,
                     structure.name, tuple(int(s) for s in step))


def voxel_frame_scale(grid: Volume) -> np.ndarray:
    """Per-axis (i, j, k) mm of one index step: `index * scale` is a frame in true mm.

    The column norms of direction * spacing, i.e. the spacing for the orthonormal direction
    matrices of CT (ITK's convention; a sheared matrix would make voxels parallelepipeds).
    """
    return np.linalg.norm(np.asarray(grid.direction, dtype=float) * np.asarray(grid.spacing)[None, :], axis=0)


def boundary_voxels(box_mask: np.ndarray) -> np.ndarray:
    """[k, j, i] indices of the voxels of a mask with a 6-neighbour outside it (off the box counts as outside)."""
    padded = np.pad(np.asarray(box_mask, dtype=bool), 1)
    inner = (slice(1, -1),) * 3
    interior = padded[inner].copy()
    for axis in range(3):
        for shifted in (slice(None, -2), slice(2, None)):
            interior &= padded[tuple(shifted if a == axis else slice(1, -1) for a in range(3))]
    return np.argwhere(box_mask & ~interior)


@dataclass(frozen=True, eq=False)
class VoxelSurface:
    """A structure's boundary voxels as boxes in the grid's mm frame (`index * scale`), grouped in blocks.

    An outside point's nearest point of the union of the voxels lies on a boundary voxel, so
    these boxes are all the exact distance needs; `box_mask` tells inside from outside.
    Voxels are stored block by block: block b holds centres_mm[block_start[b]:block_start[b + 1]],
    all inside the sphere of block_points_mm[b] and block_radius_mm[b] (boxes included).
    """

    centres_mm: np.ndarray  # (M, 3) boundary voxel centres, (i, j, k) index * scale, block by block
    centre_norms2: np.ndarray  # (M,) their squared norms (for fast distances to a segment)
    half_mm: np.ndarray  # (3,) half the voxel's size along i, j, k
    smallest_half_mm: float  # min(half_mm): the box holds the ball of this radius around its centre
    half_diagonal_mm: float  # |half_mm|: the box lies in the ball of this radius
    block_start: np.ndarray  # (B + 1,) offsets into centres_mm
    block_points_mm: np.ndarray  # (2B, 3): each block's centre, then the block's voxel centre nearest to it
    block_norms2: np.ndarray  # (2B,) their squared norms
    block_radius_mm: np.ndarray  # (B,)
    box_mask: np.ndarray
    start_kji: tuple[int, int, int]

    @property
    def empty(self) -> bool:
        return len(self.centres_mm) == 0

    def inside(self, voxel_kji: tuple[int, int, int]) -> bool:
        """Whether the grid voxel [k, j, i] belongs to the mask."""
        local = tuple(v - s for v, s in zip(voxel_kji, self.start_kji))
        return all(0 <= v < n for v, n in zip(local, self.box_mask.shape)) and bool(self.box_mask[local])

    def members(self, blocks: np.ndarray) -> np.ndarray:
        """Indices into centres_mm of the voxels of `blocks`."""
        starts = self.block_start[blocks]
        counts = self.block_start[blocks + 1] - starts
        return np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))


def structure_surface(structure: Structure, grid: Volume, block_mm: float = BLOCK_MM) -> VoxelSurface:
    """The boundary voxels of one structure, grouped in blocks of about `block_mm`, ready for exact distances."""
    scale = voxel_frame_scale(grid)
    half = scale / 2.0
    kji = boundary_voxels(structure.box_mask)
    block_vox = np.maximum(1, np.round(block_mm / scale[::-1])).astype(np.int64)  # k, j, i
    key = np.ravel_multi_index((kji // block_vox).T, tuple(np.asarray(structure.box_mask.shape) // block_vox + 1))
    order = np.argsort(key, kind="stable")
    key, kji = key[order], kji[order] + np.asarray(structure.start_kji)
    centres = np.ascontiguousarray(kji[:, ::-1] * scale, dtype=float)
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
    if len(first):
        lo = np.minimum.reduceat(centres, first, axis=0) - half
        hi = np.maximum.reduceat(centres, first, axis=0) + half
    else:
        lo = hi = np.zeros((0, 3))
    block_centres = (lo + hi) / 2.0
    block_of = np.repeat(np.arange(len(first)), np.diff(np.r_[first, len(centres)]))
    order = np.lexsort((np.linalg.norm(centres - block_centres[block_of], axis=1), block_of))
    nearest = order[np.flatnonzero(np.r_[True, block_of[order][1:] != block_of[order][:-1]])] if len(order) else order
    points = np.vstack([block_centres, centres[nearest]])
    return VoxelSurface(centres, np.einsum("ij,ij->i", centres, centres), half, float(half.min()),
                        float(np.linalg.norm(half)),
                        np.r_[first, len(centres)].astype(np.int64), points, np.einsum("ij,ij->i", points, points),
                        np.linalg.norm(hi - lo, axis=1) / 2.0, structure.box_mask,
                        tuple(int(v) for v in structure.start_kji))


class DistanceFields:
    """Signed distance fields and voxel surfaces of structures on one grid, cached by mask content
    (thread-safe cache)."""

    def __init__(self, grid: Volume, margin_mm: float = FIELD_MARGIN_MM) -> None:
        self.grid = grid
        self.margin_mm = float(margin_mm)
        self.scale = voxel_frame_scale(grid)
        self._fields: dict[str, CropField] = {}
        self._surfaces: dict[str, VoxelSurface] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._fields)

    def cached(self, structure: Structure) -> CropField | None:
        with self._lock:
            return self._fields.get(structure.mask_hash)

    def field(self, structure: Structure) -> CropField:
        """The structure's field, computed now if it is not cached yet."""
        found = self.cached(structure)
        if found is not None:
            return found
        computed = structure_field(structure, self.grid, self.margin_mm)
        with self._lock:  # two threads may both compute it; the first stored wins
            return self._fields.setdefault(structure.mask_hash, computed)

    def cached_surface(self, structure: Structure) -> VoxelSurface | None:
        with self._lock:
            return self._surfaces.get(structure.mask_hash)

    def surface(self, structure: Structure) -> VoxelSurface:
        """The structure's boundary voxels (exact needle distances), built now if not cached yet."""
        found = self.cached_surface(structure)
        if found is not None:
            return found
        computed = structure_surface(structure, self.grid)
        with self._lock:
            return self._surfaces.setdefault(structure.mask_hash, computed)

    def prepare(self, structures: Iterable[Structure], progress: Progress | None = None) -> None:
        """Compute the fields and surfaces of `structures` now (slow once; meant for a worker thread)."""
        todo = [s for s in structures if self.cached(s) is None or self.cached_surface(s) is None]
        for done, structure in enumerate(todo):
            if progress is not None:
                progress(done / len(todo), f"Distance field of {structure.name}")
            self.field(structure)
            self.surface(structure)
        if progress is not None:
            progress(1.0, "Distance fields ready")

    def forget_except(self, structures: Iterable[Structure]) -> None:
        """Drop the fields and surfaces of masks no longer in use (after edits), to free memory."""
        keep = {s.mask_hash for s in structures}
        with self._lock:
            for cache in (self._fields, self._surfaces):
                for key in [k for k in cache if k not in keep]:
                    del cache[key]


@dataclass(frozen=True)
class StructureDistance:
    structure: Structure
    distance_mm: float  # needle outer surface to structure surface; < 0 when the needle enters it
    closest_on_needle_lps: np.ndarray
    closest_on_structure_lps: np.ndarray
    depth_mm: float  # along the needle axis from its start to the closest axis point


def needle_samples(start_lps, end_lps, step_mm: float = NEEDLE_SAMPLE_STEP_MM) -> np.ndarray:
    """Points every <= step_mm from start to end, both included (N, 3)."""
    start, end = np.asarray(start_lps, dtype=float), np.asarray(end_lps, dtype=float)
    n = max(2, int(math.ceil(float(np.linalg.norm(end - start)) / step_mm)) + 1)
    return start + np.linspace(0.0, 1.0, n)[:, None] * (end - start)


@dataclass(frozen=True)
class Segment:
    """start + t * direction, t in [0, 1], in the grid's mm frame, with the products its distances reuse."""

    start: np.ndarray
    direction: np.ndarray

    @classmethod
    def between(cls, start, end) -> Segment:
        start = np.asarray(start, dtype=float)
        return cls(start, np.asarray(end, dtype=float) - start)

    @cached_property
    def frame(self) -> np.ndarray:  # (3, 2): p @ frame = (p . start, p . direction)
        return np.column_stack([self.start, self.direction])

    @cached_property
    def products(self) -> tuple[float, float, float]:  # start . start, start . direction, direction . direction
        return (float(self.start @ self.start), float(self.start @ self.direction),
                float(self.direction @ self.direction))

    @cached_property
    def inverse(self) -> np.ndarray:  # 1 / direction, 0 on an axis it does not move along
        with np.errstate(divide="ignore"):
            return np.where(self.direction != 0.0, 1.0 / self.direction, 0.0)

    def point_distances(self, points: np.ndarray, norms2: np.ndarray) -> np.ndarray:
        """Distance to each point (M, 3) -> (M,), given their squared norms: one (M, 3) product and a
        few (M,) operations (for bounds; rounding ~1e-5 mm at 0 for points within 1 m)."""
        start2, start_direction, length2 = self.products
        products = points @ self.frame
        along = products[:, 1] - start_direction  # (p - start) . direction
        squared = norms2 - 2.0 * products[:, 0] + start2  # |p - start|^2
        if length2 > 0.0:
            t = np.minimum(np.maximum(along / length2, 0.0), 1.0)
            squared -= t * (2.0 * along - t * length2)
        return np.sqrt(np.maximum(squared, 0.0))


def segment_box_distances(segment: Segment, centres: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact distance from the segment to each axis-aligned box (centres (M, 3), half-sizes (3,)), and
    the t where it is reached: (M,), (M,).

    Along the segment each axis is, between the t where it crosses a face plane, either within
    the box's slab (no contribution) or outside it by a linear amount, so the squared distance
    is a quadratic on each of <= 7 pieces: minimise each in closed form, keep the least.
    """
    direction, inverse = segment.direction, segment.inverse  # an axis parallel to the segment: no crossing
    rel = segment.start - centres  # (M, 3)
    knots = np.empty((len(rel), 8))
    knots[:, 0], knots[:, 7] = 0.0, 1.0
    knots[:, 1:4] = (half - rel) * inverse
    knots[:, 4:7] = (-half - rel) * inverse
    np.clip(knots, 0.0, 1.0, out=knots)
    knots.sort(axis=1)
    lo, hi = knots[:, :-1], knots[:, 1:]  # (M, 7) pieces
    offset = rel[:, None, :] + (0.5 * (lo + hi))[..., None] * direction  # mid-piece, (M, 7, 3)
    side = (offset > half).astype(float) - (offset < -half)  # +1 / -1: beyond that face, 0: within the slab
    outside = np.abs(side)
    linear = rel[:, None, :] * outside - side * half  # outside the box by linear + t * direction on each axis
    a = outside @ (direction * direction)
    b = 2.0 * (linear @ direction)
    c = np.einsum("mpk,mpk->mp", linear, linear)
    t = np.divide(-b, 2.0 * a, out=lo.copy(), where=a > 0.0)
    np.minimum(np.maximum(t, lo, out=t), hi, out=t)
    squared = (a * t + b) * t + c
    best = np.argmin(squared, axis=1)
    rows = np.arange(len(rel))
    return np.sqrt(np.maximum(squared[rows, best], 0.0)), t[rows, best]


def candidate_boxes(surface: VoxelSurface, segment: Segment) -> np.ndarray:
    """Centres (K, 3) of the structure's boundary boxes that can be nearest to the segment (K >= 1).

    A box with centre c lies within [d(c) - |h|, d(c) - min h] of the segment (d: distance to
    the segment; the box holds the ball of radius min h and lies in the one of |h|), and a
    block's boxes no nearer than d(block centre) - its radius. Take an upper bound U from the
    voxel of each block nearest its centre, keep the blocks and then the voxels whose lower
    bound is <= U: the nearest box is among them.
    """
    blocks = len(surface.block_radius_mm)
    distance = segment.point_distances(surface.block_points_mm, surface.block_norms2)
    upper = float(distance[blocks:].min()) - surface.smallest_half_mm + PRUNE_SLACK_MM  # a box no farther
    voxels = surface.members(np.flatnonzero(distance[:blocks] - surface.block_radius_mm <= upper))
    centre_distance = segment.point_distances(surface.centres_mm[voxels], surface.centre_norms2[voxels])
    upper = min(upper, float(centre_distance.min()) - surface.smallest_half_mm + PRUNE_SLACK_MM)
    return surface.centres_mm[voxels[centre_distance - surface.half_diagonal_mm <= upper]]


def exact_segment_distances(surfaces: list[VoxelSurface], segment: Segment, half: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (non-empty) surface: the distance (mm) from the segment (grid mm frame) to the union of its voxel
    boxes (0 when the segment touches them), the segment's t there and the closest point on the boxes:
    (S,), (S,), (S, 3). The candidates of all surfaces are measured in one pass (same grid, same boxes).
    """
    candidates = [candidate_boxes(surface, segment) for surface in surfaces]
    if not candidates:
        return np.zeros(0), np.zeros(0), np.zeros((0, 3))
    owner = np.repeat(np.arange(len(candidates)), [len(c) for c in candidates])
    centres = np.concatenate(candidates)
    distance, t = segment_box_distances(segment, centres, half)
    order = np.lexsort((distance, owner))
    best = order[np.flatnonzero(np.r_[True, owner[order][1:] != owner[order][:-1]])]  # the least of each
    points = segment.start + t[best, None] * segment.direction
    closest = np.minimum(np.maximum(points, centres[best] - half), centres[best] + half)
    return distance[best], t[best], closest


def needle_structure_distances(entry_lps, tip_lps, radius_mm: float, fields: DistanceFields,
                               structures: Iterable[Structure]) -> list[StructureDistance]:
    """Distance of a needle (capsule of `radius_mm` around entry -> tip) to each structure, nearest first.

    Outside the structure the distance is exact to its voxels as full boxes (`candidate_boxes`,
    `segment_box_distances`): it never flatters. The closest points are the nearest box point
    and the axis point moved towards it by the radius, so they lie the distance apart. When
    the axis reaches the structure, the distance is the field's least value along the axis
    (clamped to <= 0: how deep) less the radius, and the closest structure point is that axis
    point moved to the field's surface, as before.
    """
    entry, tip = np.asarray(entry_lps, dtype=float), np.asarray(tip_lps, dtype=float)
    grid, scale = fields.grid, fields.scale
    index = grid.lps_to_index(np.stack([entry, tip]))
    segment = Segment.between(*(index * scale))
    entry_voxel = tuple(int(v) for v in np.floor(index[0, ::-1] + 0.5))  # [k, j, i]
    to_lps = grid.index_to_lps_matrix[:3, :3] / scale[None, :]  # grid mm frame -> LPS (less the origin)
    length = math.sqrt(float((tip - entry) @ (tip - entry)))
    radius = float(radius_mm)
    structures = list(structures)
    surfaces = [fields.surface(structure) for structure in structures]
    measured = [i for i, surface in enumerate(surfaces) if not surface.empty]
    gaps, ts, closest_mm = exact_segment_distances([surfaces[i] for i in measured], segment, fields.scale / 2.0)
    exact = {i: (float(gaps[n]), float(ts[n]), closest_mm[n]) for n, i in enumerate(measured)}
    found = []
    for i, structure in enumerate(structures):
        if i not in exact:  # an edited-away structure: the field's "far"
            found.append(_field_distance(structure, fields.field(structure), entry, tip, radius, entered=False))
            continue
        gap, t, closest = exact[i]
        if gap <= 0.0 or surfaces[i].inside(entry_voxel):  # touching, or wholly inside (no boundary crossed)
            found.append(_field_distance(structure, fields.field(structure), entry, tip, radius, entered=True))
            continue
        axis_point = entry + t * (tip - entry)
        on_structure = to_lps @ closest + grid.origin
        towards = on_structure - axis_point
        towards *= radius / max(math.sqrt(float(towards @ towards)), 1e-12)
        found.append(StructureDistance(
            structure=structure,
            distance_mm=gap - radius,
            closest_on_needle_lps=axis_point + towards,
            closest_on_structure_lps=on_structure,
            depth_mm=t * length,
        ))
    return sorted(found, key=lambda d: d.distance_mm)


def _field_distance(structure: Structure, field: CropField, entry: np.ndarray, tip: np.ndarray, radius: float,
                    entered: bool) -> StructureDistance:
    """The field's least value along the axis, sampled (`entered`: the axis is known to reach the
    structure, so the distance is at most -radius)."""
    points = needle_samples(entry, tip)
    values = field.sample(points)
    best = int(np.argmin(values))
    axis_point = points[best]
    on_axis_mm = min(float(values[best]), 0.0) if entered else float(values[best])
    normal = field.gradient(axis_point)  # outward, |g| ~ 1 near the surface
    norm = float(np.linalg.norm(normal))
    normal = normal / norm if norm > 1e-6 else np.zeros(3)
    return StructureDistance(
        structure=structure,
        distance_mm=on_axis_mm - radius,
        closest_on_needle_lps=axis_point - normal * radius,
        closest_on_structure_lps=axis_point - normal * on_axis_mm,
        depth_mm=float(np.linalg.norm(axis_point - points[0])),
    )
