"""Bone, body and lesion masks of a case and signed distance fields of bones, computed once and cached.

Shared by the readouts (bone path, skin depth, anchorage, pedicle breach) and the path
templates (pedicle alignment). Bone comes from the label map when it has bone structures
(TotalSegmentator names: ``vertebrae_*``, ``femur_*``, ``hip_*``, ``sacrum``, ``rib_*``...);
a lesion touching a bone counts as inside that bone (a lytic metastasis replaces bone).
Without bone labels, bone is CT >= the cancellous-bone HU threshold, closed and hole-filled.

The body is everything inside the skin: CT > -300 HU with its holes (lungs, bowel gas)
filled in 3-D (found on a ~1.5 mm grid); the first and last slices are closed with a lid
first so that a lung or airway cut by the scan range still counts as a hole.

Distance fields are cut to a structure's box (+ SDF_MARGIN_MM) and, on thin slices,
computed on a grid subsampled to about the in-plane spacing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.tissue import tissue_classes
from osteoplan.core.imaging.volume import Volume

BONE_NAME_PREFIXES = ("vertebrae_", "femur_", "hip_", "sacrum", "rib_", "humerus_", "scapula_", "clavicula_",
                      "sternum", "skull", "tibia", "fibula", "patella")
BODY_THRESHOLD_HU = -300.0  # between lung/air and fat: the skin-air edge of a CT
BODY_COARSE_MM = 1.5  # grid on which the body's holes are filled
SDF_MARGIN_MM = 8.0  # beyond a structure's box; farther points read the border value (>= this: grade E)
SDF_SMOOTHING_VOXELS = 0.7  # Gaussian sigma of the distance field, in voxels
MARROW_WINDOW_MM = 7.0  # in-plane window of the local mean that finds low-density marrow (3 voxels at 3 mm)
MARROW_OWN_MARGIN_HU = 15.0  # how far below the threshold a marrow voxel's own 3 x 3 median may read (noise)
MARROW_GRID_MM = 1.5  # in-plane grid on which low-density marrow is looked for
HU_BLOCK_MM = 40.0  # without bone labels, one distance field per block of this size around the needle tip

BODY_BIT, BONE_BIT, HEALTHY_BONE_BIT = 1, 2, 4  # bits of CaseMasks.bits


def is_bone_name(name: str) -> bool:
    return name.lower().startswith(BONE_NAME_PREFIXES)


def is_lesion_name(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("lesion") or "metasta" in lowered or "tumo" in lowered


def bone_hu_threshold() -> float:
    """The lower bound of cancellous bone in resources/tissue_classes.json."""
    return float(tissue_classes().by_id("cancellous_bone").hu_min)


def signed_distance_mm(mask: np.ndarray, spacing_ijk) -> np.ndarray:
    """Signed distance (mm, negative inside, positive outside) to the surface of a [k, j, i] mask.

    Each side measures to the nearest voxel centre of the other side, less a quarter voxel:
    the surface lies between the two centres, and a single-sided Maurer map (to the
    boundary voxels) is biased by 0.5-1.4 voxels deep inside curved shapes. On spheres and
    oblique cylinders this stays within ~0.2 voxel on average.
    """
    spacing = tuple(float(s) for s in spacing_ijk)

    def distance_to(foreground: np.ndarray) -> np.ndarray:  # > 0 outside `foreground`
        image = sitk.GetImageFromArray(foreground.view(np.uint8))
        image.SetSpacing(spacing)
        return sitk.GetArrayFromImage(sitk.SignedMaurerDistanceMap(
            image, insideIsPositive=False, squaredDistance=False, useImageSpacing=True))

    mask = np.ascontiguousarray(mask, dtype=bool)
    outside_mm = distance_to(mask)
    inside_mm = distance_to(~mask)
    quarter = np.float32(np.mean(spacing) / 4.0)
    distance = sitk.GetImageFromArray(np.where(mask, quarter - inside_mm, outside_mm - quarter).astype(np.float32))
    distance.SetSpacing(spacing)
    # A light blur (0.7 voxel) irons out the staircase of oblique walls, which the max of
    # a breach along a path would otherwise pick up (+0.3-0.5 mm on the phantom's pedicles).
    smooth = sitk.SmoothingRecursiveGaussian(distance, SDF_SMOOTHING_VOXELS * float(np.mean(spacing)))
    return sitk.GetArrayFromImage(smooth)


@dataclass(frozen=True, eq=False)
class CropField:
    """A scalar field on a box of the case grid (voxels [k0:, j0:, i0:]), sampled trilinearly in LPS mm."""

    values: np.ndarray  # float32 [k, j, i]
    start_kji: tuple[int, int, int]
    grid: Volume  # the case grid the box is cut from
    centroid_lps: np.ndarray  # of the structure the field measures
    name: str = ""
    step_kji: tuple[int, int, int] = (1, 1, 1)  # values[a, b, c] is case voxel start + step * (a, b, c)

    def sample(self, points_lps) -> np.ndarray:
        points = np.asarray(points_lps, dtype=float)
        kji = self.grid.lps_to_index(points.reshape(-1, 3))[:, ::-1] - np.asarray(self.start_kji, dtype=float)
        kji /= np.asarray(self.step_kji, dtype=float)
        values = ndimage.map_coordinates(self.values, kji.T, order=1, mode="nearest")
        return values.reshape(points.shape[:-1])

    def gradient(self, point_lps, step_mm: float = 0.5) -> np.ndarray:
        """Central-difference gradient (unit-less, ~1 near the surface) at one LPS point."""
        offsets = np.vstack([np.eye(3), -np.eye(3)]) * step_mm
        values = self.sample(np.asarray(point_lps, dtype=float)[None, :] + offsets)
        return (values[:3] - values[3:]) / (2 * step_mm)


def _box_with_margin(lo_kji, hi_kji, margin_vox, shape) -> tuple[slice, slice, slice]:
    return tuple(slice(max(0, int(lo) - m), min(int(n), int(hi) + m))
                 for lo, hi, m, n in zip(lo_kji, hi_kji, margin_vox, shape))  # type: ignore[return-value]


class BoneStructures:
    """Bone and lesion labels of a case, their boxes, and one signed distance field per bone (cached)."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.grid = case.ct
        names = case.labels.names if case.labels is not None else {}
        self.labels = case.labels.volume.array if case.labels is not None else None
        self.bone_values = sorted(v for v, n in names.items() if is_bone_name(n))
        self.lesion_values = sorted(v for v, n in names.items() if is_lesion_name(n))
        self.names = dict(names)
        self._fields: dict[object, CropField] = {}

    @property
    def has_bone_labels(self) -> bool:
        return self.labels is not None and bool(self.bone_values)

    def value_of(self, name: str) -> int | None:
        return next((v for v, n in self.names.items() if n == name), None)

    @cached_property
    def boxes(self) -> list[tuple[slice, slice, slice] | None]:
        """Bounding box of every label value (index = value - 1), one pass over the label map."""
        labels = self.labels
        if labels is None:
            return []
        if labels.dtype.kind not in "iu" or labels.min() < 0:
            labels = np.clip(labels, 0, None).astype(np.int32)
        return ndimage.find_objects(labels)

    def not_bone(self, crop=(slice(None),) * 3) -> np.ndarray | None:
        """Voxels (of `crop`) a label calls something other than bone or lesion (e.g. the spinal canal):
        never counted as bone from their HU. None without a label map."""
        if self.labels is None:
            return None
        other = [v for v, n in self.names.items() if v not in self.bone_values and v not in self.lesion_values]
        return np.isin(self.labels[crop], other) if other else None

    def box(self, value: int) -> tuple[slice, slice, slice] | None:
        return self.boxes[value - 1] if 0 < value <= len(self.boxes) else None

    def _margin_vox(self, margin_mm: float) -> tuple[int, int, int]:
        return tuple(int(np.ceil(margin_mm / s)) for s in self.grid.spacing[::-1])  # type: ignore[return-value]

    def structure_mask(self, value: int, margin_mm: float = SDF_MARGIN_MM) -> tuple[np.ndarray, tuple[int, int, int]]:
        """[k, j, i] mask of one bone label plus the lesions touching it, on its box grown by `margin_mm`."""
        assert self.labels is not None
        own = self.box(value)
        if own is None:
            raise ValueError(f"label {value} is not in the label map")
        lo = np.array([s.start for s in own])
        hi = np.array([s.stop for s in own])
        for lesion in self.lesion_values:  # grow the box over lesions that overlap it
            box = self.box(lesion)
            if box is not None and all(b.start <= h and b.stop >= l for b, l, h in zip(box, lo, hi)):
                lo = np.minimum(lo, [b.start for b in box])
                hi = np.maximum(hi, [b.stop for b in box])
        crop = _box_with_margin(lo, hi, self._margin_vox(margin_mm), self.labels.shape)
        labels = self.labels[crop]
        mask = labels == value
        if self.lesion_values:
            lesion = np.isin(labels, self.lesion_values)
            if lesion.any():
                components, _ = ndimage.label(lesion)
                touching = np.unique(components[ndimage.binary_dilation(mask) & lesion])
                mask |= np.isin(components, touching[touching > 0])
        return mask, tuple(s.start for s in crop)  # type: ignore[return-value]

    def nearest_label(self, point_lps, values, radius_mm: float = 20.0) -> int | None:
        """The label among `values` with a voxel nearest to `point_lps` (within `radius_mm`), or None."""
        if self.labels is None or not len(values):
            return None
        centre = np.floor(self.grid.lps_to_index(point_lps) + 0.5).astype(int)[::-1]
        r = self._margin_vox(radius_mm)
        crop = _box_with_margin(centre, centre + 1, r, self.labels.shape)
        if any(s.start >= s.stop for s in crop):
            return None
        labels = self.labels[crop]
        hits = np.argwhere(np.isin(labels, values))
        if len(hits) == 0:
            return None
        offset = np.array([s.start for s in crop])
        lps = self.grid.index_to_lps((hits + offset)[:, ::-1])
        distance = np.linalg.norm(lps - np.asarray(point_lps, dtype=float), axis=1)
        best = int(np.argmin(distance))
        if distance[best] > radius_mm:
            return None
        return int(labels[tuple(hits[best])])

    def field_of_label(self, value: int) -> CropField:
        """Signed distance field of one bone (+ its lesions), computed once."""
        if value not in self._fields:
            mask, start = self.structure_mask(value)
            self._fields[value] = self.field_from_mask(mask, start, self.names.get(value, f"label_{value}"))
        return self._fields[value]

    def field_near(self, point_lps, target_structure: str | None = None) -> CropField | None:
        """The distance field of the bone a needle tip at `point_lps` is in (or aims at).

        `target_structure` (a label name) wins when it names a bone; else the bone label
        nearest the point; without bone labels, the HU bone mask of the block around it.
        """
        if self.has_bone_labels:
            value = self.value_of(target_structure) if target_structure else None
            if value is None or value not in self.bone_values:
                value = self.nearest_label(point_lps, self.bone_values)
            if value is not None:
                return self.field_of_label(value)
            automatic = self.case.automatic is not None and bool(self.case.automatic.values)
            return self._hu_field_near(point_lps) if automatic else None  # beside automatic vertebrae: the CT's bone
        return self._hu_field_near(point_lps)

    def _hu_field_near(self, point_lps) -> CropField | None:
        """The HU bone's field of the block around the point; None when the point lies outside the CT (no bone
        to measure a needle against there)."""
        block_vox = np.maximum(1, np.round(HU_BLOCK_MM / np.asarray(self.grid.spacing[::-1]))).astype(int)
        index = self.grid.lps_to_index(point_lps)
        if not self.grid.contains_index(index):
            return None
        centre = np.floor(index + 0.5).astype(int)[::-1]
        key = ("hu", *(centre // block_vox))
        if key not in self._fields:
            lo = (centre // block_vox) * block_vox
            crop = _box_with_margin(lo - block_vox // 2, lo + block_vox + block_vox // 2, (0, 0, 0),
                                    self.grid.array.shape)
            mask = hu_bone_mask(self.grid.array[crop], self.grid.spacing[::-1], self.not_bone(crop))
            self._fields[key] = self.field_from_mask(mask, tuple(s.start for s in crop), "bone")
        return self._fields[key]

    def field_from_mask(self, mask: np.ndarray, start_kji, name: str) -> CropField:
        """The signed distance field of a [k, j, i] mask cut from the case grid at `start_kji`.

        Axes much finer than the coarsest (thin slices) are subsampled to about its spacing:
        the field is no sharper than that, and it halves the set-up on 0.3 mm slices.
        """
        spacing = np.asarray(self.grid.spacing[::-1])  # k, j, i
        step = np.maximum(1, np.round(spacing.max() / spacing)).astype(int)
        coarse = mask[::step[0], ::step[1], ::step[2]]
        values = signed_distance_mm(coarse, (spacing * step)[::-1]) if coarse.any() else np.full(
            coarse.shape, SDF_MARGIN_MM, np.float32)
        kji = np.argwhere(mask)
        centre_kji = kji.mean(axis=0) + start_kji if len(kji) else np.asarray(mask.shape) / 2 + start_kji
        centroid = self.grid.index_to_lps(np.asarray(centre_kji, dtype=float)[::-1])
        return CropField(values, tuple(int(s) for s in start_kji), self.grid, centroid, name,
                         tuple(int(s) for s in step))


BALL_1 = ndimage.generate_binary_structure(3, 2)  # ITK's ball of radius 1: the centre and its 18 neighbours


def _closed_in_its_box(mask: np.ndarray) -> np.ndarray:
    """A binary closing by a ball of radius 1, on the mask's bounding box only (padded so that nothing is eroded at
    the image's edge, as ITK's safe border does): the same voxels as ITK's BinaryMorphologicalClosing, ~4x faster
    on a real CT (bone fills a part of the image)."""
    found = [np.flatnonzero(mask.any(axis=axes)) for axes in ((1, 2), (0, 2), (0, 1))]
    if any(len(f) == 0 for f in found):
        return mask.copy()
    box = tuple(slice(max(0, f[0] - 2), f[-1] + 3) for f in found)
    closed = np.zeros(mask.shape, bool)
    closed[box] = ndimage.binary_closing(np.pad(mask[box], 2), structure=BALL_1)[2:-2, 2:-2, 2:-2]
    return closed


def hu_bone_mask(hu: np.ndarray, spacing_kji=(1.0, 1.0, 1.0), not_bone: np.ndarray | None = None) -> np.ndarray:
    """Bone from CT alone: >= the cancellous threshold, closed (1 voxel), with the (osteoporotic) marrow
    attached to it (`low_density_marrow`) and its enclosed holes filled; `not_bone`: voxels known to be
    something else (e.g. the spinal canal), left out."""
    closed = _closed_in_its_box(hu >= bone_hu_threshold())
    closed |= low_density_marrow(hu, closed, spacing_kji)
    if not_bone is not None:
        closed &= ~not_bone
    image = sitk.BinaryFillhole(sitk.GetImageFromArray(closed.view(np.uint8)), False, 1)
    filled = sitk.GetArrayFromImage(image).astype(bool)
    return filled & ~not_bone if not_bone is not None else filled


def low_density_marrow(hu: np.ndarray, bone: np.ndarray, spacing_kji=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Cancellous bone below the cancellous class (osteoporosis: 80-150 HU): voxels whose in-plane local
    mean (over MARROW_WINDOW_MM, which irons out the noise of one voxel) and own 3 x 3 median reach the
    enclosed-cancellous threshold, less the thin strands an in-plane opening removes, in components that
    touch `bone`. Muscle (30-60 HU), fat and CSF stay below it; an intervertebral disc (80-110 HU) may
    not, at its edges. Found on a grid of about MARROW_GRID_MM in-plane (marrow regions are large; a
    512 x 512 x 400 CT takes ~1 s) and brought back to the CT's grid."""
    hu_min = tissue_classes().enclosed_cancellous.hu_min
    pixel = float(np.mean(spacing_kji[1:]))
    factor = max(1, int(round(MARROW_GRID_MM / pixel)))
    values = hu[:, ::factor, ::factor].astype(np.float32)
    size = max(3, int(round(MARROW_WINDOW_MM / (pixel * factor))) | 1)
    mean = ndimage.uniform_filter(values, size=(1, size, size))
    # near cortex the wide mean is high for any neighbour: the voxel's own neighbourhood must be denser than
    # soft tissue too, so that bone does not grow into the canal, muscle or fat beside it
    own = ndimage.median_filter(values, size=(1, 3, 3)) >= hu_min - MARROW_OWN_MARGIN_HU
    candidate = ndimage.binary_opening((mean >= hu_min) & own, structure=np.ones((1, 3, 3), bool))
    labels, _ = ndimage.label(candidate)
    touching = np.unique(labels[candidate & bone[:, ::factor, ::factor]])
    found = np.isin(labels, touching[touching > 0])
    if factor > 1:
        found = np.repeat(np.repeat(found, factor, axis=1), factor, axis=2)[:, :hu.shape[1], :hu.shape[2]]
    return found


def body_mask(ct: Volume) -> np.ndarray:
    """Inside the skin: CT > BODY_THRESHOLD_HU with its holes filled (lids on the first/last slices).

    The holes are found on a grid of about BODY_COARSE_MM (the body wall is far thicker),
    which is 3-4x faster on a 512 x 512 x 400 CT; the full-resolution threshold still draws
    the skin: only air next to the outside region found coarsely counts as outside.
    """
    inside = ct.array > BODY_THRESHOLD_HU
    factors = tuple(max(1, int(BODY_COARSE_MM // s)) for s in ct.spacing[::-1])  # k, j, i
    coarse = inside[::factors[0], ::factors[1], ::factors[2]]
    image = sitk.ConstantPad(sitk.GetImageFromArray(coarse.view(np.uint8)), (0, 0, 1), (0, 0, 1), 1)
    outside = sitk.GetArrayFromImage(sitk.BinaryFillhole(image, False, 1))[1:-1] == 0
    if factors == (1, 1, 1):
        return ~outside
    outside = ndimage.binary_dilation(outside)  # reach the fine air voxels hugging the skin
    fk, fj, fi = factors
    _, rows, columns = inside.shape
    body = np.empty_like(inside)
    for k, coarse_slice in enumerate(outside):  # slice by slice: a whole-volume upsampling is 3x slower
        fine = np.repeat(np.repeat(coarse_slice, fj, axis=0), fi, axis=1)[:rows, :columns]
        block = slice(k * fk, (k + 1) * fk)
        np.logical_or(inside[block], ~fine, out=body[block])
    return body


class CaseMasks:
    """Body, bone and healthy-bone masks packed as bits of one uint8 volume (one byte per voxel)."""

    def __init__(self, case: Case, structures: BoneStructures | None = None) -> None:
        self.grid = case.ct
        structures = structures or BoneStructures(case)
        bits = body_mask(case.ct).view(np.uint8) * np.uint8(BODY_BIT)
        if structures.has_bone_labels:
            labels = structures.labels
            assert labels is not None
            top = max(max(structures.names, default=0), int(labels.max()))
            lut = np.zeros(top + 1, dtype=np.uint8)
            lut[structures.bone_values] = BONE_BIT | HEALTHY_BONE_BIT
            bits |= lut[labels if labels.dtype.kind == "u" else np.clip(labels, 0, None)]
            self._add_lesions_in_bone(structures, bits)
            automatic = case.automatic.values if case.automatic is not None else frozenset()
            if automatic & set(structures.bone_values):  # automatic vertebrae: the other bones still count
                bone = hu_bone_mask(case.ct.array, case.ct.spacing[::-1], structures.not_bone())
                bits |= bone.view(np.uint8) * np.uint8(BONE_BIT | HEALTHY_BONE_BIT)
        else:
            bone = hu_bone_mask(case.ct.array, case.ct.spacing[::-1], structures.not_bone())
            bits |= bone.view(np.uint8) * np.uint8(BONE_BIT | HEALTHY_BONE_BIT)
        self.bits = bits
        self._flat = bits.reshape(-1)
        self._strides = np.array([bits.shape[1] * bits.shape[2], bits.shape[2], 1])  # k, j, i

    @staticmethod
    def _add_lesions_in_bone(structures: BoneStructures, bits: np.ndarray) -> None:
        """Lesion components touching bone are inside the bone (not healthy bone)."""
        labels = structures.labels
        for value in structures.lesion_values:
            box = structures.box(value)
            if box is None:
                continue
            crop = _box_with_margin([s.start for s in box], [s.stop for s in box], (1, 1, 1), labels.shape)
            lesion = labels[crop] == value
            bone = (bits[crop] & HEALTHY_BONE_BIT) > 0
            components, _ = ndimage.label(lesion)
            touching = np.unique(components[ndimage.binary_dilation(bone) & lesion])
            bits[crop] |= (np.isin(components, touching[touching > 0]) * BONE_BIT).astype(np.uint8)

    def fractions(self, points_lps) -> np.ndarray:
        """Trilinear fraction (0..1) of (body, bone, healthy bone) at each point (N, 3) -> (N, 3); 0 off the grid."""
        points = np.asarray(points_lps, dtype=float).reshape(-1, 3)
        kji = self.grid.lps_to_index(points)[:, ::-1]
        shape = np.asarray(self.bits.shape)
        base = np.floor(kji).astype(np.int64)
        frac = kji - base
        out = np.zeros((len(points), 3))
        for corner in np.ndindex(2, 2, 2):
            idx = base + corner
            valid = np.all((idx >= 0) & (idx < shape), axis=1)
            weight = np.prod(np.where(corner, frac, 1.0 - frac), axis=1) * valid
            values = self._flat[np.where(valid, np.clip(idx, 0, shape - 1) @ self._strides, 0)]
            for column, bit in enumerate((BODY_BIT, BONE_BIT, HEALTHY_BONE_BIT)):
                out[:, column] += weight * ((values & bit) > 0)
        return out
