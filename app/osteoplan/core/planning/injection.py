"""A cement injection attached to a trocar (a plan object; the spread is `osteoplan.core.cement`).

``{"id": "c1", "trocar": "t1", "volume_ml": 3.0}``; optional ``viscosity`` ("low" |
"medium" | "high", default "medium": a PMMA injected in its doughy phase) and ``steps_ml``
(portions with pauses between them, e.g. [1, 1, 1]; they must add up to volume_ml; the spread
model fills them one after the other, see `osteoplan.core.cement.steps`) and ``model``
(the cement-spread model, an entry-point name of the ``osteoplan.cement_models`` plugin group;
default "builtin", which is left out of saved plans).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from osteoplan.core.errors import OsteoPlanError

DEFAULT_VISCOSITY = "medium"
DEFAULT_MODEL = "builtin"


class CementError(OsteoPlanError):
    """An injection that cannot be simulated (unknown trocar, tip outside bone or in a vessel...)."""


class Injection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(min_length=1, max_length=64)
    trocar: str = Field(min_length=1, max_length=64)  # the trajectory id the cement goes through
    volume_ml: float = Field(gt=0, le=100, allow_inf_nan=False)
    viscosity: Literal["low", "medium", "high"] = DEFAULT_VISCOSITY
    steps_ml: tuple[Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)], ...] = Field(default=(), max_length=100)
    model: str = Field(default=DEFAULT_MODEL, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")

    @model_validator(mode="after")
    def _steps_add_up(self) -> "Injection":
        if self.steps_ml and abs(sum(self.steps_ml) - self.volume_ml) > 1e-6 * max(1.0, self.volume_ml):
            raise ValueError(f"steps_ml add up to {sum(self.steps_ml):g} mL, not volume_ml ({self.volume_ml:g} mL)")
        return self

    @model_serializer(mode="wrap")
    def _without_default_model(self, handler):
        data = handler(self)  # plans saved before cement models were pluggable stay byte-identical
        if data.get("model") == DEFAULT_MODEL:
            del data["model"]
        return data

    def cumulative_steps(self) -> tuple[float, ...]:
        """Injected volume after each portion (one portion = the whole volume without steps)."""
        out, total = [], 0.0
        for step in self.steps_ml or (self.volume_ml,):
            total += step
            out.append(total)
        return tuple(out)


def portions_of(volume_ml: float, portion_ml: float) -> tuple[float, ...]:
    """`steps_ml` for `volume_ml` in portions of `portion_ml` (the last one takes the rest); () = one shot."""
    if portion_ml <= 0 or portion_ml >= volume_ml - 1e-9:
        return ()
    count = int(volume_ml / portion_ml + 1e-9)
    rest = round(volume_ml - count * portion_ml, 6)
    return (float(portion_ml),) * count + ((rest,) if rest > 1e-6 else ())
