"""Needle paths: trajectories (trocars, screws, probes) and the spindles pushed through them.

Values are immutable: an edit makes a new Trajectory (`model_copy(update=...)`), which is
what the undo stack stores. Coordinates are LPS millimetres.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Annotated

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

MIN_LENGTH_MM = 0.5  # shorter than this, entry and target are the same point to a user
MAX_COORDINATE_MM = 10_000.0  # 10 m from the scanner's origin: beyond any patient (1e300 would overflow the maths)


def _finite_vector(value: tuple[float, float, float]) -> tuple[float, float, float]:
    if not all(math.isfinite(v) for v in value):
        raise ValueError("coordinates must be finite numbers (no NaN or infinity)")
    if any(abs(v) > MAX_COORDINATE_MM for v in value):
        raise ValueError(f"coordinates must lie within {MAX_COORDINATE_MM:.0f} mm of the scanner's origin (LPS); "
                         f"got {', '.join(f'{v:g}' for v in value)}")
    return tuple(float(v) for v in value)  # type: ignore[return-value]


Vec3 = Annotated[tuple[float, float, float], AfterValidator(_finite_vector)]


class TrajectoryKind(str, Enum):
    TRANSPEDICULAR = "transpedicular"
    PARAPEDICULAR = "parapedicular"
    TRANSCORTICAL = "transcortical"
    FREE = "free"


class Side(str, Enum):
    LEFT = "left"  # the patient's left (+x in LPS)
    RIGHT = "right"
    MIDLINE = "midline"


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Spindle(_Value):
    """A thin pin pushed out of a trocar near its tip, in its own direction, until anchored in bone."""

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(default="", max_length=200)
    direction: Vec3  # unit vector (normalised on validation)
    length_mm: float = Field(gt=0, le=500)  # from where it leaves the trocar to its tip
    device: str = Field(min_length=1, max_length=128)
    start_offset_mm: float = Field(default=0.0, ge=0, le=200)  # back from the trocar tip

    @model_validator(mode="after")
    def _unit_direction(self) -> "Spindle":
        norm = float(np.linalg.norm(self.direction))
        if norm < 1e-9:
            raise ValueError("direction must not be the zero vector")
        if abs(norm - 1.0) > 1e-12:  # already unit: keep it bit for bit, so that save -> load is exact
            object.__setattr__(self, "direction", tuple(float(v) / norm for v in self.direction))
        return self

    def start_lps(self, trocar: "Trajectory") -> np.ndarray:
        return np.asarray(trocar.target_lps) - trocar.axis * self.start_offset_mm

    def tip_lps(self, trocar: "Trajectory") -> np.ndarray:
        return self.start_lps(trocar) + np.asarray(self.direction) * self.length_mm


class Trajectory(_Value):
    """A straight needle path from `entry_lps` (skin side) to `target_lps` (tip), with its device."""

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(default="", max_length=200)
    kind: TrajectoryKind = TrajectoryKind.FREE
    side: Side | None = None
    target_structure: str | None = Field(default=None, max_length=200)  # e.g. "vertebrae_L2", "lesion"
    level: str | None = Field(default=None, max_length=32)  # e.g. "L2"
    entry_lps: Vec3
    target_lps: Vec3
    device: str = Field(min_length=1, max_length=128)
    spindles: tuple[Spindle, ...] = Field(default=(), max_length=32)
    visible: bool = True

    @model_validator(mode="after")
    def _entry_differs_from_target(self) -> "Trajectory":
        if float(np.linalg.norm(np.subtract(self.target_lps, self.entry_lps))) < MIN_LENGTH_MM:
            raise ValueError(f"entry_lps and target_lps must be at least {MIN_LENGTH_MM} mm apart")
        ids = [s.id for s in self.spindles]
        if len(ids) != len(set(ids)):
            raise ValueError("spindle ids must be unique within a trajectory")
        return self

    @property
    def label(self) -> str:
        return self.name or self.id

    @property
    def entry(self) -> np.ndarray:
        return np.asarray(self.entry_lps, dtype=float)

    @property
    def target(self) -> np.ndarray:
        return np.asarray(self.target_lps, dtype=float)

    @property
    def vector(self) -> np.ndarray:
        return self.target - self.entry

    @property
    def length_mm(self) -> float:
        return float(np.linalg.norm(self.vector))

    @property
    def axis(self) -> np.ndarray:
        """Unit vector from entry to target."""
        return self.vector / self.length_mm

    def point_at(self, depth_mm: float) -> np.ndarray:
        """The point `depth_mm` along the path from the entry."""
        return self.entry + self.axis * depth_mm

    def spindle(self, spindle_id: str) -> Spindle:
        for spindle in self.spindles:
            if spindle.id == spindle_id:
                return spindle
        raise KeyError(spindle_id)
