"""Undoable edits of a session's critical structures: brush/eraser, threshold fill, add, delete,
rename, recolour, category, thresholds, visibility, opacity, automatic skin/bone.

Every edit is a `ReplaceStructures` command on the session's one undo stack
(`session.history`) holding the old and the new `StructureSet` (structures are immutable and
shared between sets, so a command costs the masks it changed). A brush stroke is grouped by
the caller: ``with session.history.group("Paint"): editor.paint(...) ...``; successive paint
(or erase, or fill) commands on one structure inside a group merge into one step.

Brush geometry: the voxels whose centres lie within `radius_mm` of the centre — a ball, or
with `plane_normal` a disc one voxel thick (the slice view's plane through the centre). The
voxel nearest the centre is always included, so a brush smaller than a voxel still paints.
Invalid edits raise `StructureEditError` and change nothing; edits that change nothing
(painting where it is painted already, outside the image) record nothing and return False.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import ndimage

from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.imaging.anatomy import category_of, structure_categories
from osteoplan.core.imaging.volume import Volume
from osteoplan.core.planning.plan import AutoStructures
from osteoplan.core.safety.structure_state import apply_edits, from_rgb255, record_edits
from osteoplan.core.safety.structures import Structure, StructureSet, category_color

MAX_NAME_LENGTH = 128
MAX_THRESHOLD_MM = 1000.0


class StructureEditError(OsteoPlanError, ValueError):
    """An edit of the structures that cannot be made; the message says why."""


@dataclass
class ReplaceStructures:
    """Any change of the structure set: old set -> new set (and the automatic switches)."""

    session: Any
    old: StructureSet
    new: StructureSet
    label: str
    merge_key: tuple | None = None
    old_auto: AutoStructures | None = None
    new_auto: AutoStructures | None = None

    def do(self) -> None:
        self.session.set_structures(self.new, auto=self.new_auto)

    def undo(self) -> None:
        self.session.set_structures(self.old, auto=self.old_auto)

    def merge(self, later) -> bool:
        """Successive dabs of one brush on one structure in a gesture collapse into one step."""
        if (isinstance(later, ReplaceStructures) and self.merge_key is not None and later.merge_key == self.merge_key
                and later.label == self.label):
            self.new, self.new_auto = later.new, later.new_auto
            return True
        return False


# --- geometry --------------------------------------------------------------------------------
def _point(value, what: str) -> np.ndarray:
    point = np.asarray(value, dtype=float).reshape(-1)
    if point.shape != (3,) or not np.all(np.isfinite(point)):
        raise StructureEditError(f"{what} must be 3 finite numbers (LPS mm), got {value!r}")
    return point


def _radius(value) -> float:
    radius = float(value)
    if not math.isfinite(radius) or radius < 0 or radius > 500:
        raise StructureEditError(f"the brush radius must be a finite number of mm in 0..500, got {value!r}")
    return radius


def brush_region(grid: Volume, center_lps, radius_mm: float, plane_normal=None):
    """(box slices [k, j, i], bool mask of the box) of the brush, or None when it misses the image."""
    center, radius = _point(center_lps, "the brush centre"), _radius(radius_mm)
    ijk = grid.lps_to_index(center)
    half = radius / np.asarray(grid.spacing) + 1
    lo = np.maximum(np.floor(ijk - half).astype(int), 0)
    hi = np.minimum(np.ceil(ijk + half).astype(int) + 1, np.asarray(grid.size))
    if np.any(hi <= lo):
        return None
    k, j, i = np.meshgrid(*(np.arange(lo[a], hi[a]) for a in (2, 1, 0)), indexing="ij")
    offset = grid.index_to_lps(np.stack([i, j, k], axis=-1).astype(float)) - center
    if plane_normal is None:
        region = np.einsum("...a,...a->...", offset, offset) <= radius * radius
    else:
        normal = _point(plane_normal, "the brush plane's normal")
        if np.linalg.norm(normal) < 1e-9:
            raise StructureEditError("the brush plane's normal must not be zero")
        normal = normal / np.linalg.norm(normal)
        along = offset @ normal
        in_plane = offset - along[..., None] * normal
        half_voxel = 0.5 * float(np.sum(np.asarray(grid.spacing) * np.abs(grid.direction.T @ normal)))
        region = (np.einsum("...a,...a->...", in_plane, in_plane) <= radius * radius) & (along >= -half_voxel) \
            & (along < half_voxel)
    nearest = np.floor(ijk + 0.5).astype(int)
    if np.all(nearest >= lo) and np.all(nearest < hi):
        region[tuple((nearest - lo)[::-1])] = True
    box = tuple(slice(int(lo[a]), int(hi[a])) for a in (2, 1, 0))
    return box, region


def edited_structure(structure: Structure, box, region: np.ndarray, erase: bool = False) -> Structure:
    """The structure with `region` (a bool mask of the grid box `box`) added or erased; cut to its new box."""
    starts = [structure.start_kji, tuple(s.start for s in box)] if not structure.empty else [tuple(s.start for s in box)]
    stops = [tuple(a + n for a, n in zip(structure.start_kji, structure.box_mask.shape))] if not structure.empty else []
    stops.append(tuple(s.stop for s in box))
    lo, hi = np.min(starts, axis=0), np.max(stops, axis=0)
    work = np.zeros(tuple(hi - lo), bool)
    if not structure.empty:
        work[tuple(slice(s - l, s - l + n) for s, l, n in zip(structure.start_kji, lo, structure.box_mask.shape))] = \
            structure.box_mask
    target = work[tuple(slice(s.start - l, s.stop - l) for s, l in zip(box, lo))]
    if erase:
        target &= ~region
    else:
        target |= region
    found = ndimage.find_objects(work.view(np.uint8))
    if not found:
        return replace(structure, box_mask=np.zeros((0, 0, 0), bool), start_kji=(0, 0, 0))
    tight = found[0]
    return replace(structure, box_mask=np.ascontiguousarray(work[tight]),
                   start_kji=tuple(int(l + s.start) for l, s in zip(lo, tight)))


# --- the editor -------------------------------------------------------------------------------
class StructureEditor:
    """Undoable edits of `session.structures` (one undo stack: `session.history`)."""

    def __init__(self, session) -> None:
        self.session = session

    @property
    def structures(self) -> StructureSet:
        return self.session.structures

    def _get(self, name: str) -> Structure:
        found = self.structures.get(name)
        if found is None:
            raise StructureEditError(f"there is no structure named {name!r}")
        return found

    def _push(self, new: StructureSet, label: str, merge_key=None, auto: AutoStructures | None = None) -> bool:
        old = self.structures
        old_auto = self.session.plan.structures.auto
        if new.same_as(old) and (auto is None or auto == old_auto):
            return False
        self.session.history.push(ReplaceStructures(self.session, old, new, label, merge_key,
                                                    old_auto if auto is not None else None, auto))
        return True

    def _replace(self, structure: Structure, label: str, merge_key=None, replacing: str | None = None) -> bool:
        return self._push(self.structures.with_structure(structure, replacing), label, merge_key)

    def _new_structure(self, name: str, category: str | None = None) -> Structure:
        name = _valid_name(name)
        if name in self.structures:
            raise StructureEditError(f"a structure named {name!r} exists already; choose another name")
        category = _valid_category(category if category is not None else category_of(name))
        shape = tuple(self.session.case.ct.array.shape)
        return Structure(name, category, np.zeros((0, 0, 0), bool), (0, 0, 0), shape, category_color(category), "user")

    def _target(self, name: str) -> Structure:
        return self.structures.get(name) or self._new_structure(name)

    # --- masks ---------------------------------------------------------------------------------
    def paint(self, name: str, center_lps, radius_mm: float, plane_normal=None, erase: bool = False) -> bool:
        """Add (erase: remove) the brush's voxels to structure `name` (painting creates a user structure)."""
        structure = self._get(name) if erase else self._target(name)
        found = brush_region(self.session.case.ct, center_lps, radius_mm, plane_normal)
        if found is None:
            return False
        label = "Erase" if erase else "Paint"
        return self._replace(edited_structure(structure, *found, erase=erase), f"{label} {structure.name}",
                             ("paint", structure.name, erase))

    def threshold_fill(self, name: str, center_lps, radius_mm: float, low_hu: float, high_hu: float,
                       connected: bool = False) -> bool:
        """Add the voxels within the ball whose CT value lies in [low_hu, high_hu]; with `connected`
        only those connected (26-neighbourhood) to the voxel nearest the centre."""
        low, high = float(low_hu), float(high_hu)
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise StructureEditError(f"the HU range must be two finite numbers, low <= high; got {low_hu!r}..{high_hu!r}")
        structure = self._target(name)
        ct = self.session.case.ct
        found = brush_region(ct, center_lps, radius_mm)
        if found is None:
            return False
        box, region = found
        values = ct.array[box]
        region = region & (values >= low) & (values <= high)
        if connected:
            components, _ = ndimage.label(region, np.ones((3, 3, 3), bool))
            nearest = np.floor(ct.lps_to_index(_point(center_lps, "the centre")) + 0.5).astype(int)[::-1]
            local = tuple(int(n - s.start) for n, s in zip(nearest, box))
            inside = all(0 <= v < n for v, n in zip(local, region.shape))
            region = components == components[local] if inside and components[local] else np.zeros_like(region)
        return self._replace(edited_structure(structure, box, region), f"Threshold fill {structure.name}",
                             ("fill", structure.name))

    # --- the set ---------------------------------------------------------------------------------
    def add_structure(self, name: str, category: str | None = None) -> Structure:
        """A new empty user structure (category: given, else from its name)."""
        structure = self._new_structure(name, category)
        self._push(self.structures.with_structure(structure), f"Add structure {structure.name}")
        return structure

    def delete(self, name: str) -> None:
        self._get(name)
        self._push(self.structures.without(name), f"Delete structure {name}")

    def rename(self, old: str, new: str) -> bool:
        structure = self._get(old)
        new = _valid_name(new)
        if new == old:
            return False
        if new in self.structures:
            raise StructureEditError(f"a structure named {new!r} exists already; choose another name")
        return self._replace(replace(structure, name=new), f"Rename structure {old}", replacing=old)

    # --- properties ------------------------------------------------------------------------------
    def recolour(self, name: str, rgb) -> bool:
        """Colour as three integers 0..255."""
        values = list(rgb) if isinstance(rgb, (list, tuple, np.ndarray)) else []
        if len(values) != 3 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v <= 255
                                       for v in values):
            raise StructureEditError(f"a colour is three integers 0..255 (red, green, blue), got {rgb!r}")
        return self._replace(replace(self._get(name), color=from_rgb255(values)), f"Recolour {name}")

    def set_category(self, name: str, category: str) -> bool:
        return self._replace(replace(self._get(name), category=_valid_category(category)), f"Category of {name}")

    def set_thresholds(self, name: str, warn_mm: float | None, stop_mm: float | None) -> bool:
        """Needle warning/stop distances of one structure; None: the category's default."""
        structure = self._get(name)
        warn, stop = _threshold(warn_mm, "warn_mm"), _threshold(stop_mm, "stop_mm")
        if warn is not None and stop is not None and stop > warn:
            raise StructureEditError(f"the stop distance ({stop:g} mm) must not exceed the warning distance ({warn:g} mm)")
        return self._replace(replace(structure, warn_mm=warn, stop_mm=stop), f"Thresholds of {name}")

    def set_visible(self, name: str, visible: bool) -> bool:
        return self._replace(replace(self._get(name), visible=bool(visible)), f"Show/hide {name}")

    def set_opacity(self, name: str, opacity: float) -> bool:
        value = float(opacity)
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise StructureEditError(f"opacity lies in 0..1, got {opacity!r}")
        return self._replace(replace(self._get(name), opacity=value), f"Opacity of {name}", ("opacity", name))

    def set_auto(self, skin: bool | None = None, bone: bool | None = None) -> bool:
        """Switch the automatic skin / bone structures (computed only when the labels lack them)."""
        old_auto = self.session.plan.structures.auto
        auto = AutoStructures(skin=old_auto.skin if skin is None else bool(skin),
                              bone=old_auto.bone if bone is None else bool(bone))
        if auto == old_auto:
            return False
        new_base = self.session.base_structures_for(auto)
        kept = StructureSet(tuple(s for s in self.structures if s.base_name is None or s.base_name in new_base))
        ref, masks = record_edits(self.session.base_structures, kept, auto)
        new, _ = apply_edits(new_base, ref, {s.name: s for s in masks})
        return self._push(new, "Automatic structures", auto=auto)


def _valid_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise StructureEditError("a structure needs a name (not empty)")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH or any(ord(c) < 32 for c in name):
        raise StructureEditError(f"a structure name has at most {MAX_NAME_LENGTH} printable characters")
    return name


def _valid_category(category) -> str:
    known = structure_categories().categories
    if category not in known:
        raise StructureEditError(f"unknown structure category {category!r}; choose one of {', '.join(sorted(known))}")
    return category


def _threshold(value, what: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise StructureEditError(f"{what} must be a number of mm or None, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number) or not 0 <= number <= MAX_THRESHOLD_MM:
        raise StructureEditError(f"{what} must be a finite distance in 0..{MAX_THRESHOLD_MM:g} mm, got {value!r}")
    return number
