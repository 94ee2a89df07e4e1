"""Thermal safety of ablations: zone distances to critical structures -> typed warnings, and the
`osteoplan simulate ablation` report.

Which zone is measured against which structure is data (`zone_for_category` in
resources/ablation_model.json): the 45 degC shell (cryo: the 0 degC isotherm as the cold
shell, the catalog has no 10 degC size) against neural structures, the lethal zone against
skin, vessels and viscera; thresholds are each category's ``ablation`` thresholds
(resources/structure_categories.json). Severity: ``stop`` when the zone reaches the
structure (distance <= 0) where a stop threshold is in force or comes closer than a
non-zero stop_mm; ``warn`` closer than warn_mm. A warned structure of a monitored category
(neural, skin) with no thermocouple within ``thermocouple.near_mm`` of its closest point
(or at the structure, within near_mm of it, where the zone heats past the limit) gets a
warning saying so; a thermocouple at a neural structure predicted past the limit
(45 degC; cryo 10 degC) warns. Every warning's object is the ablation id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from osteoplan.core.ablation.analysis import lesion_coverage, peak_temperature, zone_structure_distances
from osteoplan.core.ablation.zones import ablation_model
from osteoplan.core.planning.ablation import AblationError, probe_and_setting
from osteoplan.core.safety.context import PlanContext
from osteoplan.core.safety.structure_warnings import structures_at
from osteoplan.core.safety.structures import Structure, StructureSet
from osteoplan.core.safety.warnings import SafetyWarning, Severity

if TYPE_CHECKING:
    from osteoplan.core.ablation.analysis import ZoneDistance
    from osteoplan.core.ablation.zones import AblationZone


class AblationContext(PlanContext, Protocol):
    """What the ablation rules read of a planning session: the safety context and each ablation's zone."""

    def ablation_zone(self, ablation_id: str) -> AblationZone: ...


def ablation_hazards(structures: StructureSet) -> list[Structure]:
    """Structures with an ablation threshold in force and a zone to measure them from."""
    model = ablation_model()
    return [s for s in structures if s.thresholds("ablation").evaluated and model.zone_for(s.category)]


def ablation_distances(session: AblationContext, ablation_id: str, zone=None) -> list["ZoneDistance"]:
    """Distance from the ablation's zone (lethal or shell, per category) to each hazard, nearest first
    (`zone`: another model's zone of this ablation, default the table model's)."""
    ablation = session.plan.ablation(ablation_id)
    zone = session.ablation_zone(ablation_id) if zone is None else zone
    target = session.plan.trajectory(ablation.trajectory).target_structure
    hazards = [s for s in ablation_hazards(session.structures) if s.name != target]
    model = ablation_model()
    found = []
    for which in ("lethal", "shell"):
        group = [s for s in hazards if model.zone_for(s.category) == which]
        found += zone_structure_distances(zone, session.distance_fields, group, which)
    return sorted(found, key=lambda d: d.distance_mm)


def _limit_text(cryo: bool) -> str:
    temps = ablation_model().temperatures
    return f"{temps.cold_shell_c:g} °C" if cryo else f"{temps.shell_c:g} °C"


def _past_limit(peak_c: float, cryo: bool) -> bool:
    temps = ablation_model().temperatures
    return peak_c <= temps.cold_shell_c if cryo else peak_c >= temps.shell_c


def ablation_warnings(session: AblationContext, ablation_id: str, zone=None, temperature=None) -> list[SafetyWarning]:
    """Warnings of one ablation (table model; `zone` and `temperature(points) -> degC` from another model)."""
    ablation = session.plan.ablation(ablation_id)
    model = ablation_model()
    try:
        trajectory = session.plan.trajectory(ablation.trajectory)
        probe, setting = probe_and_setting(session.catalog, trajectory, ablation)
    except (KeyError, AblationError) as exc:
        return [SafetyWarning(Severity.WARN, ablation.id, f"ablation {ablation.id}: cannot be evaluated: {exc}")]
    name = f"ablation {ablation.id} ({probe.name}, {setting.label})"
    notes = (session.ablation_zone(ablation_id) if zone is None else zone).notes  # e.g. a zone-model plugin failed
    found: list[SafetyWarning] = [SafetyWarning(Severity.WARN, ablation.id, f"{name}: {note}") for note in notes]
    if not (probe.verified and setting.verified):
        found.append(SafetyWarning(Severity.INFO, ablation.id, f"{name}: the zone is illustrative (unverified "
                                   f"numbers): {setting.notes or setting.source}"))
    if temperature is None:
        geometry = session.ablation_zone(ablation_id).geometry

        def temperature(points):
            return peak_temperature(geometry, session.case.ct, points, setting.temperature_c)
    shell_name = "the 0 °C isotherm (cold shell)" if probe.is_cryo else "the 45 °C line"
    thermocouples = session.plan.thermocouples
    for found_distance in ablation_distances(session, ablation_id, zone):
        structure = found_distance.structure
        rule = structure.thresholds("ablation")
        distance = found_distance.distance_mm
        zone_name = shell_name if found_distance.which == "shell" else "the lethal zone"
        where = f"{structure.name} ({structure.category})"
        if rule.stop_mm is not None and (distance <= 0 or distance < rule.stop_mm):
            severity, threshold = Severity.STOP, rule.stop_mm
            text = (f"{name}: {zone_name} reaches {where}" if distance <= 0 else
                    f"{name}: {zone_name} is {distance:.1f} mm from {where}; stop below {threshold:g} mm")
        elif rule.warn_mm is not None and distance < rule.warn_mm:
            severity, threshold = Severity.WARN, rule.warn_mm
            text = f"{name}: {zone_name} is {distance:.1f} mm from {where}; warn below {threshold:g} mm"
        else:
            continue
        closest = found_distance.closest_on_structure_lps
        found.append(SafetyWarning(severity, ablation.id, text, structure=structure.name, distance_mm=distance,
                                   threshold_mm=threshold, closest_lps=tuple(float(v) for v in closest)))
        if structure.category in model.thermocouple.categories:
            near_mm = model.thermocouple.near_mm
            field = session.distance_fields.field(structure)
            near = [t for t in thermocouples  # at the closest point, or at the structure where the zone heats it
                    if float(np.linalg.norm(t.position - closest)) <= near_mm
                    or (float(field.sample(t.position)) <= near_mm
                        and _past_limit(float(temperature(t.position)), probe.is_cryo))]
            if not near:
                found.append(SafetyWarning(
                    Severity.WARN, ablation.id,
                    f"{name}: close to {where} without a thermocouple within {model.thermocouple.near_mm:g} mm of "
                    "its closest point; place one to monitor the temperature there", structure=structure.name,
                    distance_mm=distance, threshold_mm=model.thermocouple.near_mm,
                    closest_lps=tuple(float(v) for v in closest)))
    neural = [s for s in session.structures if s.category == "neural"]
    for thermocouple in thermocouples:
        peak = float(temperature(thermocouple.position))
        if not _past_limit(peak, probe.is_cryo):
            continue
        guarded = [s.name for s in neural
                   if float(session.distance_fields.field(s).sample(thermocouple.position)) <= model.thermocouple.near_mm]
        if guarded:
            found.append(SafetyWarning(
                Severity.WARN, ablation.id,
                f"{name}: thermocouple {thermocouple.id} at {guarded[0]} is predicted to reach {peak:.1f} °C "
                f"(limit {_limit_text(probe.is_cryo)}; table model)", structure=guarded[0],
                closest_lps=tuple(float(v) for v in thermocouple.position)))
    return found


