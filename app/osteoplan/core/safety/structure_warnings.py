"""Whole-needle distances to critical structures -> typed warnings (one per structure in range).

Severity, from the structure's needle thresholds in force: `stop` when the needle's surface
enters the structure (distance < 0) or comes closer than stop_mm; `warn` closer than
warn_mm; nothing beyond (the list stays readable). A path's target structure and the bone
or lesion its tip (or a spindle's tip) lies in are not hazards.
"""

from __future__ import annotations

import numpy as np

from osteoplan.core.imaging.volume import Volume
from osteoplan.core.planning.trajectory import Trajectory
from osteoplan.core.safety.context import PlanContext
from osteoplan.core.safety.distances import StructureDistance, needle_structure_distances
from osteoplan.core.safety.structures import USER_DEFAULT_ORIGIN, Structure, StructureSet, hazards_excluding
from osteoplan.core.safety.warnings import SafetyWarning, Severity

TARGET_CATEGORIES = ("bone", "lesion")  # a tip inside one of these is where the needle is meant to be


def structures_at(structures: StructureSet, grid: Volume, point_lps, categories=TARGET_CATEGORIES) -> list[str]:
    """Names of the structures of `categories` whose mask holds the voxel nearest `point_lps`."""
    kji = np.floor(grid.lps_to_index(np.asarray(point_lps, dtype=float)) + 0.5).astype(int)[::-1]
    names = []
    for structure in structures.of_category(*categories):
        local = kji - np.asarray(structure.start_kji)
        if np.all(local >= 0) and np.all(local < structure.box_mask.shape) and structure.box_mask[tuple(local)]:
            names.append(structure.name)
    return names


def trajectory_distances(session: PlanContext, trajectory: Trajectory,
                         structures: StructureSet | None = None) -> dict[str, list[StructureDistance]]:
    """Distances of the trocar and each spindle (by object id) to every needle hazard, nearest first
    (`structures`: the set to measure against, default the session's)."""
    structures = session.structures if structures is None else structures
    fields, grid = session.distance_fields, session.case.ct
    out: dict[str, list[StructureDistance]] = {}
    targets = [trajectory.target_structure, *structures_at(structures, grid, trajectory.target)]
    radius = session.catalog.get(trajectory.device).outer_diameter_mm / 2.0
    out[trajectory.id] = needle_structure_distances(trajectory.entry, trajectory.target, radius, fields,
                                                    hazards_excluding(structures, targets))
    for spindle in trajectory.spindles:
        tip = spindle.tip_lps(trajectory)
        own_targets = [*targets, *structures_at(structures, grid, tip)]
        radius = session.catalog.get(spindle.device).outer_diameter_mm / 2.0
        out[spindle.id] = needle_structure_distances(spindle.start_lps(trajectory), tip, radius, fields,
                                                     hazards_excluding(structures, own_targets))
    return out


def distance_warning(object_id: str, label: str, found: StructureDistance) -> SafetyWarning | None:
    """The warning one needle-structure distance deserves under the thresholds in force, or None."""
    structure: Structure = found.structure
    rule = structure.needle_thresholds()
    distance = found.distance_mm
    origin = (" [override]" if rule.origin == "override"
              else " [your settings]" if rule.origin.startswith(USER_DEFAULT_ORIGIN) else "")
    where = f"{structure.name} ({structure.category})"
    if distance < 0 or (rule.stop_mm is not None and distance < rule.stop_mm):
        threshold = rule.stop_mm if rule.stop_mm is not None else 0.0
        if distance < 0:
            text = f"{label}: the needle crosses {where} by {-distance:.1f} mm; stop when crossed"
        else:
            text = f"{label}: the needle's surface is {distance:.1f} mm from {where}; stop below {threshold:g} mm"
        severity = Severity.STOP
    elif rule.warn_mm is not None and distance < rule.warn_mm:
        threshold, severity = rule.warn_mm, Severity.WARN
        text = f"{label}: the needle's surface is {distance:.1f} mm from {where}; warn below {threshold:g} mm"
    else:
        return None
    return SafetyWarning(severity, object_id, text + origin, structure=structure.name, distance_mm=distance,
                         threshold_mm=threshold,
                         closest_lps=tuple(float(v) for v in found.closest_on_structure_lps))


def structure_warnings(session: PlanContext, trajectory_id: str) -> list[SafetyWarning]:
    """Warnings of a trajectory and its spindles about critical structures (uses cached distances)."""
    trajectory = session.plan.trajectory(trajectory_id)
    found: list[SafetyWarning] = []
    for object_id, distances in session.structure_distances(trajectory_id).items():
        label = trajectory.label if object_id == trajectory.id else f"{trajectory.label} spindle {object_id}"
        found += [w for w in (distance_warning(object_id, label, d) for d in distances) if w is not None]
    return found
