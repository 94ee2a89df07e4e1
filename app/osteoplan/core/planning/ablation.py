"""A thermal ablation on a plan: which setting of the probe on which path, pulled back how far, and
the thermocouple points whose temperature is predicted. Immutable values held by the `Plan` and
edited through `PlanEditor`; the zones they make are `osteoplan.core.ablation`.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from osteoplan.core.planning.devices import AblationProbe, AblationSetting
from osteoplan.core.planning.trajectory import Vec3


class Ablation(BaseModel):
    """An ablation with the probe of trajectory `trajectory`, at setting `setting` (an id of the probe)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(min_length=1, max_length=64)
    trajectory: str = Field(min_length=1, max_length=64)
    setting: str = Field(min_length=1, max_length=128)
    offset_mm: float = Field(default=0.0, ge=-100, le=100, allow_inf_nan=False)  # pulled back along the probe


class Thermocouple(BaseModel):
    """A temperature probe point (LPS mm) whose predicted peak temperature is reported."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(min_length=1, max_length=64)
    position_lps: Vec3

    @property
    def position(self) -> np.ndarray:
        return np.asarray(self.position_lps, dtype=float)


class AblationError(ValueError):
    """An ablation that cannot be evaluated (unknown trajectory, not a probe, unknown setting)."""


def probe_and_setting(catalog, trajectory, ablation: Ablation) -> tuple[AblationProbe, AblationSetting]:
    """The probe of the ablation's trajectory and its setting; `AblationError` naming what is wrong."""
    device = catalog.get(trajectory.device)
    if not isinstance(device, AblationProbe):
        raise AblationError(f"ablation {ablation.id!r}: the device of trajectory {trajectory.id!r} "
                            f"({device.id!r}, a {device.kind.value}) is not an ablation probe")
    try:
        return device, device.setting(ablation.setting)
    except KeyError as exc:
        raise AblationError(f"ablation {ablation.id!r}: {exc}") from None
