"""Signed distance fields of structures, and the distance of a whole needle to each structure.

A field is the signed distance (mm, negative inside) to a structure's surface, computed by
`bone_fields.signed_distance_mm` (SimpleITK SignedMaurerDistanceMap with image spacing,
not squared) on the structure's bounding box grown by `margin_mm`. Outside that box the
field reads its border value, which is at least about `margin_mm`: beyond the margin a
distance means "at least this far", which is all the thresholds (<= 10 mm) need.

Fields are cached by the mask's content hash, so an edited mask gets a new field and the
old one is simply no longer asked for. `prepare` computes them up front (in a worker
thread, with progress); a field not prepared is computed on first use. A lock guards the
cache, not the computation, so the UI thread can read finished fields meanwhile.

A needle is a capsule: its axis segment with the device's outer radius. Its distance to a
structure is the minimum of the field sampled along the axis (every <= 0.5 mm, trilinear)
less the radius; negative when the needle's surface enters the structure.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from osteoplan.core.imaging.bone_fields import CropField, signed_distance_mm
from osteoplan.core.imaging.volume import Volume
from osteoplan.core.safety.structures import Structure

# Fields reach this far beyond a structure's box: past every threshold in force (<= 10 mm) with
# room to spare; a farther distance reads as "at least this" (half the margin halves set-up time).
FIELD_MARGIN_MM = 25.0
NEEDLE_SAMPLE_STEP_MM = 0.5
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


class DistanceFields:
    """Signed distance fields of structures on one grid, cached by mask content (thread-safe cache)."""

    def __init__(self, grid: Volume, margin_mm: float = FIELD_MARGIN_MM) -> None:
        self.grid = grid
        self.margin_mm = float(margin_mm)
        self._fields: dict[str, CropField] = {}
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

    def prepare(self, structures: Iterable[Structure], progress: Progress | None = None) -> None:
        """Compute the fields of `structures` now (slow once; meant for a worker thread)."""
        todo = [s for s in structures if self.cached(s) is None]
        for done, structure in enumerate(todo):
            if progress is not None:
                progress(done / len(todo), f"Distance field of {structure.name}")
            self.field(structure)
        if progress is not None:
            progress(1.0, "Distance fields ready")

    def forget_except(self, structures: Iterable[Structure]) -> None:
        """Drop the fields of masks no longer in use (after edits), to free memory."""
        keep = {s.mask_hash for s in structures}
        with self._lock:
            for key in [k for k in self._fields if k not in keep]:
                del self._fields[key]


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


def needle_structure_distances(entry_lps, tip_lps, radius_mm: float, fields: DistanceFields,
                               structures: Iterable[Structure]) -> list[StructureDistance]:
    """Distance of a needle (capsule of `radius_mm` around entry -> tip) to each structure, nearest first.

    The closest point on the structure is the closest axis point moved against the field's
    gradient by the field's value; on the needle, the same axis point moved towards it by the
    radius. No distance transform here: only samples of cached fields.
    """
    points = needle_samples(entry_lps, tip_lps)
    found = []
    for structure in structures:
        field = fields.field(structure)
        values = field.sample(points)
        best = int(np.argmin(values))
        axis_point = points[best]
        on_axis_mm = float(values[best])
        normal = field.gradient(axis_point)  # outward, |g| ~ 1 near the surface
        norm = float(np.linalg.norm(normal))
        normal = normal / norm if norm > 1e-6 else np.zeros(3)
        found.append(StructureDistance(
            structure=structure,
            distance_mm=on_axis_mm - float(radius_mm),
            closest_on_needle_lps=axis_point - normal * float(radius_mm),
            closest_on_structure_lps=axis_point - normal * on_axis_mm,
            depth_mm=float(np.linalg.norm(axis_point - points[0])),
        ))
    return sorted(found, key=lambda d: d.distance_mm)
