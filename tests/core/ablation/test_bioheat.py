"""Bioheat 'refine' model: calibration, cortex, far field, cancel, bad input (coarse grids, fast)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from osteoplan.core.ablation.bioheat import BioheatCancelled, ZoneSpec, refine_zone
from osteoplan.core.ablation.bioheat_tissue import parse_tissue_properties
from osteoplan.core.imaging.case import Case
from osteoplan.core.errors import OsteoPlanError, ResourceError
from osteoplan.core.resources import load_json_resource
from osteoplan.core.imaging.volume import Volume

RF = ZoneSpec("rf", 25.0, 18.0, 6.0, 10.0, 600.0)
CRYO = ZoneSpec("cryo", 30.0, 20.0, 6.0, 10.0, 900.0)
AXIS = np.array([0.0, 0.0, 1.0])
TIP = np.array([0.0, 0.0, 6.0])  # so the zone centre is at the origin


def block(plate_x=None, n=90) -> Case:
    """Uniform cancellous bone (250 HU), optionally a cortical plate (1300 HU) at x in plate_x mm."""
    a = np.full((n, n, n), 250, np.int16)
    if plate_x is not None:
        a[:, :, n // 2 + plate_x[0]: n // 2 + plate_x[1]] = 1300
    return Case(Volume(a, (1.0, 1.0, 1.0), (-(n // 2),) * 3))


@pytest.mark.parametrize("spec", [RF, CRYO], ids=["rf", "cryo"])
def test_uniform_cancellous_block_reproduces_catalog_zone(spec):
    result = refine_zone(block(), TIP, AXIS, spec, margin_mm=8.0)
    assert abs(result.lethal_length_mm - spec.lethal_length_mm) <= 1.0
    assert abs(result.lethal_width_mm - spec.lethal_width_mm) <= 1.0
    assert result.lethal.any() and result.lethal_volume_ml > 0
    assert result.grid.array.dtype == np.float32


def test_oblique_probe_in_uniform_bone_stays_close():
    d = np.array([1.0, 2.0, 2.0]) / 3.0
    result = refine_zone(block(), 6.0 * d, d, RF, margin_mm=8.0)
    assert abs(result.lethal_length_mm - RF.lethal_length_mm) <= 2.0
    assert abs(result.lethal_width_mm - RF.lethal_width_mm) <= 2.5


def test_temperature_three_cm_from_probe_is_body_temperature():
    result = refine_zone(block(), TIP, AXIS, RF, margin_mm=25.0, spacing_mm=2.0)
    far = result.temperature_at([[30.0, 0.0, 0.0], [0.0, -30.0, 0.0]])
    assert np.all(np.abs(far - 37.0) < 1.5), far
    assert result.temperature_at([500.0, 0.0, 0.0]) == pytest.approx(37.0)
    assert result.temperature_at([0.0, 0.0, 0.0]) > 60.0


def test_cryo_zone_is_not_blocked_by_cortex():
    plain = refine_zone(block(), TIP, AXIS, CRYO, margin_mm=8.0)
    plate = refine_zone(block((5, 8)), TIP, AXIS, CRYO, margin_mm=8.0)
    assert plate.extent_mm([1, 0, 0]) >= plain.extent_mm([1, 0, 0]) - 0.5


@pytest.mark.xfail(strict=True, reason=(
    "the electrical solve already uses per-tissue sigma (cortex 0.021 vs cancellous 0.085 S/m): the plate carries "
    "little current, but Joule heat concentrates within ~2-3 mm of the electrode and reaches the plate by conduction "
    "(k cortical 0.32 ~ cancellous 0.31 W/m/K, cortex less perfused), and the current that does cross the plate "
    "heats it as J^2/sigma; with these literature values the +x extent grows (9.11 vs 8.98 mm), so a Pennes model "
    "does not reproduce 'cortex insulates RF'"))
def test_cortical_plate_shrinks_rf_zone_on_its_side():
    plain = refine_zone(block(), TIP, AXIS, RF, margin_mm=8.0)
    plate = refine_zone(block((5, 8)), TIP, AXIS, RF, margin_mm=8.0)
    assert plate.extent_mm([1, 0, 0]) < plain.extent_mm([1, 0, 0]) - 0.5
    assert abs(plate.extent_mm([-1, 0, 0]) - plain.extent_mm([-1, 0, 0])) < 1.0


def test_fast_scheme_matches_full_resolution_reference():
    """Coarse 2 mm solve + fine solve only where the rise exceeds 0.25 C vs one full 1 mm solve."""
    case = block((5, 8))
    fast = refine_zone(case, TIP, AXIS, RF, margin_mm=30.0)
    ref = refine_zone(case, TIP, AXIS, RF, margin_mm=30.0, reference=True)
    assert fast.calibration is ref.calibration  # calibrated once at the 20 mm margin, reused
    assert abs(fast.lethal_length_mm - ref.lethal_length_mm) <= 1.0
    assert abs(fast.lethal_width_mm - ref.lethal_width_mm) <= 1.0
    at12 = [[12.0, 0.0, 0.0], [-12.0, 0.0, 0.0], [0.0, 12.0, 0.0]]
    assert np.all(np.abs(fast.temperature_at(at12) - ref.temperature_at(at12)) <= 0.5)
    assert np.abs(fast.peak_c - ref.peak_c).max() <= 0.5


def test_cancel_raises_bioheat_cancelled():
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(BioheatCancelled):
        refine_zone(block(), TIP, AXIS, ZoneSpec("rf", 21.0, 15.0, 5.0, 10.0, 420.0), margin_mm=6.0, cancel=cancel)
    assert issubclass(BioheatCancelled, OsteoPlanError)


def test_progress_reported():
    seen = []
    refine_zone(block(), TIP, AXIS, RF, margin_mm=8.0, progress=lambda f, m: seen.append((f, m)))
    assert seen[0][0] == 0.0 and seen[-1][0] == 1.0


@pytest.mark.parametrize("kwargs, word", [
    (dict(duration_s=-60.0), "duration_s"), (dict(duration_s=0.0), "duration_s"),
    (dict(lethal_width_mm=float("nan")), "lethal_width_mm"), (dict(kind="laser"), "kind"),
    (dict(tip_offset_mm=-1.0), "tip_offset_mm"), (dict(lethal_length_mm=10.0, lethal_width_mm=30.0), "long"),
])
def test_bad_spec_refused(kwargs, word):
    values = dict(kind="rf", lethal_length_mm=25.0, lethal_width_mm=18.0, tip_offset_mm=6.0, active_tip_mm=10.0,
                  duration_s=600.0)
    values.update(kwargs)
    with pytest.raises(OsteoPlanError, match=word):
        ZoneSpec(**values)


def test_bad_direction_refused():
    with pytest.raises(OsteoPlanError, match="direction"):
        refine_zone(block(), TIP, [0.0, 0.0, 0.0], RF)


def test_shipped_tissue_properties_valid_and_flagged():
    table = parse_tissue_properties(load_json_resource("tissue_properties.json"))
    cortical = table.tissues[table.index("cortical_bone")]
    assert cortical.conductivity_w_mk.value == 0.32 and cortical.conductivity_w_mk.verified
    assert not cortical.perfusion_per_s.verified
    fat = table.tissues[table.index("fat")]
    assert fat.perfusion_s == pytest.approx(33 * 911e-6 / 60)


@pytest.mark.parametrize("mutate", [
    lambda d: d["tissues"][0]["conductivity_w_mk"].update(value=-1.0),
    lambda d: d["tissues"][0]["density_kg_m3"].pop("source"),
    lambda d: d["tissues"][1].update(perfusion_ml_min_kg={"value": 1, "verified": False, "source": "x"}),
    lambda d: d["hu_classes"].pop("fat"),
    lambda d: d["label_rules"].append({"contains": "x", "tissue": "unobtainium"}),
    lambda d: d["tissues"][0].update(colour="red"),
])
def test_tissue_properties_resource_refuses_bad_data(mutate):
    data = json.loads(json.dumps(load_json_resource("tissue_properties.json")))
    mutate(data)
    with pytest.raises(ResourceError):
        parse_tissue_properties(data)
