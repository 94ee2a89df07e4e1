"""A cement injection attached to a trocar (a plan object; the spread is `core.cement`).

``{"id": "c1", "trocar": "t1", "volume_ml": 3.0}``; optional ``viscosity`` ("low" |
"medium" | "high", default "medium": a PMMA injected in its doughy phase) and ``steps_ml``
(portions, e.g. [1, 1, 1]; informative: the spread model fills the total volume).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_VISCOSITY = "medium"


class Injection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(min_length=1, max_length=64)
    trocar: str = Field(min_length=1, max_length=64)  # the trajectory id the cement goes through
    volume_ml: float = Field(gt=0, le=100, allow_inf_nan=False)
    viscosity: Literal["low", "medium", "high"] = DEFAULT_VISCOSITY
    steps_ml: tuple[Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)], ...] = Field(default=(), max_length=100)

    @model_validator(mode="after")
    def _steps_add_up(self) -> "Injection":
        if self.steps_ml and abs(sum(self.steps_ml) - self.volume_ml) > 1e-6 * max(1.0, self.volume_ml):
            raise ValueError(f"steps_ml add up to {sum(self.steps_ml):g} mL, not volume_ml ({self.volume_ml:g} mL)")
        return self

    def cumulative_steps(self) -> tuple[float, ...]:
        """Injected volume after each portion (one portion = the whole volume without steps)."""
        out, total = [], 0.0
        for step in self.steps_ml or (self.volume_ml,):
            total += step
            out.append(total)
        return tuple(out)
