"""Display presets (window/level, volume-rendering transfer functions), data under resources/."""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, model_validator

from osteoplan.core.resources import load_validated_resource, validate_resource

PRESETS_RESOURCE = "display_presets.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowLevelPreset(_Strict):
    id: str
    name: str
    width: float = Field(gt=0)
    level: float
    shortcut: str | None = None
    source: str


class VolumeRenderingPreset(_Strict):
    id: str
    name: str
    color: list[tuple[float, float, float, float]] = Field(min_length=2)  # HU, r, g, b (0..1)
    opacity: list[tuple[float, float]] = Field(min_length=2)  # HU, opacity (0..1)
    ambient: float = Field(ge=0, le=1)
    diffuse: float = Field(ge=0, le=1)
    specular: float = Field(ge=0, le=1)
    specular_power: float = Field(gt=0)
    source: str

    @model_validator(mode="after")
    def _points_sorted_and_in_range(self) -> "VolumeRenderingPreset":
        for label, points in (("color", self.color), ("opacity", self.opacity)):
            hu = [p[0] for p in points]
            if hu != sorted(hu):
                raise ValueError(f"{label} points must be sorted by HU")
            if any(not 0 <= v <= 1 for p in points for v in p[1:]):
                raise ValueError(f"{label} values must lie in 0..1")
        return self


class DisplayPresets(_Strict):
    schema_version: int = Field(ge=1, le=1)
    window_level: list[WindowLevelPreset] = Field(min_length=1)
    default_window_level: str
    volume_rendering: list[VolumeRenderingPreset] = Field(min_length=1)
    default_volume_rendering: str

    @model_validator(mode="after")
    def _defaults_exist(self) -> "DisplayPresets":
        if self.default_window_level not in {p.id for p in self.window_level}:
            raise ValueError(f"default_window_level {self.default_window_level!r} is not a window/level preset id")
        if self.default_volume_rendering not in {p.id for p in self.volume_rendering}:
            raise ValueError(f"default_volume_rendering {self.default_volume_rendering!r} is not a volume preset id")
        return self

    def window_level_preset(self, preset_id: str) -> WindowLevelPreset:
        return next(p for p in self.window_level if p.id == preset_id)

    def volume_preset(self, preset_id: str) -> VolumeRenderingPreset:
        return next(p for p in self.volume_rendering if p.id == preset_id)


def parse_display_presets(data: object) -> DisplayPresets:
    return validate_resource(DisplayPresets, data, PRESETS_RESOURCE)


@lru_cache(maxsize=1)
def display_presets() -> DisplayPresets:
    return load_validated_resource(DisplayPresets, PRESETS_RESOURCE)
