"""Edited and user structure masks on disk: label maps on the CT grid beside the plan file.

``<plan stem>.structures.nii.gz`` holds the masks (uint16, values 1..n, names in the plan's
``structures.masks[].names``). Masks may overlap (a lesion painted inside bone): each file
holds masks that do not, so an overlap adds ``<plan stem>.structures-2.nii.gz`` and so on.
Files are written atomically (a temporary file renamed over the old one) and only when
some structure was edited.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from osteoplan.core.errors import LoadError
from osteoplan.core.atomic import atomic_write_with
from osteoplan.core.imaging.io.labels import load_label_map
from osteoplan.core.imaging.volume import Volume
from osteoplan.core.planning.plan import MaskLayerRef
from osteoplan.core.safety.structure_state import EditedMasks
from osteoplan.core.safety.structures import Structure, structures_from_label_volume

MASKS_SUFFIX = ".structures"
MASKS_EXTENSION = ".nii.gz"


def label_layers(structures, shape) -> list[tuple[np.ndarray, dict[int, str]]]:
    """Non-overlapping uint16 label maps holding every structure (first layer that has room)."""
    layers: list[tuple[np.ndarray, dict[int, str]]] = []
    for structure in sorted(structures, key=lambda s: s.name):
        for array, names in layers:
            if not array[structure.box][structure.box_mask].any():
                break
        else:
            array, names = np.zeros(shape, np.uint16), {}
            layers.append((array, names))
        value = len(names) + 1
        array[structure.box][structure.box_mask] = value
        names[value] = structure.name
    return layers


def masks_path(stem_path: str | os.PathLike, index: int = 0) -> Path:
    """Where layer `index` of the masks of the plan (or autosave) file `stem_path` goes."""
    stem_path = Path(stem_path)
    stem = stem_path.name.removesuffix(".json").removesuffix(".plan")
    return stem_path.with_name(f"{stem}{MASKS_SUFFIX}{'' if index == 0 else f'-{index + 1}'}{MASKS_EXTENSION}")


def write_structure_masks(masks: EditedMasks, stem_path: str | os.PathLike) -> list[MaskLayerRef]:
    """Write the masks beside `stem_path` (atomically); the refs hold absolute paths."""
    refs = []
    layers = label_layers(masks.structures, masks.grid.array.shape)
    for index, (array, names) in enumerate(layers):
        target = masks_path(stem_path, index)
        image = masks.grid.with_array(array).to_sitk()
        atomic_write_with(target, lambda temp, image=image: sitk.WriteImage(image, temp, True), MASKS_EXTENSION)
        refs.append(MaskLayerRef(path=str(target), names={str(v): n for v, n in names.items()}))
    return refs


def read_structure_masks(refs: list[MaskLayerRef], ct: Volume) -> EditedMasks:
    """The masks the refs name, on the CT grid (LoadError: missing file, other geometry...)."""
    found: list[Structure] = []
    for ref in refs:
        labels = load_label_map(ref.path, reference=ct) if ref.names else None
        if labels is None:
            continue
        array = labels.volume.array
        if array.dtype.kind not in "iu" or (array.size and array.min() < 0):
            raise LoadError(f"The structure mask file {ref.path} holds negative or non-integer labels.", ref.path)
        found += structures_from_label_volume(array, {int(v): n for v, n in ref.names.items()})
    return EditedMasks(ct, tuple(found))


def remove_structure_masks(stem_path: str | os.PathLike, limit: int = 16) -> None:
    """Delete the mask files written for `stem_path` (an autosave being discarded)."""
    for index in range(limit):
        try:
            masks_path(stem_path, index).unlink()
        except FileNotFoundError:
            continue
        except OSError:
            pass
