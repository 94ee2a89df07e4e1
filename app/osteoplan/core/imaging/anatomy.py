"""The categories of anatomical structures (neural, vascular, bone, lesion, skin...), which label
names fall in each, and each category's default distance thresholds per context: the schema and
loader of resources/structure_categories.json. The thresholds are applied by `osteoplan.core.safety`.
"""

from __future__ import annotations

import fnmatch
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from osteoplan.core.resources import load_validated_resource

CATEGORIES_RESOURCE = "structure_categories.json"
CONTEXTS = ("needle", "ablation", "cement")  # what comes near a structure: a needle, an ablation zone, cement


class ThresholdRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    warn_mm: float | None = Field(ge=0)
    stop_mm: float | None = Field(ge=0)
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _stop_within_warn(self) -> "ThresholdRule":
        if self.warn_mm is not None and self.stop_mm is not None and self.stop_mm > self.warn_mm:
            raise ValueError(f"stop_mm ({self.stop_mm}) must not exceed warn_mm ({self.warn_mm})")
        return self


class CategoryRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = Field(min_length=1)
    rgb: tuple[int, int, int]
    thresholds: dict[Literal["needle", "ablation", "cement"], ThresholdRule]

    @model_validator(mode="after")
    def _all_contexts(self) -> "CategoryRule":
        missing = set(CONTEXTS) - set(self.thresholds)
        if missing:
            raise ValueError(f"thresholds lack the context(s) {sorted(missing)}")
        if not all(0 <= c <= 255 for c in self.rgb):
            raise ValueError("rgb values must lie in 0..255")
        return self


class NameRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    pattern: str = Field(min_length=1)
    category: str = Field(min_length=1)
    note: str = ""


class StructureCategories(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int = Field(ge=1, le=1)
    description: str = ""
    default_category: str
    categories: dict[str, CategoryRule]
    name_map: list[NameRule]

    @model_validator(mode="after")
    def _known_categories(self) -> "StructureCategories":
        unknown = {r.category for r in self.name_map} | {self.default_category}
        unknown -= set(self.categories)
        if unknown:
            raise ValueError(f"name_map / default_category name unknown categories {sorted(unknown)}")
        return self

    def category_of(self, name: str) -> str:
        """The first name_map pattern matching the lower-case name, else the default category."""
        lowered = name.lower()
        return next((r.category for r in self.name_map if fnmatch.fnmatchcase(lowered, r.pattern)),
                    self.default_category)


@lru_cache(maxsize=1)
def structure_categories() -> StructureCategories:
    return load_validated_resource(StructureCategories, CATEGORIES_RESOURCE)


def category_of(name: str) -> str:
    return structure_categories().category_of(name)
