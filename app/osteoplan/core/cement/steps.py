"""Stepwise injection: cement given in portions with pauses (e.g. 1 mL at a time).

Model (parameters in resources/cement_model.json "pause", illustrative): during a pause the cement
already placed thickens. The next portion leaves the same trocar tip, so it has to cross that
cement, which resists like its bone with the permeability divided by `set_viscosity_ratio` (the
new cement must push the stiffer one aside); once past it, it spreads through bone as usual. The
arrival times of each portion are a new front-propagation solve from the tips on that updated
speed, and the portion fills the voxels not yet cemented in order of those times. A portion
therefore breaks out where the earlier cement is thinnest -- a new path of least resistance --
instead of extending the front that ran furthest (into a channel, towards a leak). With a ratio
of 1 the portions reproduce the single shot exactly.

Bilateral or multi-trocar plans alternate, as clinicians do: round r gives portion r of every
injection that has one, trocar after trocar, each portion solved from its own tip with all the
cement placed before it as the obstacle (an injection without steps is one portion, in round 1).
Querying another volume (the preview slider) re-plays the portions on the solved times (no new
solve); the obstacle stays the planned portions'. Past its planned volume an injection continues
its last portion.
"""

from __future__ import annotations

import numpy as np

from osteoplan.core.cement.spread import (CementModel, Field3, Fill, SpreadGraph, cement_model, first_reaches,
                                   gateway_marks, requested_volumes, take_count)
from osteoplan.core.planning.injection import Injection


def is_stepwise(injections: list[Injection]) -> bool:
    return any(len(i.steps_ml) > 1 for i in injections)


def _portions(injection: Injection) -> tuple[float, ...]:
    return tuple(injection.steps_ml) or (injection.volume_ml,)


class SteppedCementSolution:
    """The arrival times of every portion, re-queried for any volumes without solving.

    Same interface as `CementSolution` (fill, first_reach_ml, reachable_ml, field, injections)."""

    def __init__(self, field: Field3, ct, seeds: list[np.ndarray], injections: list[Injection], model: CementModel,
                 exponent: float, k_scale: np.ndarray | None = None, connectivity: int = 26) -> None:
        ratio = (model.pause or cement_model().pause).set_viscosity_ratio
        self.field = field
        self.injections = injections
        self._weights = (field.phi * field.voxel_ml).ravel()
        portions = {i.id: _portions(i) for i in injections}
        self._last_round = {i.id: len(portions[i.id]) - 1 for i in injections}
        self._cumulative = {i.id: np.cumsum(portions[i.id]) for i in injections}
        rounds = max(len(p) for p in portions.values())
        graph = SpreadGraph(field, ct, exponent, model.kozeny.k_ref_m2, model.kozeny.transverse_ratio, connectivity)
        taken = np.zeros(field.region.size, dtype=bool)
        marks = gateway_marks(field)
        # the portions in injection order, round by round: (injection id, 0-based portion, voxels by arrival time)
        self._sequence: list[tuple[str, int, np.ndarray]] = []
        self._gateways: dict[str, list[dict]] = {i.id: [] for i in injections}
        for number in range(rounds):
            for n, injection in enumerate(injections):
                if number >= len(portions[injection.id]):
                    continue
                slowed = np.where(taken.reshape(field.region.shape), 1.0 / ratio, 1.0)
                flat_t = graph.arrival_times([seeds[n]], slowed if k_scale is None else slowed * k_scale)[0].ravel()
                reached = np.flatnonzero(np.isfinite(flat_t))
                order = reached[np.argsort(flat_t[reached], kind="stable")]
                self._sequence.append((injection.id, number, order))
                free = order[~taken[order]]
                cum = np.cumsum(self._weights[free])
                before = float(self._cumulative[injection.id][number - 1]) if number else 0.0
                last = number == self._last_round[injection.id]
                portion = portions[injection.id][number]
                for g in first_reaches(marks, flat_t, free, cum):
                    if not last and g["reached_at"] > portion + 1e-9:
                        continue  # not during this portion: later portions may reach it another way
                    if any(seen["kind"] == g["kind"] for seen in self._gateways[injection.id]):
                        continue
                    self._gateways[injection.id].append(dict(g, reached_at=before + g["reached_at"], step=number + 1))
                taken[free[:take_count(cum, portion)]] = True
        for found in self._gateways.values():
            found.sort(key=lambda g: g["reached_at"])

    def reachable_ml(self, injection_id: str, volumes_ml: dict[str, float] | None = None) -> float:
        """The volume of every voxel this injection's first portion can reach (`volumes_ml`: unused, as the
        obstacles are the planned portions')."""
        order = next(order for owner, _, order in self._sequence if owner == injection_id)
        return float(self._weights[order].sum())

    def fill(self, volumes_ml: dict[str, float] | float | None = None) -> Fill:
        """The cement for these volumes (mL per injection id; a number: every injection; None: as planned)."""
        volumes_ml = requested_volumes(self.injections, volumes_ml)
        size = self.field.region.size
        taken = np.zeros(size, dtype=bool)
        owners = {i.id: np.zeros(size, dtype=bool) for i in self.injections}
        filled = {i.id: 0.0 for i in self.injections}
        for injection_id, number, order in self._sequence:
            cumulative = self._cumulative[injection_id]
            before = float(cumulative[number - 1]) if number else 0.0
            wanted = volumes_ml[injection_id] - before
            if number < self._last_round[injection_id]:
                wanted = min(wanted, float(cumulative[number]) - before)
            if wanted <= 0:
                continue
            free = order[~taken[order]]
            cum = np.cumsum(self._weights[free])
            count = take_count(cum, wanted)
            chosen = free[:count]
            taken[chosen] = True
            owners[injection_id][chosen] = True
            filled[injection_id] += float(cum[count - 1]) if count else 0.0
        shape = self.field.region.shape
        gateways = {injection_id: [
            {"kind": g["kind"], "into": g["into"], "reached_at_ml": round(g["reached_at"], 3), "step": g["step"]}
            for g in found if g["reached_at"] <= volumes_ml[injection_id] + 1e-9]
            for injection_id, found in self._gateways.items()}
        return Fill(volumes_ml, filled, taken.reshape(shape), {k: v.reshape(shape) for k, v in owners.items()},
                    self.field.start, gateways)

    def first_reach_ml(self, injection_id: str) -> list[dict]:
        """Every gateway the portions reach, with the injected volume and the portion (1-based) at first reach."""
        return [dict(g) for g in self._gateways[injection_id]]

