"""The plan's record of structure edits, and back: what `PlanSession` keeps in `plan.structures`.

The session's structures are its *base* structures (the case's labels plus the automatic
skin/bone switched on in ``plan.structures.auto``) with the plan's edits applied:

- ``renamed`` {new name: base name} and ``deleted`` [base names];
- ``overrides`` {name: StructureOverride}: category, colour, thresholds, visibility, opacity
  that differ from the structure's defaults (a base structure's own values; for a user
  structure the category of its name and that category's colour);
- masks that differ from the base mask (painted, erased, filled) or belong to user
  structures: kept in memory as `EditedMasks` on ``plan.structure_masks`` and written beside
  the plan file when it is saved (`io.structure_masks`).

`record_edits(base, current)` and `apply_edits(base, ref, masks)` are inverse: applying the
record of a set to the same base gives a set equal to it (`StructureSet.same_as`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from functools import cached_property

from osteoplan.core.imaging.anatomy import category_of
from osteoplan.core.imaging.volume import Volume
from osteoplan.core.planning.plan import StructureOverride, StructuresRef
from osteoplan.core.safety.structures import Structure, StructureSet, category_color


@dataclass(frozen=True, eq=False)
class EditedMasks:
    """Masks of the edited and user structures of a plan, on the CT grid `grid`."""

    grid: Volume
    structures: tuple[Structure, ...]

    def __len__(self) -> int:
        return len(self.structures)

    @cached_property
    def digest(self) -> str:
        digest = hashlib.blake2b(digest_size=16)
        for structure in sorted(self.structures, key=lambda s: s.name):
            digest.update(f"{structure.name}\0{structure.mask_hash}\0".encode())
        return digest.hexdigest()

    def by_name(self) -> dict[str, Structure]:
        return {s.name: s for s in self.structures}


def rgb255(color) -> tuple[int, int, int]:
    return tuple(int(round(float(c) * 255)) for c in color)  # type: ignore[return-value]


def from_rgb255(rgb) -> tuple[float, float, float]:
    return tuple(int(c) / 255.0 for c in rgb)  # type: ignore[return-value]


def _defaults(structure: Structure, base: Structure | None) -> tuple[str, tuple[float, ...]]:
    """(category, colour) a structure has when nothing is overridden."""
    if base is not None:
        return base.category, tuple(base.color)
    return category_of(structure.name), tuple(category_color(structure.category))


def record_edits(base: StructureSet, current: StructureSet, auto=None) -> tuple[StructuresRef, tuple[Structure, ...]]:
    """The record of how `current` differs from `base` (masks: the structures whose mask must be saved)."""
    overrides: dict[str, StructureOverride] = {}
    renamed: dict[str, str] = {}
    masks: list[Structure] = []
    used: set[str] = set()
    for structure in current:
        origin = base.get(structure.base_name)
        if origin is not None:
            used.add(origin.name)
            if structure.name != origin.name:
                renamed[structure.name] = origin.name
        if origin is None or structure.mask_hash != origin.mask_hash:
            masks.append(structure)
        category, color = _defaults(structure, origin)
        changes = {
            "category": structure.category if structure.category != category else None,
            "color": rgb255(structure.color) if tuple(structure.color) != color else None,
            "warn_mm": structure.warn_mm, "stop_mm": structure.stop_mm,
            "visible": False if not structure.visible else None,
            "opacity": structure.opacity if structure.opacity != (origin.opacity if origin else 1.0) else None,
        }
        if any(v is not None for v in changes.values()):
            overrides[structure.name] = StructureOverride(**changes)
    deleted = [s.name for s in base if s.name not in used]
    ref = StructuresRef(auto=auto if auto is not None else StructuresRef().auto, overrides=overrides,
                        renamed=renamed, deleted=deleted)
    return ref, tuple(masks)


def apply_edits(base: StructureSet, ref: StructuresRef,
                masks: dict[str, Structure] | None = None) -> tuple[StructureSet, list[str]]:
    """`base` with the recorded edits applied, and notes for what could not be applied."""
    masks = dict(masks or {})
    notes: list[str] = []
    new_name = {old: new for new, old in ref.renamed.items()}
    for new, old in ref.renamed.items():
        if old not in base:
            notes.append(f"The plan renames structure {old} to {new}, but the case has no {old}.")
    out: dict[str, Structure] = {}
    for structure in base:
        if structure.name in ref.deleted:
            continue
        name = new_name.get(structure.name, structure.name)
        if name in out:
            notes.append(f"Structure {structure.name} cannot take the name {name}, which is taken; kept as it was.")
            name = structure.name
        edited = masks.pop(name, None)
        if edited is not None:
            structure = replace(structure, box_mask=edited.box_mask, start_kji=edited.start_kji)
        out[name] = replace(structure, name=name)
    for name, edited in masks.items():
        if name in out:
            notes.append(f"The plan's mask of {name} clashes with a structure of the case; the case's is kept.")
            continue
        category = category_of(name)
        out[name] = Structure(name, category, edited.box_mask, edited.start_kji, edited.grid_shape,
                              category_color(category), "user")
    for name, override in ref.overrides.items():
        structure = out.get(name)
        if structure is None:
            notes.append(f"The plan sets properties of structure {name}, which this case does not have; ignored.")
            continue
        changes = {"warn_mm": override.warn_mm, "stop_mm": override.stop_mm}
        if override.category is not None:
            changes["category"] = override.category
        if override.color is not None:
            changes["color"] = from_rgb255(override.color)
        elif structure.source == "user":
            changes["color"] = category_color(changes.get("category", structure.category))
        if override.visible is not None:
            changes["visible"] = override.visible
        if override.opacity is not None:
            changes["opacity"] = override.opacity
        out[name] = replace(structure, **changes)
    return StructureSet(tuple(out.values()), base.notes + tuple(notes), base.unchecked), notes
