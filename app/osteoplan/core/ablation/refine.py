"""`osteoplan simulate ablation --refine`: the ablations of a plan through the 3-D bioheat model.

`osteoplan.core.ablation.bioheat.refine_zone` (steady-state Pennes, calibrated on uniform bone to
the catalog zone) gives a peak-temperature field on its own grid; here it is turned into an
`AblationZone` on the CT grid (lethal: the model's lethal threshold; outer: the 45 degC
line, cryo: the 10 degC line, taken from the field itself) so that distances, coverage and
warnings are computed exactly as for the table model.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

import numpy as np

from osteoplan.core.ablation.zones import AblationZone, ZoneGeometry, ablation_model
from osteoplan.core.planning.ablation import probe_and_setting

if TYPE_CHECKING:
    from osteoplan.core.ablation.warnings import AblationContext

KIND = {"rf_probe": "rf", "mw_antenna": "mw", "cryoprobe": "cryo"}


def bioheat_available() -> bool:
    try:
        return importlib.util.find_spec("osteoplan.core.ablation.bioheat") is not None
    except (ImportError, ValueError):
        return False


def refine_ablation(session: "AblationContext", ablation_id: str, progress=None, cancel=None):
    """(zone on the CT grid, temperature(points) -> degC, the bioheat result) of one ablation."""
    from osteoplan.core.ablation.bioheat import ZoneSpec, refine_zone

    ablation = session.plan.ablation(ablation_id)
    trajectory = session.plan.trajectory(ablation.trajectory)
    probe, setting = probe_and_setting(session.catalog, trajectory, ablation)
    spec = ZoneSpec(KIND[probe.kind.value], setting.lethal_length_mm, setting.lethal_width_mm,
                    setting.tip_offset_mm, probe.active_tip_mm, setting.duration_min * 60.0)
    tip = trajectory.target - trajectory.axis * ablation.offset_mm
    result = refine_zone(session.case, tip, trajectory.axis, spec, progress=progress, cancel=cancel)
    ct = session.case.ct
    geometry = ZoneGeometry.of(trajectory.target, trajectory.axis, setting, probe.is_cryo, ablation.offset_mm)
    lo_lps, hi_lps = result.grid.bounds_lps()
    corners = np.array([[x, y, z] for x in (lo_lps[0], hi_lps[0]) for y in (lo_lps[1], hi_lps[1])
                        for z in (lo_lps[2], hi_lps[2])])
    ijk = ct.lps_to_index(corners)
    shape = np.asarray(ct.array.shape)
    lo = np.clip(np.floor(ijk.min(axis=0)).astype(int)[::-1], 0, shape)
    hi = np.clip(np.ceil(ijk.max(axis=0)).astype(int)[::-1] + 1, 0, shape)
    k, j, i = np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi)), indexing="ij")
    points = ct.index_to_lps(np.stack([i, j, k], axis=-1).astype(float))
    peak = result.temperature_at(points)
    temps = ablation_model().temperatures
    if probe.is_cryo:
        lethal, outer = peak <= result.threshold_c, peak <= temps.cold_shell_c
    else:
        lethal, outer = peak >= result.threshold_c, peak >= temps.shell_c
    zone = AblationZone(geometry, ct, tuple(int(v) for v in lo), lethal, outer | lethal, {}, 0)
    return zone, result.temperature_at, result


def refined_report(session: "AblationContext") -> dict:
    """The `simulate ablation --refine --json` object: the table report's keys, model "bioheat"."""
    from osteoplan.core.ablation.warnings import ablation_summary, ablation_warnings

    refined = {a.id: refine_ablation(session, a.id) for a in session.plan.ablations}
    zones = {key: value[0] for key, value in refined.items()}
    ablations, warnings = [], []
    for ablation_id, (zone, temperature, _result) in refined.items():
        ablations.append(ablation_summary(session, ablation_id, "bioheat", zones, temperature))
        warnings += ablation_warnings(session, ablation_id, zone, temperature)
    return {"ablations": ablations, "warnings": [w.to_json() for w in warnings]}
