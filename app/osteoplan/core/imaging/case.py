"""A loaded case: the CT, its optional label map, where it came from and what the loader warned."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from osteoplan.core.errors import LoadError
from osteoplan.core.imaging.volume import Volume

if TYPE_CHECKING:
    from osteoplan.core.imaging.io import LabelMap


@dataclass(frozen=True)
class PointReadout:
    lps: np.ndarray
    value: float | None  # HU for a CT; None outside the image
    structure: str | None  # label-map structure under the point


@dataclass(frozen=True)
class AutomaticAnatomy:
    """What `imaging.automatic` added to a case's label map, and what it could not find."""

    values: frozenset[int] = frozenset()  # label values of the case's map that were found automatically
    methods: dict[str, str] = field(default_factory=dict)  # structure name -> how it was found
    unchecked: tuple[tuple[str, str], ...] = ()  # (hazard category, why it has no structure)
    notes: tuple[str, ...] = ()
    found_as: dict[int, str] = field(default_factory=dict)  # label value -> the name it was found under


@dataclass(frozen=True, eq=False)
class Case:
    ct: Volume
    labels: "LabelMap | None" = None
    source: str = ""  # a path, or "demo:spine"
    warnings: tuple[str, ...] = field(default_factory=tuple)
    focus_lps: np.ndarray | None = None  # where the views open (e.g. the lesion); else the centre
    automatic: AutomaticAnatomy | None = None  # None: no automatic structures were looked for

    @property
    def initial_cursor_lps(self) -> np.ndarray:
        return np.asarray(self.focus_lps, dtype=float) if self.focus_lps is not None else self.ct.center_lps()

    @property
    def title(self) -> str:
        return self.ct.info.description or self.source

    def with_labels(self, labels: "LabelMap") -> "Case":
        if not self.ct.same_grid(labels.volume):
            raise LoadError("The label map does not lie on the CT's voxel grid; resample it onto the CT first.")
        return replace(self, labels=labels, automatic=None)  # the automatic ones are looked for again

    def readout(self, lps) -> PointReadout:
        lps = np.asarray(lps, dtype=float)
        structure = None
        if self.labels is not None:
            label = self.labels.volume.value_at_lps(lps)
            if label:
                structure = self.labels.names.get(int(label), f"label_{int(label)}")
        return PointReadout(lps, self.ct.value_at_lps(lps), structure)
