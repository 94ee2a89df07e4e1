"""Critical structures of a case: named binary masks on the CT grid with a category, a colour and
distance thresholds (category defaults from resources/structure_categories.json, or per-structure
overrides).

Sources: the imported label map (one structure per label value present), and automatic ones
from the CT: bone (HU threshold + cleanup) when the labels have no bone, and the skin.

A mask is stored cut to its bounding box (`box_mask`, `start_kji`): a 512 x 512 x 400 case
has dozens of labels and full-grid boolean masks would take ~100 MB each; `Structure.mask`
expands it onto the whole grid when a caller needs that.

Skin is represented as a one-voxel shell at the body surface (the outer voxels of the body:
the largest CT > -300 HU component with its holes filled), so the distance to the skin
structure is the distance to the body surface, on both sides of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

import numpy as np
import SimpleITK as sitk
from pydantic import ValidationError
from scipy import ndimage

from osteoplan.core.display.label_colors import label_color
from osteoplan.core.imaging.anatomy import CONTEXTS, ThresholdRule, category_of, structure_categories
from osteoplan.core.imaging.bone_fields import body_mask, hu_bone_mask
from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.volume import Volume

AUTO_BONE_MIN_MM3 = 50.0  # smaller HU-bone specks are calcifications or noise, not bone


# The user's own category defaults (the GUI's Preferences), handed in as plain data by the
# application: {(category, context): ThresholdRule}. They replace the built-in defaults of
# resources/structure_categories.json; a structure's own override still wins over both.
USER_DEFAULT_ORIGIN = "your settings"
_user_threshold_defaults: dict[tuple[str, str], ThresholdRule] = {}


def set_user_threshold_defaults(defaults: dict[str, dict[str, tuple[float | None, float | None]]]) -> None:
    """Install `{category: {context: (warn_mm, stop_mm)}}` (None = not evaluated) as the user's
    defaults, replacing any earlier ones; raises ValueError for an unknown category or context,
    a negative distance or a stop above the warning distance (nothing is installed then)."""
    global _user_threshold_defaults
    rules: dict[tuple[str, str], ThresholdRule] = {}
    for category, contexts in defaults.items():
        if category not in structure_categories().categories:
            raise ValueError(f"unknown structure category {category!r}")
        for context, (warn_mm, stop_mm) in contexts.items():
            if context not in CONTEXTS:
                raise ValueError(f"unknown threshold context {context!r}; choose one of {', '.join(CONTEXTS)}")
            try:
                rules[(category, context)] = ThresholdRule(warn_mm=warn_mm, stop_mm=stop_mm, source=USER_DEFAULT_ORIGIN)
            except ValidationError as exc:
                raise ValueError(f"{category} {context} thresholds: {exc.errors()[0]['msg']}") from None
    _user_threshold_defaults = rules


def user_threshold_defaults() -> dict[str, dict[str, tuple[float | None, float | None]]]:
    """The installed user defaults, as given to `set_user_threshold_defaults`."""
    result: dict[str, dict[str, tuple[float | None, float | None]]] = {}
    for (category, context), rule in _user_threshold_defaults.items():
        result.setdefault(category, {})[context] = (rule.warn_mm, rule.stop_mm)
    return result


def default_threshold_rule(category: str, context: str) -> ThresholdRule:
    """The category's default in `context`: the user's if set, else the built-in one."""
    user = _user_threshold_defaults.get((category, context))
    return user if user is not None else structure_categories().categories[category].thresholds[context]


# --- structures -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Thresholds:
    """The distances in force for one structure in one context, and where they come from."""

    warn_mm: float | None
    stop_mm: float | None
    origin: str  # "category neural default (<source>)" or "override"

    @property
    def evaluated(self) -> bool:
        return self.warn_mm is not None or self.stop_mm is not None


@dataclass(frozen=True, eq=False)
class Structure:
    """A named binary mask on the CT grid, cut to its box: voxels [start_kji + index] of the grid."""

    name: str
    category: str
    box_mask: np.ndarray  # bool [k, j, i], the structure's bounding box (may be all False only if edited)
    start_kji: tuple[int, int, int]
    grid_shape: tuple[int, int, int]  # [k, j, i] shape of the CT grid
    color: tuple[float, float, float]  # RGB 0..1
    source: Literal["labels", "auto", "user"] = "labels"
    warn_mm: float | None = None  # per-structure overrides of the category's needle thresholds
    stop_mm: float | None = None
    label_value: int | None = None
    visible: bool = True
    opacity: float = 1.0  # 0..1, a factor on the structure's display style
    base_name: str | None = None  # the label/auto structure this one derives from (kept by a rename); None: user

    def same_as(self, other: "Structure") -> bool:
        """Equal content: name, mask, category, colour, source, thresholds, display settings."""
        return (self.name, self.category, self.mask_hash, tuple(self.color), self.source, self.warn_mm,
                self.stop_mm, self.label_value, self.visible, self.opacity, self.base_name) == (
            other.name, other.category, other.mask_hash, tuple(other.color), other.source, other.warn_mm,
            other.stop_mm, other.label_value, other.visible, other.opacity, other.base_name)

    @classmethod
    def from_mask(cls, name: str, mask: np.ndarray, *, category: str | None = None, source="labels",
                  color=None, **kwargs) -> "Structure":
        """A structure from a full-grid [k, j, i] mask (cut to its box here)."""
        box = ndimage.find_objects(mask.astype(np.uint8, copy=False))
        box = box[0] if box else tuple(slice(0, 0) for _ in range(3))
        category = category or category_of(name)
        return cls(name, category, np.ascontiguousarray(mask[box], dtype=bool), tuple(s.start for s in box),
                   tuple(mask.shape), color or category_color(category), source, **kwargs)

    @property
    def mask(self) -> np.ndarray:
        """The full-grid [k, j, i] mask (a new array on each call)."""
        full = np.zeros(self.grid_shape, dtype=bool)
        full[self.box] = self.box_mask
        return full

    @property
    def box(self) -> tuple[slice, slice, slice]:
        return tuple(slice(s, s + n) for s, n in zip(self.start_kji, self.box_mask.shape))  # type: ignore[return-value]

    @property
    def empty(self) -> bool:
        return not self.box_mask.any()

    @cached_property
    def voxel_count(self) -> int:
        return int(np.count_nonzero(self.box_mask))

    @cached_property
    def mask_hash(self) -> str:
        """Content hash of the mask and its place on the grid (an edited mask gets a new one)."""
        digest = hashlib.blake2b(digest_size=16)
        digest.update(repr((self.start_kji, self.box_mask.shape, self.grid_shape)).encode())
        digest.update(np.packbits(self.box_mask).tobytes())
        return digest.hexdigest()

    def thresholds(self, context: str = "needle") -> Thresholds:
        rule = default_threshold_rule(self.category, context)
        if context == "needle" and (self.warn_mm is not None or self.stop_mm is not None):
            warn = self.warn_mm if self.warn_mm is not None else rule.warn_mm
            stop = self.stop_mm if self.stop_mm is not None else rule.stop_mm
            return Thresholds(warn, stop, "override")
        if rule.source == USER_DEFAULT_ORIGIN:
            return Thresholds(rule.warn_mm, rule.stop_mm, f"{USER_DEFAULT_ORIGIN} (category {self.category} default, "
                                                          "Edit > Preferences)")
        return Thresholds(rule.warn_mm, rule.stop_mm, f"category {self.category} default ({rule.source})")

    def needle_thresholds(self) -> Thresholds:
        return self.thresholds("needle")

    def with_overrides(self, warn_mm: float | None = None, stop_mm: float | None = None) -> "Structure":
        return replace(self, warn_mm=warn_mm, stop_mm=stop_mm)


def category_color(category: str) -> tuple[float, float, float]:
    rgb = structure_categories().categories[category].rgb
    return tuple(c / 255.0 for c in rgb)  # type: ignore[return-value]


@dataclass(frozen=True)
class StructureSet:
    """Structures ordered by name, with the notes of how they were built (e.g. empty masks skipped)
    and, per hazard category the builder looked for and did not find, why (`safety.coverage`)."""

    structures: tuple[Structure, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    unchecked: tuple[tuple[str, str], ...] = ()  # (category, reason)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.structures, key=lambda s: s.name))
        names = [s.name for s in ordered]
        if len(names) != len(set(names)):
            raise ValueError(f"structure names must be unique, got {names}")
        object.__setattr__(self, "structures", ordered)

    def __iter__(self) -> Iterator[Structure]:
        return iter(self.structures)

    def __len__(self) -> int:
        return len(self.structures)

    def __contains__(self, name: object) -> bool:
        return any(s.name == name for s in self.structures)

    def __getitem__(self, name: str) -> Structure:
        for structure in self.structures:
            if structure.name == name:
                return structure
        raise KeyError(name)

    def get(self, name: str | None) -> Structure | None:
        return None if name is None else next((s for s in self.structures if s.name == name), None)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.structures]

    def of_category(self, *categories: str) -> list[Structure]:
        return [s for s in self.structures if s.category in categories]

    def needle_hazards(self) -> list[Structure]:
        """Structures with a needle threshold in force (the ones needle warnings look at)."""
        return [s for s in self.structures if s.needle_thresholds().evaluated]

    def with_structure(self, structure: Structure, replacing: str | None = None) -> "StructureSet":
        """A new set with `structure` added, or replacing the one of the same name (or named `replacing`)."""
        drop = {structure.name, replacing}
        return StructureSet((*(s for s in self.structures if s.name not in drop), structure), self.notes, self.unchecked)

    def without(self, name: str) -> "StructureSet":
        return StructureSet(tuple(s for s in self.structures if s.name != name), self.notes, self.unchecked)

    def same_as(self, other: "StructureSet") -> bool:
        return len(self) == len(other) and all(a.same_as(b) for a, b in zip(self, other))

    def to_label_volume(self, ct: Volume | None = None, visible_only: bool = False) -> tuple[np.ndarray, dict[int, str]]:
        """A uint16 [k, j, i] label map of the structures (values 1..n in name order) and value -> name.

        Where structures overlap the smaller one wins (a lesion stays visible inside bone); see
        `io.structure_masks.label_layers` for the lossless form used when saving.
        """
        shape = tuple(ct.array.shape) if ct is not None else (self.structures[0].grid_shape if self.structures else (0, 0, 0))
        labels = np.zeros(shape, np.uint16)
        chosen = [s for s in self.structures if s.visible or not visible_only]
        names = {value: s.name for value, s in enumerate(self.structures, start=1) if s in chosen}
        for value, structure in sorted(((v, self[n]) for v, n in names.items()), key=lambda vs: -vs[1].voxel_count):
            if tuple(structure.grid_shape) != shape:
                raise ValueError(f"structure {structure.name} lies on a grid of shape {structure.grid_shape}, not {shape}")
            labels[structure.box][structure.box_mask] = value
        return labels, names


# --- sources --------------------------------------------------------------------------------
def structures_from_labels(case: Case) -> tuple[list[Structure], list[str]]:
    """One structure per label value present in the case's label map, and notes for the user.

    Named values without voxels are skipped with a note; values without a name are kept as
    ``label_<value>`` (category other), as are names the category map does not know.
    """
    if case.labels is None:
        return [], []
    labels = case.labels.volume.array
    names = case.labels.names
    automatic = case.automatic.values if case.automatic is not None else frozenset()
    if labels.dtype.kind not in "iu" or labels.min() < 0:
        labels = np.clip(labels, 0, None).astype(np.int32)
    boxes = ndimage.find_objects(labels)  # one pass: box of every value (index = value - 1)
    structures, notes = [], []
    for value, box in enumerate(boxes, start=1):
        if box is None:
            continue
        name = names.get(value, f"label_{value}")
        if value not in names:
            notes.append(f"Label value {value} has no name; kept as {name} (category other).")
        source = "auto" if value in automatic else "labels"
        structures.append(Structure(name, category_of(name), labels[box] == value, tuple(s.start for s in box),
                                    labels.shape, label_color(name), source, label_value=value))
    for value, name in sorted(names.items()):
        if value <= 0 or value > len(boxes) or boxes[value - 1] is None:
            notes.append(f"Structure {name} (label {value}) has an empty mask; ignored.")
    return structures, notes


AUTO_METHODS = {  # how the automatic skin and bone are found (the other automatic structures say it themselves)
    "skin (auto)": "automatic: the body surface (CT > -300 HU, holes filled), without the scan's cut faces",
    "bone (auto)": "automatic: CT >= 150 HU with the osteoporotic marrow (80-150 HU) attached to it",
}


def automatic_structures(case: Case, structures: Iterable[Structure]) -> list[dict]:
    """``[{"name", "category", "method"}]`` of the structures found on the CT (``check --json``, the report)."""
    methods = dict(AUTO_METHODS, **(case.automatic.methods if case.automatic is not None else {}))
    return [{"name": s.name, "category": s.category, "method": methods.get(s.base_name or s.name, "automatic")}
            for s in structures if s.source == "auto"]


def auto_bone(ct: Volume, not_bone: np.ndarray | None = None) -> Structure:
    """Bone from the CT alone (`bone_fields.hu_bone_mask`), specks removed; `not_bone`: voxels a label
    calls something else (the spinal canal...)."""
    mask = hu_bone_mask(ct.array, ct.spacing[::-1], not_bone)
    min_voxels = int(np.ceil(AUTO_BONE_MIN_MM3 / float(np.prod(ct.spacing))))
    image = sitk.RelabelComponent(sitk.ConnectedComponent(sitk.GetImageFromArray(mask.view(np.uint8))), min_voxels)
    return Structure.from_mask("bone (auto)", sitk.GetArrayFromImage(image) > 0, category="bone", source="auto")


def auto_skin(ct: Volume, body: np.ndarray | None = None) -> Structure:
    """The body surface as a one-voxel shell: the outer voxels of the largest body component that touch
    air. Where the body meets the edge of the image (the scan's first and last slices, a field of view
    narrower than the patient) it was cut by the scan, not bounded by skin: those faces are not skin.

    `body` (a [k, j, i] body mask, e.g. the readout engine's) saves recomputing it.
    """
    body = body_mask(ct) if body is None else body
    components = sitk.ConnectedComponent(sitk.GetImageFromArray(body.view(np.uint8)))
    largest = sitk.GetArrayFromImage(sitk.RelabelComponent(components)) == 1  # table, arms: smaller ones
    shell = largest & ~ndimage.binary_erosion(largest, border_value=1)  # beyond the image: more body, not air
    return Structure.from_mask("skin (auto)", shell, category="skin", source="auto")


def case_structures(case: Case, *, skin: bool = True, bone: bool = True,
                    body: np.ndarray | Callable[[], np.ndarray] | None = None) -> StructureSet:
    """The structure set of a case: its labels, plus the automatic skin (unless a label is skin)
    and automatic bone (unless a label is bone). `body`: a body mask, or a function giving one
    (called only when the skin is computed)."""
    structures, notes = structures_from_labels(case)
    found = case.automatic
    if found is not None:
        notes += [f"{name} found on the CT ({method})." for name, method in found.methods.items()] + list(found.notes)
    categories = {s.category for s in structures}
    if skin and "skin" not in categories:
        structures.append(auto_skin(case.ct, body() if callable(body) else body))
        notes.append("Skin computed from the CT (body outline).")
    if bone and "bone" not in categories:
        labelled = case.labels.volume.array > 0 if case.labels is not None else None  # none of them is bone here
        structures.append(auto_bone(case.ct, labelled))
        notes.append("Bone computed from the CT (HU threshold); no bone labels.")
    return StructureSet(tuple(replace(s, base_name=s.name) for s in structures), tuple(notes),
                        found.unchecked if found is not None else ())


def structures_from_label_volume(labels: np.ndarray, names: dict[int, str], source="user") -> list[Structure]:
    """The inverse of `StructureSet.to_label_volume`: one structure per named value (empty if absent),
    category from the name and category colour (callers then apply their overrides)."""
    boxes = ndimage.find_objects(np.clip(labels, 0, None).astype(np.int32, copy=False))
    found = []
    for value, name in sorted(names.items()):
        box = boxes[value - 1] if 0 < value <= len(boxes) else None
        category = category_of(name)
        if box is None:
            box_mask, start = np.zeros((0, 0, 0), bool), (0, 0, 0)
        else:
            box_mask, start = labels[box] == value, tuple(sl.start for sl in box)
        found.append(Structure(name, category, box_mask, start, tuple(labels.shape), category_color(category), source))
    return found


def hazards_excluding(structures: Iterable[Structure], names: Iterable[str | None]) -> list[Structure]:
    """Needle hazards less the named ones (e.g. a path's target structure)."""
    skip = {n for n in names if n}
    return [s for s in structures if s.name not in skip and s.needle_thresholds().evaluated]
