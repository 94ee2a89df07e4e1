"""Typed warnings about a plan (the UI only colours them; `osteoplan check` prints them)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np


class Severity(str, Enum):
    INFO = "info"
    WARN = "warn"
    STOP = "stop"


SEVERITY_ORDER = {Severity.INFO: 0, Severity.WARN: 1, Severity.STOP: 2}


@dataclass(frozen=True)
class SafetyWarning:
    severity: Severity
    object: str  # trajectory or spindle id
    message: str
    structure: str | None = None
    distance_mm: float | None = None
    threshold_mm: float | None = None
    closest_lps: tuple[float, float, float] | None = None

    def to_json(self) -> dict:
        """The object of `osteoplan check --json`'s "warnings" list (a contract: keep the keys)."""
        return {
            "severity": self.severity.value,
            "object": self.object,
            "structure": self.structure,
            "distance_mm": None if self.distance_mm is None else round(float(self.distance_mm), 3),
            "threshold_mm": None if self.threshold_mm is None else float(self.threshold_mm),
            "closest_lps": None if self.closest_lps is None else [round(float(v), 3) for v in np.asarray(self.closest_lps)],
            "message": self.message,
        }


def worst(warnings: list[SafetyWarning]) -> Severity | None:
    return max((w.severity for w in warnings), key=SEVERITY_ORDER.__getitem__, default=None)