def _lesion_for(session: AblationContext, trajectory) -> Structure | None:
    structures = session.structures
    lesions = structures.of_category("lesion")
    chosen = structures.get(trajectory.target_structure)
    if chosen is not None and chosen.category == "lesion":
        return chosen
    at_tip = structures_at(structures, session.case.ct, trajectory.target, categories=("lesion",))
    if at_tip:
        return structures[at_tip[0]]
    return lesions[0] if len(lesions) == 1 else None


def _zones(session: AblationContext) -> list:
    zones = []
    for ablation in session.plan.ablations:
        try:
            zones.append(session.ablation_zone(ablation.id))
        except (KeyError, AblationError):
            continue
    return zones


def ablation_summary(session: AblationContext, ablation_id: str, model_name: str | None = None, zones=None,
                     temperature=None) -> dict:
    """One item of the `simulate ablation --json` "ablations" list (a contract: keep the keys).
    `zones` {ablation id: zone} and `temperature(points) -> degC` come from another model (refine)."""
    ablation = session.plan.ablation(ablation_id)
    trajectory = session.plan.trajectory(ablation.trajectory)
    probe, setting = probe_and_setting(session.catalog, trajectory, ablation)
    zone = session.ablation_zone(ablation_id) if zones is None else zones[ablation_id]
    lesion = _lesion_for(session, trajectory)
    all_zones = _zones(session) if zones is None else list(zones.values())
    coverage = lesion_coverage(all_zones, lesion, session.case.ct) if lesion is not None else None
    ct = session.case.ct
    if temperature is None:
        def temperature(points):
            return peak_temperature(zone.geometry, ct, points, setting.temperature_c)
    thermocouples = [{"id": t.id, "peak_c": round(float(temperature(t.position)), 1)}
                     for t in session.plan.thermocouples]
    structures = []
    margin = session.distance_fields.margin_mm
    for found in ablation_distances(session, ablation_id, zone):
        known = found.distance_mm < margin - 1.0  # beyond the field's margin the closest point is unknown
        peak = float(temperature(found.closest_on_structure_lps))
        if found.distance_mm < 0:  # the zone enters it: its hottest (coldest) part there is inside the zone
            other = float(temperature(found.closest_on_zone_lps))
            peak = min(peak, other) if probe.is_cryo else max(peak, other)
        structures.append({"name": found.structure.name, "distance_mm": round(found.distance_mm, 3),
                           "peak_c": round(float(peak), 1) if known else None})
    return {
        "id": ablation.id,
        "trajectory": trajectory.id,
        "device": probe.id,
        "model": model_name or zone.model,  # the zone's own: "table" or a plugin model's name
        "verified": bool(probe.verified and setting.verified),
        "lethal_zone": {"length_mm": round(zone.length_mm, 3), "width_mm": round(zone.width_mm, 3),
                        "volume_ml": round(zone.volume_ml, 3)},
        "lesion_coverage": None if coverage is None else round(coverage.percent, 2),
        "min_margin_mm": None if coverage is None or not np.isfinite(coverage.margin_mm)
        else round(coverage.margin_mm, 3),
        "thermocouples": thermocouples,
        "structures": structures,
    }


def simulate_report(session: AblationContext) -> dict:
    """The `osteoplan simulate ablation --json` object (table model)."""
    ablations, warnings = [], []
    for ablation in session.plan.ablations:
        ablations.append(ablation_summary(session, ablation.id))
        warnings += ablation_warnings(session, ablation.id)
    return {"ablations": ablations, "warnings": [w.to_json() for w in warnings]}
