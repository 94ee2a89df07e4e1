"""Tissue properties for the bioheat model (``resources/tissue_properties.json``) and the
per-voxel property maps of a computation grid.

Every value carries ``verified`` and ``source`` (sources.md's ✔/✱). Perfusion is stored in
1/s or in mL/min/kg, converted as ω = q · ρ · 1e-6 / 60 (sources.md). A tissue flagged
``heat_sink`` (large-vessel blood) is held at arterial temperature by the solver. Voxels are
classed by HU (``tissue_classes.json`` → ``hu_classes``), then overridden by label rules
(lesion, CSF in the spinal canal, blood in the aorta / vena cava ...).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from osteoplan.core.imaging.tissue import tissue_classes
from osteoplan.core.resources import load_validated_resource, validate_resource

PROPERTIES_RESOURCE = "tissue_properties.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Quantity(_Strict):
    value: float
    verified: bool
    source: str = Field(min_length=1)


class TissueProperties(_Strict):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    conductivity_w_mk: Quantity
    density_kg_m3: Quantity
    heat_capacity_j_kgk: Quantity
    perfusion_per_s: Quantity | None = None
    perfusion_ml_min_kg: Quantity | None = None
    electrical_conductivity_s_m: Quantity
    heat_sink: bool = False

    @model_validator(mode="after")
    def _check(self) -> "TissueProperties":
        if (self.perfusion_per_s is None) == (self.perfusion_ml_min_kg is None):
            raise ValueError(f"tissue {self.id!r}: give exactly one of perfusion_per_s, perfusion_ml_min_kg")
        for name in ("conductivity_w_mk", "density_kg_m3", "heat_capacity_j_kgk", "electrical_conductivity_s_m"):
            if not getattr(self, name).value > 0:
                raise ValueError(f"tissue {self.id!r}: {name} must be > 0")
        if self.perfusion_quantity.value < 0:
            raise ValueError(f"tissue {self.id!r}: perfusion must be >= 0")
        return self

    @property
    def perfusion_quantity(self) -> Quantity:
        return self.perfusion_per_s if self.perfusion_per_s is not None else self.perfusion_ml_min_kg  # type: ignore

    @property
    def perfusion_s(self) -> float:
        """ω in 1/s (volume of blood per volume of tissue per second)."""
        if self.perfusion_per_s is not None:
            return self.perfusion_per_s.value
        return self.perfusion_ml_min_kg.value * self.density_kg_m3.value * 1e-6 / 60.0  # type: ignore[union-attr]


class LabelRule(_Strict):
    contains: str = Field(min_length=1)  # substring of the label name
    tissue: str
    hu_min: float | None = None  # only voxels at or above this HU


class TissuePropertyTable(_Strict):
    schema_version: int = Field(ge=1, le=1)
    description: str = ""
    blood_tissue: str
    arterial_temperature_c: float = Field(ge=30, le=42)
    tissues: tuple[TissueProperties, ...] = Field(min_length=1)
    hu_classes: dict[str, str]
    label_rules: tuple[LabelRule, ...] = ()
    outside_hu: float = 40.0

    @model_validator(mode="after")
    def _references(self) -> "TissuePropertyTable":
        ids = [t.id for t in self.tissues]
        if len(set(ids)) != len(ids):
            raise ValueError("tissue ids must be unique")
        refs = [self.blood_tissue, *self.hu_classes.values(), *(r.tissue for r in self.label_rules)]
        unknown = sorted(set(refs) - set(ids))
        if unknown:
            raise ValueError(f"unknown tissue id(s) referenced: {unknown}")
        return self

    def index(self, tissue_id: str) -> int:
        return [t.id for t in self.tissues].index(tissue_id)

    def column(self, attribute: str) -> np.ndarray:
        return np.array([getattr(t, attribute).value for t in self.tissues], dtype=float)

    @property
    def perfusion_w_m3k(self) -> np.ndarray:
        """ω ρ_b c_b per tissue (W/m³/K)."""
        blood = self.tissues[self.index(self.blood_tissue)]
        rho_c_blood = blood.density_kg_m3.value * blood.heat_capacity_j_kgk.value
        return np.array([t.perfusion_s for t in self.tissues]) * rho_c_blood

    @property
    def heat_sink(self) -> np.ndarray:
        return np.array([t.heat_sink for t in self.tissues], dtype=bool)


def parse_tissue_properties(data: object) -> TissuePropertyTable:
    """Validate `data` (ResourceError on bad data) and check every HU class is mapped."""
    table = validate_resource(TissuePropertyTable, data, PROPERTIES_RESOURCE)
    from osteoplan.core.errors import ResourceError

    missing = sorted({c.id for c in tissue_classes().classes} - set(table.hu_classes))
    if missing:
        raise ResourceError(f"{PROPERTIES_RESOURCE} is invalid: hu_classes lacks HU class(es) {missing}")
    return table


@lru_cache(maxsize=1)
def tissue_properties() -> TissuePropertyTable:
    table = load_validated_resource(TissuePropertyTable, PROPERTIES_RESOURCE)
    return parse_tissue_properties(table.model_dump())


def tissue_index_map(hu: np.ndarray, labels: np.ndarray | None, names: dict[int, str],
                     table: TissuePropertyTable | None = None) -> np.ndarray:
    """Per-voxel index into ``table.tissues`` from HU and (optional) labels."""
    table = table or tissue_properties()
    classes = tissue_classes()
    lut = np.array([table.index(table.hu_classes[c.id]) for c in classes.classes], dtype=np.int16)
    out = lut[classes.class_index(hu)]
    if labels is not None and labels.any():
        for value in np.unique(labels):
            if value == 0:
                continue
            name = names.get(int(value), f"label_{int(value)}")
            for rule in table.label_rules:
                if rule.contains in name:
                    sel = labels == value
                    if rule.hu_min is not None:
                        sel &= hu >= rule.hu_min
                    out[sel] = table.index(rule.tissue)
                    break
    return out
