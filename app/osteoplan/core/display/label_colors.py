"""Display colours of label-map structures, from resources/label_colors.json."""

from __future__ import annotations

import colorsys
import fnmatch
import hashlib
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from osteoplan.core.resources import load_validated_resource

LABEL_COLORS_RESOURCE = "label_colors.json"


class _ColorRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    pattern: str = Field(min_length=1)
    rgb: tuple[int, int, int]
    opacity: float = Field(default=1.0, ge=0.0, le=1.0)


class _LabelColors(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int = Field(ge=1, le=1)
    description: str = ""
    colors: list[_ColorRule]


@lru_cache(maxsize=1)
def _rules() -> tuple[_ColorRule, ...]:
    return tuple(load_validated_resource(_LabelColors, LABEL_COLORS_RESOURCE).colors)


@lru_cache(maxsize=4096)
def label_style(name: str) -> tuple[tuple[float, float, float], float]:
    """(RGB in 0..1, overlay opacity 0..1) of a structure: the first matching rule, else a stable hue."""
    for rule in _rules():
        if fnmatch.fnmatchcase(name.lower(), rule.pattern):
            return tuple(c / 255.0 for c in rule.rgb), rule.opacity  # type: ignore[return-value]
    hue = int(hashlib.sha1(name.encode()).hexdigest()[:6], 16) / 0xFFFFFF
    return colorsys.hsv_to_rgb(hue, 0.55, 0.95), 0.5


def label_color(name: str) -> tuple[float, float, float]:
    return label_style(name)[0]
