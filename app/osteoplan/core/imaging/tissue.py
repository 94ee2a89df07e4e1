"""What tissue a point lies in: the label-map structure there, else a class from its HU value.

The HU classes (air, lung, fat, fluid, soft tissue, cancellous bone, cortical bone) are
data in ``resources/tissue_classes.json``, validated at load: half-open ranges
``[hu_min, hu_max)`` that are contiguous and cover every value, each with its source.
Points are looked up at the nearest voxel (as the status bar does); a point outside the
image is ``"outside"``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from osteoplan.core.resources import load_validated_resource, validate_resource

if TYPE_CHECKING:
    from osteoplan.core.imaging.case import Case

TISSUE_RESOURCE = "tissue_classes.json"
OUTSIDE = "outside"  # a point beyond the image grid


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TissueClass(_Strict):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    hu_min: float | None  # None: no lower bound
    hu_max: float | None  # None: no upper bound (exclusive)
    source: str = Field(min_length=1)
    verified: bool


class EnclosedCancellous(_Strict):
    """Marrow enclosed by a cortical ring counts as cancellous bone from this HU (osteoporotic bone is
    below the cancellous class's lower bound; CSF, fat and lytic tumour stay below this)."""

    hu_min: float = Field(ge=0, le=200)
    source: str = Field(min_length=1)


class CorticalShell(_Strict):
    """A point of bone this close to the bone's surface is read as cortex (at CT resolution the thin cortex
    and the bone under it are one), as is any bone voxel of the cortical class."""

    depth_mm: float = Field(gt=0, le=5)
    source: str = Field(min_length=1)


class TissueClasses(_Strict):
    schema_version: int = Field(ge=1, le=1)
    description: str = ""
    classes: tuple[TissueClass, ...] = Field(min_length=1)
    enclosed_cancellous: EnclosedCancellous
    cortical_shell: CorticalShell

    @model_validator(mode="after")
    def _contiguous_cover(self) -> "TissueClasses":
        first, last = self.classes[0], self.classes[-1]
        if first.hu_min is not None or last.hu_max is not None:
            raise ValueError("the first class must have hu_min null and the last hu_max null (cover every HU)")
        for lower, upper in zip(self.classes[:-1], self.classes[1:]):
            if lower.hu_max is None or upper.hu_min is None or lower.hu_max != upper.hu_min:
                raise ValueError(f"class {upper.id!r} must start where {lower.id!r} ends (sorted, no gap, no overlap)")
        for c in self.classes:
            if c.hu_min is not None and c.hu_max is not None and c.hu_min >= c.hu_max:
                raise ValueError(f"class {c.id!r} has hu_min >= hu_max")
        ids = [c.id for c in self.classes]
        if len(set(ids)) != len(ids):
            raise ValueError("class ids must be unique")
        return self

    @property
    def boundaries_hu(self) -> np.ndarray:
        """The inner boundaries, ascending: class i covers [boundaries[i-1], boundaries[i])."""
        return np.array([c.hu_min for c in self.classes[1:]], dtype=float)

    def class_index(self, hu) -> np.ndarray:
        return np.searchsorted(self.boundaries_hu, np.asarray(hu, dtype=float), side="right")

    def class_of(self, hu: float) -> TissueClass:
        return self.classes[int(self.class_index(hu))]

    def by_id(self, class_id: str) -> TissueClass:
        for c in self.classes:
            if c.id == class_id:
                return c
        raise KeyError(class_id)


def parse_tissue_classes(data: object) -> TissueClasses:
    return validate_resource(TissueClasses, data, TISSUE_RESOURCE)


@lru_cache(maxsize=1)
def tissue_classes() -> TissueClasses:
    return load_validated_resource(TissueClasses, TISSUE_RESOURCE)


def hu_class_name(hu: float) -> str:
    return tissue_classes().class_of(hu).name


class TissueLookup:
    """Vectorised tissue names for one case (the label names and HU table resolved once)."""

    def __init__(self, case: "Case", classes: TissueClasses | None = None) -> None:
        self._ct = case.ct
        self._classes = classes or tissue_classes()
        self._class_names = np.array([c.name for c in self._classes.classes] + [OUTSIDE], dtype=object)
        self._labels = case.labels.volume.array if case.labels is not None else None
        names = case.labels.names if case.labels is not None else {}
        top = int(self._labels.max()) if self._labels is not None and self._labels.size else 0
        lut = np.full(max(top, max(names, default=0)) + 1, None, dtype=object)
        for value in range(1, len(lut)):
            lut[value] = names.get(value, f"label_{value}")  # the naming Case.readout uses
        self._label_names = lut

    def names_at(self, points_lps) -> np.ndarray:
        """Tissue name at each LPS point (..., 3) -> object array of str (...)."""
        points = np.asarray(points_lps, dtype=float)
        flat = points.reshape(-1, 3)
        ijk = self._ct.lps_to_index(flat)
        inside = self._ct.contains_index(ijk)
        i, j, k = np.clip(np.floor(ijk + 0.5).astype(int), 0, np.asarray(self._ct.size) - 1).T
        hu = self._ct.array[k, j, i].astype(float)
        out = self._class_names[np.where(inside, self._classes.class_index(hu), len(self._class_names) - 1)]
        if self._labels is not None:
            label = np.where(inside, self._labels[k, j, i], 0).astype(np.int64)
            labelled = (label > 0) & (label < len(self._label_names))
            out = np.where(labelled, self._label_names[np.where(labelled, label, 0)], out)
        return out.reshape(points.shape[:-1])

    def name_at(self, point_lps) -> str:
        return str(self.names_at(np.asarray(point_lps, dtype=float)[None, :])[0])


def tissue_at(case: "Case", lps) -> str:
    """The structure name where the label map labels `lps` (e.g. "lesion", "vertebrae_L2"), else its HU class."""
    return TissueLookup(case).name_at(lps)


def tissues_at(case: "Case", points_lps) -> np.ndarray:
    """`tissue_at` for many points (..., 3): an object array of names (...)."""
    return TissueLookup(case).names_at(points_lps)
