"""Critical structures found on the CT itself, for what the label map lacks (or when there is none).

`with_automatic_anatomy(case)` adds them to the case's label map as ordinary labels (so the
readouts, templates, structures and warnings use them as they use labelled ones), on voxels no
label of the user's map holds: the user's labels win where they exist. `Case.automatic` records
which label values are automatic, how each was found, and, per hazard category that is still
missing, why (the verdicts then say "not checked" with that reason).

Found today: the spinal canal (`imaging.spine`), the sacrum and the vertebrae with their levels
(`imaging.vertebrae`), the nerve-root zones of the foramina (`imaging.foramina`), beside the sacrum
the femurs (head and neck) and the hip bones (`imaging.pelvis`), the lungs and gas-filled bowel as
one structure of the air inside the body (`imaging.air`), and on a contrast-enhanced CT the aorta
and IVC (`imaging.vessels`); without contrast, vessels are not guessed and the verdicts say so.
What is found is cached by the CT's content hash (`imaging.anatomy_cache`).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, replace

import numpy as np
import SimpleITK as sitk

from osteoplan.core.imaging.case import AutomaticAnatomy, Case
from osteoplan.core.imaging.anatomy_cache import FoundAnatomy, cached_anatomy
from osteoplan.core.imaging.io import LabelMap
from osteoplan.core.imaging.io.common import ProgressCallback, report
from osteoplan.core.imaging.pelvis import femur_mask, find_femoral_heads, hip_mask
from osteoplan.core.imaging.air import find_air
from osteoplan.core.imaging.anatomy import category_of
from osteoplan.core.imaging.bone_fields import hu_bone_mask
from osteoplan.core.imaging.foramina import REACH_MM, find_foramina, renamed_root
from osteoplan.core.imaging.spine import analysis_grid, analysis_reference, find_canal, on_ct_grid
from osteoplan.core.imaging.vertebrae import (Vertebra, disc_slices, name_vertebrae, rename_levels, sacrum_top,
                                              vertebra_masks)
from osteoplan.core.imaging.vessels import find_vessels
from osteoplan.core.imaging.volume import SeriesInfo, Volume

CANAL_NAME = "spinal_canal"
AIR_NAME = "lung_or_bowel_air"  # visceral by the name map (lung*)
CANAL_LABEL_PATTERNS = ("spinal_canal*", "dural_sac*", "thecal_sac*")  # a label map with these needs no automatic canal
ROOT_LABEL_PATTERNS = ("nerve_root*", "*foramen*", "*foramina*")  # ... and with these no automatic root zones
# what the air stands for: a label map with any of these needs no automatic lungs/bowel (a liver label does not)
VISCERAL_LABEL_PATTERNS = ("lung*", "colon*", "small_bowel*", "duodenum*", "stomach*", "esophagus*", "urinary_bladder*",
                           "bowel*", "trachea*")


def _has(names, patterns) -> bool:
    return any(fnmatch.fnmatchcase(name.lower(), pattern) for name in names for pattern in patterns)


def _has_category(names, category: str) -> bool:
    """A label of this hazard category (resources/structure_categories.json, as the warnings see it)."""
    return any(category_of(name) == category for name in names)


def _spine(grid, canal) -> tuple[list[Vertebra], np.ndarray, bool]:
    """The vertebrae along the automatic canal, bottom to top, the CT's bone on the analysis grid, and whether
    the levels were counted from the sacrum."""
    hu = sitk.GetArrayViewFromImage(grid)
    spacing = grid.GetSpacing()[0]
    first, last = min(canal.centres), max(canal.centres)
    bone = hu_bone_mask(hu, (spacing,) * 3, canal.grid_mask)
    sacrum = sacrum_top(bone, canal.centres, spacing)
    return name_vertebrae(disc_slices(hu, canal.centres, spacing), first, last, sacrum, spacing), bone, sacrum is not None


def _vertebra_structures(vertebrae, masks, from_sacrum) -> list[tuple[str, np.ndarray, str]]:
    how = ("levels counted up from the sacrum, found where the bone reaches the iliac bones (check them: a "
           "transitional vertebra shifts them)" if from_sacrum
           else "levels unknown (no sacrum in the scan): name one and the others follow")
    return [(v.name, masks[v.name], f"automatic: between two discs of the "
             f"body's density along the canal; {how}") for v in vertebrae if v.name in masks]


def _pelvic_structures(grid, bone, vertebra_masks_, vertebrae, canal) -> tuple[list, list[str]]:
    """The femurs (head and neck) and the hip bones beside the sacrum (`imaging.pelvis`), and notes on them."""
    hu = sitk.GetArrayViewFromImage(grid)
    spacing = grid.GetSpacing()[0]
    sacrum = next(v for v in vertebrae if v.name == "sacrum")
    canal_x = canal.centres[min(canal.centres)][1]
    found, notes = [], []
    taken = np.zeros(bone.shape, bool)
    for mask in vertebra_masks_.values():
        taken |= mask
    for head in find_femoral_heads(hu, bone, sacrum.slices[1], canal_x, spacing):
        femur = femur_mask(bone, head, spacing) & ~taken
        taken |= femur
        found.append((f"femur_{head.side}", femur,
                      f"automatic: the head is the sphere that follows the hip joint (radius {head.radius_mm:.0f} mm, "
                      f"joint {head.contrast_hu:.0f} HU darker than the bone either side), with the bone leaving it "
                      "in the neck's direction (neck, trochanters, shaft where scanned)"))
        if head.metal_hu is not None:
            notes.append(f"Metal in the {head.side} femoral head (up to {head.metal_hu:.0f} HU): an arthroplasty? "
                         f"The automatic femur_{head.side} is the implant's position; check it on the images.")
    for side in ("left", "right"):
        hip = hip_mask(bone, taken, side, sacrum.slices[1], canal_x, spacing)
        if hip is not None:
            found.append((f"hip_{side}", hip, "automatic: the largest piece of bone beside the sacrum on that side, "
                          "without the vertebrae, the sacrum and the femur (ilium, ischium, pubis; the sacroiliac "
                          "boundary is the sacrum's lateral reach)"))
    return found, notes


def _root_structures(vertebrae, bone, hu, canal, spacing) -> list[tuple[str, np.ndarray, str]]:
    roots = find_foramina(bone, hu, canal.grid_mask, canal.centres, vertebrae, spacing)
    method = ("automatic: the soft tissue that leaves the canal sideways between two pedicles (the foramen) and "
              f"the root's first {REACH_MM:.0f} mm beyond the canal's side; named by the vertebra above the disc, "
              "as the automatic levels count them (a zone where the root can be, not the root itself)")
    return [(name, mask, method) for name, mask in sorted(roots.items())]


@dataclass(frozen=True)
class Wanted:
    """What the label map lacks, so what is looked for: the search depends on these and on the CT only."""

    canal: bool
    neural_labelled: bool  # some neural structure is labelled (a missing canal is then a partial gap)
    vascular: bool
    vertebrae: bool
    pelvis: bool
    roots: bool
    visceral: bool

    @classmethod
    def for_names(cls, present) -> "Wanted":
        present = list(present)
        return cls(canal=not _has(present, CANAL_LABEL_PATTERNS), neural_labelled=_has_category(present, "neural"),
                   vascular=not _has_category(present, "vascular"), vertebrae=not _has(present, ("vertebrae_*", "sacrum*")),
                   pelvis=not _has(present, ("femur_*", "hip_*")), roots=not _has(present, ROOT_LABEL_PATTERNS),
                   visceral=not _has(present, VISCERAL_LABEL_PATTERNS))


def find_anatomy(ct: Volume, wanted: Wanted, progress: ProgressCallback | None = None) -> FoundAnatomy:
    """Look for the structures `wanted` on `ct` (see the module docstring)."""
    found: list[tuple[str, np.ndarray, str]] = []  # (name, mask, method)
    unchecked: list[tuple[str, str]] = []
    notes: list[str] = []
    report(progress, 0.0, "Finding the spinal canal…")
    grid = analysis_grid(ct)  # one resampling for every search
    canal = None
    if wanted.roots or wanted.canal or wanted.vascular:
        canal = find_canal(ct, grid=grid, on_ct=False)  # the vessels are looked for in front of the spine
    if wanted.canal:
        if canal.grid_mask is not None and canal.grid_mask.any():
            low, high = canal.extent_mm or (0.0, 0.0)
            found.append((CANAL_NAME, canal.grid_mask, f"automatic: the vertebral ring's enclosed hole in {canal.anchors} "
                          f"slices, joined along the spine (z {low:.0f} to {high:.0f} mm)"))
        elif not wanted.neural_labelled:
            unchecked.append(("neural", f"no spinal canal: {canal.reason}"))
            notes.append(f"Automatic neural structures are unavailable: {canal.reason}.")
        else:
            unchecked.append(("neural", f"partly: no spinal canal ({canal.reason}); only the labelled neural "
                                        "structures are checked, not the cauda equina below the cord's end"))
    if wanted.vascular:
        report(progress, 0.2, "Looking for the aorta and IVC…")
        vessels = find_vessels(grid, canal.centres) if canal is not None and canal.centres else None
        if vessels is None:
            unchecked.append(("vascular", "no aorta, IVC or other vessel in the label map, and no spine on the CT to "
                                          "look for them in front of"))
        elif not vessels.enhanced:
            unchecked.append(("vascular", f"no aorta/IVC: CT not contrast-enhanced (no enhanced vessel in front of "
                                          f"the spine; its soft tissue reads up to {vessels.blood_hu:.0f} HU), and none "
                                          "in the label map"))
        else:
            for name, mask in (("aorta", vessels.aorta), ("inferior_vena_cava", vessels.vena_cava)):
                if mask is not None:
                    found.append((name, mask,
                                  "automatic: the round enhanced blob (150-700 HU) on its side in front of the spine, "
                                  "slice by slice (contrast-enhanced CT)"))
            if vessels.vena_cava is None:
                notes.append("The IVC was not found (not enhanced: an arterial phase?); only the aorta is checked.")
    # after the vessels: an enhanced aorta reads like bone, and the first structure found keeps a voxel
    if canal is not None and canal.grid_mask is not None:
        report(progress, 0.35, "Finding the vertebrae and their levels…")
        spacing = grid.GetSpacing()[0]
        vertebrae, bone, from_sacrum = _spine(grid, canal)
        masks = vertebra_masks(bone, canal.grid_mask, canal.centres, vertebrae, spacing)
        if wanted.vertebrae:
            found += _vertebra_structures(vertebrae, masks, from_sacrum)
        if from_sacrum and wanted.pelvis:
            report(progress, 0.55, "Finding the femoral heads and the hip bones…")
            pelvic, pelvic_notes = _pelvic_structures(grid, bone, masks, vertebrae, canal)
            found += pelvic
            notes += pelvic_notes
        if wanted.roots:
            report(progress, 0.7, "Finding the neural foramina…")
            roots = _root_structures(vertebrae, bone, sitk.GetArrayViewFromImage(grid), canal, spacing)
            found += roots
            if not roots:  # the canal is checked, the exiting roots are not: say so in the verdicts
                unchecked.append(("neural", "partly: no neural foramen was found beside the canal, so the exiting "
                                            "nerve roots are not checked (only the canal is)"))
    if wanted.visceral:
        report(progress, 0.8, "Finding the lungs and bowel gas…")
        air = find_air(grid)
        if air.mask.any():
            found.append((AIR_NAME, air.mask,
                          f"automatic: air inside the body (lungs, gas in the bowel) in {air.components} components "
                          f"({air.volume_ml:.0f} mL), grown by 3 mm for the pleura or bowel wall; bowel without gas is "
                          "not seen"))
            notes.append("Lungs and bowel were found from the air inside the body: collapsed or fluid-filled bowel "
                         "loops are not checked.")
        else:
            unchecked.append(("visceral", "no lung or bowel in the label map, and no air inside the body on the CT"))
    on_grid = None
    if found:  # one label array, first found first (they hardly overlap): one resampling onto the CT later
        if len(found) > np.iinfo(np.uint16).max:
            raise ValueError("too many automatic structures")
        on_grid = np.zeros(found[0][1].shape, np.uint16)
        for offset, (_, mask, _) in enumerate(found, start=1):
            on_grid[mask & (on_grid == 0)] = offset
    return FoundAnatomy(on_grid, tuple((name, method) for name, _, method in found), tuple(unchecked), tuple(notes))


def with_automatic_anatomy(case: Case, level: tuple[str, str] | None = None,
                           progress: ProgressCallback | None = None) -> Case:
    """`case` with the automatic structures its labels lack added to its label map (see the module docstring);
    `level`: (a vertebra's name as found, its level), the user's correction of the automatic levels. What is
    found on a CT is kept in the user's cache by the CT's content hash (`imaging.anatomy_cache`)."""
    names = dict(case.labels.names) if case.labels is not None else {}
    reference = analysis_reference(case.ct)
    found = cached_anatomy(case.ct, Wanted.for_names(names.values()), reference.GetSize()[::-1], find_anatomy, progress)
    notes = list(found.notes)
    if found.on_grid is None:
        return replace(case, automatic=AutomaticAnatomy(frozenset(), {}, found.unchecked, tuple(notes)))
    report(progress, 0.9, "Adding the automatic structures…")
    labels = case.labels.volume.array if case.labels is not None else np.zeros(case.ct.array.shape, np.uint8)
    start = int(max(names, default=0))
    if start + len(found.entries) > np.iinfo(np.uint16).max:
        raise ValueError("too many labels to add the automatic structures")
    on_ct = on_ct_grid(found.on_grid, reference, case.ct)
    merged = labels.astype(np.uint16 if labels.dtype.itemsize < 2 else labels.dtype, copy=True)
    free = labels == 0  # the user's labels win where they exist
    values, methods = set(), {}
    for offset, (name, method) in enumerate(found.entries, start=1):
        value = start + offset
        merged[free & (on_ct == offset)] = value
        names[value], methods[name] = name, method
        values.add(value)
    info = SeriesInfo(path=case.labels.volume.info.path if case.labels is not None else "",
                      description="label map + automatic structures", modality="SEG")
    label_map = LabelMap(case.ct.with_array(merged, info), names)
    found_as = {value: names[value] for value in values}
    automatic = AutomaticAnatomy(frozenset(values), methods, found.unchecked, tuple(notes), found_as)
    found_case = replace(case, labels=label_map, automatic=automatic)
    if level is not None:
        try:
            return relevel(found_case, *level)
        except ValueError as exc:  # the CT changed, or the vertebra is no longer found: keep the automatic names
            notes.append(f"The plan's level correction ({level[0]} is {level[1]}) was not applied: {exc}")
            return replace(found_case, automatic=replace(automatic, notes=tuple(notes)))
    return found_case


def relevel(case: Case, vertebra: str, level: str) -> Case:
    """"This vertebra is L3": the automatic vertebra found as `vertebra` named `level`, the others renamed in
    order along the spine; methods say the levels were set by the user. ValueError when `vertebra` is not one."""
    found = case.automatic
    if found is None or case.labels is None:
        raise ValueError("no automatic vertebrae on this case")
    value = next((v for v, n in found.found_as.items() if n == vertebra and n.startswith("vertebrae_")), None)
    if value is None:
        raise ValueError(f"{vertebra!r} is not an automatic vertebra of this case")
    chain = {v: n for v, n in found.found_as.items() if n.startswith("vertebrae_")}
    renamed = rename_levels(chain, value, level)
    by_name = {found.found_as[v]: new for v, new in renamed.items()}
    renamed |= {v: renamed_root(n, by_name) for v, n in found.found_as.items() if n.startswith("nerve_root_")}
    names = {**case.labels.names, **renamed}
    methods = {}
    for v, name in case.labels.names.items():
        method = found.methods.get(found.found_as.get(v, name), found.methods.get(name))
        if method is not None:
            methods[names[v]] = (method + f"; levels set by the user ({vertebra} is {level})") if v in renamed else method
    return replace(case, labels=replace(case.labels, names=names), automatic=replace(found, methods=methods))
