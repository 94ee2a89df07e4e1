"""The neural foramina and exiting nerve-root zones, found beside the automatic spinal canal.

On the `spine.analysis_grid`, in each slice of the canal: the soft tissue connected to the canal,
in a band from the canal's front (the back of the vertebral body or disc) to its centre, reaching up
to `REACH_MM` beyond the canal's side. At a pedicle the bony ring stops that tissue at the canal's
wall; between two pedicles it runs out through the foramen. A side of a slice is foraminal when its
tissue escapes at least `ESCAPE_MM` beyond the canal's side; the zone is that tissue: the foramen and
the first centimetre of the root outside it (where the dorsal root ganglion lies).

Each run of foraminal slices belongs to the nearest disc (within `DISC_REACH_MM`) and carries the
root of the vertebra above it (L4 exits the L4-L5 foramen): ``nerve_root_L4_left``. Runs in the
sacrum, away from the L5-S1 disc, are its foramina: ``nerve_root_sacral_left``. The zone is where the
roots can be, not the roots themselves (they are not resolved on CT), and it needs the vertebrae
(their discs) to be named; a level whose foramen is filled by bone or tumour, or closed by
partial volume on thick slices, gets no zone and the method says so.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from osteoplan.core.imaging.vertebrae import Vertebra

REACH_MM = 15.0  # the foramen (~8-12 mm deep) and the root's first few mm outside it
ESCAPE_MM = 8.0  # tissue this far beyond the canal's side has left the bony ring: a foramen
FRONT_MARGIN_MM = 2.0  # the band starts this far in front of the canal's front (the back of the disc)
DISC_REACH_MM = 12.0  # a foramen's slices lie within this of the disc below its root's vertebra
MIN_RUN_MM = 4.0  # shorter runs are noise (a gap in a thin cortex), not a foramen
BODY_HU = -300.0
SIDES = {"left": 1, "right": -1}  # LPS: +x is the patient's left


def _foraminal_slices(bone: np.ndarray, hu: np.ndarray, canal: np.ndarray,
                      centres: dict[int, tuple[float, float]], spacing: float) -> dict[str, np.ndarray]:
    """Per side, the zone's voxels of every foraminal slice (bool arrays on the analysis grid)."""
    zones = {side: np.zeros(canal.shape, bool) for side in SIDES}
    yy, xx = np.mgrid[:canal.shape[1], :canal.shape[2]]
    for k, (cy, cx) in centres.items():
        if not canal[k].any():
            continue
        rows, cols = np.flatnonzero(canal[k].any(axis=1)), np.flatnonzero(canal[k].any(axis=0))
        half = 0.5 * (cols.max() - cols.min() + 1)
        band = ((yy >= rows.min() - FRONT_MARGIN_MM / spacing) & (yy <= cy + 1)
                & (np.abs(xx - cx) <= half + REACH_MM / spacing))
        labels, _ = ndimage.label((band & ~bone[k] & (hu[k] > BODY_HU)) | canal[k])
        touching = np.unique(labels[canal[k]])
        tissue = np.isin(labels, touching[touching > 0]) & ~canal[k]
        beyond = np.abs(xx - cx) - half  # voxels beyond the canal's side
        for side, sign in SIDES.items():
            part = tissue & ((xx - cx) * sign > half)
            if part.any() and beyond[part].max() * spacing >= ESCAPE_MM:
                zones[side][k] = part
    return zones


def _runs(slices: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive runs [first, last] of the sorted slice indices."""
    if not len(slices):
        return []
    breaks = np.flatnonzero(np.diff(slices) > 1)
    starts, ends = np.r_[slices[0], slices[breaks + 1]], np.r_[slices[breaks], slices[-1]]
    return list(zip(starts.tolist(), ends.tolist()))


def find_foramina(bone: np.ndarray, hu: np.ndarray, canal: np.ndarray, centres: dict[int, tuple[float, float]],
                  vertebrae: list[Vertebra], spacing: float) -> dict[str, np.ndarray]:
    """The nerve-root zones (name -> bool mask on the analysis grid), see the module docstring.
    `vertebrae` bottom to top, as `vertebrae.name_vertebrae` gives them (the sacrum first when found)."""
    # a disc is where one vertebra ends and the next begins: (its slice, the vertebra above it)
    discs = [(above.slices[0], above) for below, above in zip(vertebrae[:-1], vertebrae[1:])]
    sacrum = next((v for v in vertebrae if v.name == "sacrum"), None)
    found: dict[str, np.ndarray] = {}
    for side, zone in _foraminal_slices(bone, hu, canal, centres, spacing).items():
        for first, last in _runs(np.flatnonzero(zone.any(axis=(1, 2)))):
            if (last - first + 1) * spacing < MIN_RUN_MM:
                continue
            middle = 0.5 * (first + last)
            near = [(abs(middle - slice_) * spacing, above) for slice_, above in discs]
            distance, above = min(near, key=lambda item: item[0], default=(np.inf, None))
            if distance <= DISC_REACH_MM:
                level = above.name.removeprefix("vertebrae_")
            elif sacrum is not None and sacrum.slices[0] <= middle <= sacrum.slices[1]:
                level = "sacral"
            else:
                continue
            name = f"nerve_root_{level}_{side}"
            run = np.zeros(zone.shape, bool)
            run[first:last + 1] = zone[first:last + 1]
            found[name] = found[name] | run if name in found else run
    return found


def renamed_root(name: str, vertebrae: dict[str, str]) -> str:
    """A nerve-root zone's name after the vertebrae were renamed (`vertebrae`: old name -> new name)."""
    level, _, side = name.removeprefix("nerve_root_").rpartition("_")
    new = vertebrae.get(f"vertebrae_{level}")
    return f"nerve_root_{new.removeprefix('vertebrae_')}_{side}" if new is not None else name
