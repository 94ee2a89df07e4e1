"""Vertebrae as instances with level names, found along the automatic spinal canal.

On the `spine.analysis_grid`: in front of the canal, in each of its slices, the mean HU of an
ellipse in the vertebral body (`BODY_OFFSET_MM` in front of the canal's centre) rises at the
endplates and falls at the discs; a disc is a minimum of that profile, at least `MIN_PITCH_MM` from
the next one (osteoporotic marrow dips too, between two dense endplates, but less and closer).
Between two discs is one vertebra: the bone of its slab around the canal (within `LATERAL_MM` to
either side), the canal left out.

Levels are counted up from the sacrum: the canal's lowest slices are in the sacrum when the body's
bone there reaches the iliac bones on both sides (`SACROILIAC_MM`); the vertebra above it is L5, then
L4 ... L1, T12 ... (the tilted L5-S1 disc is not needed: the sacrum's top is where that reach ends).
Without a sacrum in the scan the levels are unknown and the vertebrae are numbered from the bottom
(``vertebrae_unknown1``...); the user names one ("this vertebra is L3", `rename_levels`) and the others
follow. Limits: a lumbosacral transitional vertebra (L6, sacralised L5) shifts every level by one;
the level names say how they were found, and must be checked on the images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

BODY_OFFSET_MM = 27.0  # from the canal's centre to the body's centre, forwards
BODY_SEMI_AXES_MM = (15.0, 12.0)  # left-right, front-back
MIN_PITCH_MM = 26.0  # lumbar and low thoracic vertebrae repeat every ~28-45 mm (body + disc)
DISC_PROMINENCE_HU = 10.0
LATERAL_MM = 50.0  # a lumbar transverse process reaches ~40-45 mm from the midline
SACROILIAC_MM = 60.0  # the sacrum's bone reaches the iliac bones beyond this on both sides; L5's does not
SACRUM_START_MM = 12.0  # the sacral slices start within this of the canal's lowest slice
SACRUM_DISC_MM = 5.0  # a disc minimum this close above the sacrum's top is the L5-S1 disc the top marks
FRONT_MM, BACK_MM = 70.0, 75.0  # the body's front and the spinous process's tip, from the canal's centre
SPINE_LEVELS = tuple([f"C{n}" for n in range(1, 8)] + [f"T{n}" for n in range(1, 13)] + [f"L{n}" for n in range(1, 6)])


@dataclass(frozen=True)
class Vertebra:
    name: str  # "vertebrae_L3", "sacrum" or "vertebrae_unknown2" (level unknown)
    slices: tuple[int, int]  # analysis-grid slices [first, last]


def disc_slices(hu: np.ndarray, centres: dict[int, tuple[float, float]], spacing: float) -> list[int]:
    """The analysis slices of the discs along the canal, bottom to top."""
    ks = sorted(centres)
    yy, xx = np.mgrid[:hu.shape[1], :hu.shape[2]]
    profile = []
    for k in ks:
        cy, cx = centres[k]
        body = (((xx - cx) * spacing / BODY_SEMI_AXES_MM[0]) ** 2
                + ((yy - (cy - BODY_OFFSET_MM / spacing)) * spacing / BODY_SEMI_AXES_MM[1]) ** 2) <= 1.0
        profile.append(float(np.clip(hu[k][body], -200, 600).mean()) if body.any() else 0.0)
    smooth = ndimage.gaussian_filter1d(np.asarray(profile), 1.0)
    minima, found = signal.find_peaks(-smooth, prominence=DISC_PROMINENCE_HU)
    kept: list[int] = []  # the most prominent first, each at least a vertebra's pitch from those kept
    for i in sorted(range(len(minima)), key=lambda i: -found["prominences"][i]):
        if all(abs(ks[minima[i]] - ks[j]) * spacing >= MIN_PITCH_MM for j in kept):
            kept.append(int(minima[i]))
    return sorted(ks[i] for i in kept)


def sacrum_top(bone: np.ndarray, centres: dict[int, tuple[float, float]], spacing: float) -> int | None:
    """The highest slice of the sacrum, counted up from the canal's lowest slices: where the body's bone,
    in its axial slice, reaches the iliac bones on both sides (the sacroiliac joints). The run must start
    within SACRUM_START_MM of the canal's lowest slice; one slice may miss inside it. None when it does
    not (the scan ends above the sacrum)."""
    ks = sorted(centres)
    top, misses = None, 0
    for k in ks:
        cy, cx = centres[k]
        labels, _ = ndimage.label(bone[k])
        body = labels[int(np.clip(round(cy - BODY_OFFSET_MM / spacing), 0, bone.shape[1] - 1)), int(round(cx))]
        columns = np.flatnonzero((labels == body).any(axis=0)) if body else np.zeros(0, int)
        sacral = len(columns) and min(cx - columns.min(), columns.max() - cx) * spacing >= SACROILIAC_MM
        if sacral:
            top, misses = k, 0
        elif top is None and (k - ks[0]) * spacing > SACRUM_START_MM:
            return None
        elif top is not None:
            misses += 1
            if misses > 1:
                break
    return top


def name_vertebrae(discs: list[int], first: int, last: int, sacrum: int | None, spacing: float) -> list[Vertebra]:
    """Vertebrae between consecutive discs (and the partial ones at the canal's ends), named from the sacrum
    (`sacrum`: its highest slice, or None when the scan holds no sacrum)."""
    if sacrum is not None:  # below or at the sacrum's top: a fused remnant, or the L5-S1 disc the top already marks
        discs = [d for d in discs if (d - sacrum) * spacing > SACRUM_DISC_MM]
        bounds = [sacrum, *discs, last]
    else:
        bounds = [first, *discs, last]
    segments = [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b - a >= 3]
    if sacrum is None:
        return [Vertebra(f"vertebrae_unknown{index + 1}", segment) for index, segment in enumerate(segments)]
    vertebrae = [Vertebra("sacrum", (first, sacrum))]
    levels = list(reversed(SPINE_LEVELS))  # L5, L4, ... from the bottom
    for index, segment in enumerate(segments):
        vertebrae.append(Vertebra(f"vertebrae_{levels[index]}" if index < len(levels) else
                                  f"vertebrae_unknown{index + 1}", segment))
    return vertebrae


def vertebra_masks(bone: np.ndarray, canal: np.ndarray, centres: dict[int, tuple[float, float]],
                   vertebrae: list[Vertebra], spacing: float) -> dict[str, np.ndarray]:
    """Each vertebra's bone on the analysis grid: its slab, near the canal, without the canal."""
    yy, xx = np.mgrid[:bone.shape[1], :bone.shape[2]]
    masks = {}
    for vertebra in vertebrae:
        mask = np.zeros(bone.shape, bool)
        first, last = vertebra.slices
        for k in range(first, last + 1):
            if k not in centres:
                continue
            cy, cx = centres[k]
            near = ((np.abs(xx - cx) * spacing <= (SACROILIAC_MM if vertebra.name == "sacrum" else LATERAL_MM))
                    & ((cy - yy) * spacing <= FRONT_MM) & ((yy - cy) * spacing <= BACK_MM))
            mask[k] = bone[k] & near & ~canal[k]
        if mask.any():
            masks[vertebra.name] = mask
    return masks


def rename_levels(names: dict[int, str], value: int, level: str) -> dict[int, str]:
    """"This vertebra is L3": the vertebra of label `value` named `level`, the others renamed in order
    along the spine (by their current order: bottom to top is the order of `names`' automatic numbering)."""
    if level not in SPINE_LEVELS:
        raise ValueError(f"unknown level {level!r}; use one of {', '.join(SPINE_LEVELS)}")
    chain = [v for v, n in sorted(names.items()) if n.startswith("vertebrae_")]
    if value not in chain:
        raise ValueError(f"label {value} is not one of the automatic vertebrae")
    order = list(reversed(SPINE_LEVELS))  # bottom to top: L5 first
    anchor = order.index(level) - chain.index(value)
    renamed = dict(names)
    for position, v in enumerate(chain):
        index = anchor + position
        renamed[v] = f"vertebrae_{order[index]}" if 0 <= index < len(order) else f"vertebrae_unknown{position + 1}"
    return renamed
