"""What a benchmark measured, in one form for all of them: each figure has a value and unit, a goal, and a
baseline measured in the same run (absolute times hold only on one machine kind; the ratio to the baseline
travels). `record(...)` keeps a figure and prints it; `finish()` writes the figures of the run to the JSON file
named by $OSTEOPLAN_BENCH_JSON (`run_all.py` sets it) and gives the exit code: 1 when a goal was missed."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

ENV_JSON = "OSTEOPLAN_BENCH_JSON"


@dataclass
class Figure:
    value: float
    unit: str
    goal: float | None  # an upper bound (lower is better); None: measured, no goal
    baseline: str  # what the ratio is to, e.g. "bare python process" or "the 16 ms frame budget"
    baseline_value: float

    @property
    def ratio(self) -> float:
        return self.value / self.baseline_value if self.baseline_value else float("nan")

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.value <= self.goal


FIGURES: dict[str, Figure] = {}


def record(name: str, value: float, unit: str, goal: float | None, baseline: str, baseline_value: float) -> Figure:
    figure = Figure(float(value), unit, goal, baseline, float(baseline_value))
    FIGURES[name] = figure
    verdict = "" if figure.met is None else ("goal met" if figure.met else "GOAL MISSED")
    goal_text = "" if goal is None else f", goal <= {goal:g} {unit}"
    print(f"  [{name}] {value:.4g} {unit}{goal_text}; ratio to {baseline} {figure.ratio:.3g}  {verdict}")
    return figure


def finish() -> int:
    """Write this run's figures where run_all.py asked (if it did); 1 when a goal was missed, else 0."""
    path = os.environ.get(ENV_JSON)
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({name: {**asdict(f), "ratio": f.ratio, "met": f.met} for name, f in FIGURES.items()}, handle,
                      indent=1)
    return 1 if any(f.met is False for f in FIGURES.values()) else 0
