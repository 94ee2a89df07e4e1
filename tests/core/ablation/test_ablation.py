"""Ablation probes, the table zone model, temperatures, coverage, warnings and plan files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from osteoplan.core.ablation.zones import compute_zone
from osteoplan.core.planning.ablation import Ablation, AblationError, Thermocouple
from osteoplan.core.ablation.analysis import lesion_coverage, peak_temperature, zone_structure_distances
from osteoplan.core.imaging.case import Case
from osteoplan.core.planning.devices import AblationProbe, DeviceKind, device_catalog, parse_device
from osteoplan.core.safety.distances import DistanceFields
from osteoplan.core.imaging.io import LabelMap
from osteoplan.core.files.plan_file import PlanFileError, load_plan, plan_from_dict, plan_to_dict, save_plan
from osteoplan.core.imaging.phantom import build_phantom
from osteoplan.core.safety.warnings import Severity
from osteoplan.core.session import PlanSession
from osteoplan.core.safety.structures import Structure
from osteoplan.core.imaging.volume import Volume

CANCELLOUS_HU, CORTEX_HU = 200, 1280


@pytest.fixture(scope="module")
def catalog():
    return device_catalog()


def _block(shape=(80, 80, 80), spacing=1.0):
    array = np.full(shape, CANCELLOUS_HU, np.int16)
    origin = tuple(-(n // 2) * spacing for n in shape[::-1])
    return Volume(array, (spacing,) * 3, origin)


# --- catalog -------------------------------------------------------------------------------
def test_catalog_has_rf_mw_and_cryo_probes_with_sourced_settings(catalog):
    kinds = {d.kind for d in catalog if isinstance(d, AblationProbe)}
    assert kinds == {DeviceKind.RF_PROBE, DeviceKind.MW_ANTENNA, DeviceKind.CRYOPROBE}
    for probe in catalog.of_kind("rf_probe", "mw_antenna", "cryoprobe"):
        assert probe.active_tip_mm > 0 and probe.settings
        for setting in probe.settings:
            assert setting.source.strip() and setting.duration_min > 0
            assert not setting.verified and setting.notes  # no zone table is verified yet: said so
    cryo = catalog.get("cryoprobe-2.4")
    (freeze,) = cryo.settings
    assert cryo.outer_diameter_mm == 2.4 and freeze.lethal_width_mm == 12.0 and freeze.duration_min == 15
    assert freeze.isotherms["0"][1] - freeze.isotherms["-40"][1] == pytest.approx(20.0)  # ~1 cm each side
    assert "Littrup" in cryo.source and "PMC4850244" in freeze.source
    osteocool = [s for d in catalog.of_kind("rf_probe") if "OsteoCool" in d.name for s in d.settings]
    assert osteocool and all(s.temperature_c == 70 and 7 <= s.duration_min <= 15 for s in osteocool)
    row = next(r for r in catalog.listing()["devices"] if r["id"] == "cryoprobe-2.4")
    assert {"id", "label", "lethal_length_mm", "lethal_width_mm", "tip_offset_mm", "isotherms"} <= set(
        row["settings"][0])


def _probe_entry(**setting_changes):
    setting = {"id": "s1", "label": "S1", "lethal_length_mm": 20, "lethal_width_mm": 15, "tip_offset_mm": 5,
               "shell_45c_mm": 4, "duration_min": 10, "source": "test", "verified": False}
    setting.update(setting_changes)
    return {"id": "p1", "kind": "rf_probe", "name": "P", "outer_diameter_mm": 1.5, "active_tip_mm": 10,
            "source": "test", "verified": False, "settings": [{k: v for k, v in setting.items() if v is not ...}]}


@pytest.mark.parametrize(("changes", "expected"), [
    ({"duration_min": -5}, "duration_min"),
    ({"lethal_width_mm": 0}, "lethal_width_mm"),
    ({"shell_45c_mm": ...}, "shell_45c_mm"),
    ({"source": ...}, "source"),
])
def test_bad_settings_are_refused_naming_the_field(changes, expected):
    with pytest.raises(ValueError, match=expected):
        parse_device(_probe_entry(**changes))


def test_unknown_setting_is_refused_clearly(catalog):
    with pytest.raises(KeyError, match="no setting 'nope'.*70c-15min"):
        catalog.get("rf-bipolar-bone-10").setting("nope")


# --- the table zone --------------------------------------------------------------------------
@pytest.mark.parametrize(("device", "axis"), [("rf-bipolar-bone-10", (0, 0, 1)), ("mw-antenna-14g", (0, 1, 0)),
                                              ("cryoprobe-2.4", (1, 0, 0))])
def test_in_uniform_cancellous_bone_the_zone_is_the_catalog_zone(catalog, device, axis):
    probe = catalog.get(device)
    ct = _block()
    for setting in probe.settings:
        zone = compute_zone(ct, (0.0, 0.0, 0.0), axis, setting, probe.is_cryo)
        assert zone.clipped_voxels == 0
        assert zone.length_mm == pytest.approx(setting.lethal_length_mm, abs=1.0)
        assert zone.width_mm == pytest.approx(setting.lethal_width_mm, abs=1.0)
        a, b = setting.lethal_length_mm / 2, setting.lethal_width_mm / 2
        assert zone.volume_ml == pytest.approx(4 / 3 * np.pi * a * b * b / 1000, rel=0.05)
        centre = zone.points().mean(axis=0)
        assert centre == pytest.approx(-np.asarray(axis, float) * setting.tip_offset_mm, abs=0.5)


def test_a_cortical_plate_shrinks_an_rf_zone_on_its_side_but_not_a_cryo_zone(catalog):
    ct = _block()
    ct.array[:, :, 45:48] = CORTEX_HU  # a 3 mm plate at x = 5..7 mm
    nerve = np.zeros(ct.array.shape, bool)
    nerve[30:50, 30:50, 52:56] = True  # a nerve beyond it, x = 12..15 mm
    fields = DistanceFields(ct)
    structure = Structure.from_mask("sciatic_nerve", nerve)
    rf = catalog.get("rf-bipolar-bone-10").setting("70c-15min")  # lethal width 19: x up to 9.5
    cryo = catalog.get("cryoprobe-2.4").settings[0]
    rf_zone = compute_zone(ct, (0, 0, 5), (0, 0, 1), rf, cryo=False)
    x = rf_zone.points()[:, 0]
    assert rf_zone.clipped_voxels > 0
    assert x.max() <= 7.0 and x.min() <= -9.0  # clipped past 2 mm of plate, untouched on the other side
    open_rf = compute_zone(_block(), (0, 0, 5), (0, 0, 1), rf, cryo=False)
    (clipped,) = zone_structure_distances(rf_zone, fields, [structure], "shell")
    (unclipped,) = zone_structure_distances(open_rf, DistanceFields(_block()), [structure], "shell")
    assert clipped.distance_mm > unclipped.distance_mm + 3
    cryo_zone = compute_zone(ct, (0, 0, 8), (0, 0, 1), cryo, cryo=True)
    assert cryo_zone.clipped_voxels == 0 and cryo_zone.points()[:, 0].max() >= 5.0
    open_cryo = compute_zone(_block(), (0, 0, 8), (0, 0, 1), cryo, cryo=True)
    assert np.array_equal(cryo_zone.lethal, open_cryo.lethal) and np.array_equal(cryo_zone.outer, open_cryo.outer)
    # the plate keeps the far side cool in the table model
    beyond = (10.0, 0.0, 0.0)
    assert peak_temperature(rf_zone.geometry, ct, beyond, 70) < peak_temperature(open_rf.geometry, None, beyond, 70)


def test_table_temperatures_are_60_at_the_lethal_edge_45_at_the_shell_and_body_far_away(catalog):
    setting = catalog.get("rf-bipolar-bone-10").setting("70c-15min")
    zone = compute_zone(_block(), (0, 0, 0), (0, 0, 1), setting, cryo=False)
    g = zone.geometry
    b, shell = setting.lethal_width_mm / 2, setting.shell_45c_mm
    at = np.array([[x, 0, g.centre[2]] for x in (0.0, b, b + shell, b + shell + 30)])
    temps = peak_temperature(g, None, at, setting.temperature_c)
    assert temps == pytest.approx([70.0, 60.0, 45.0, 37.0], abs=0.05)
    cryo = catalog.get("cryoprobe-2.4").settings[0]
    cg = compute_zone(_block(), (0, 0, 0), (0, 0, 1), cryo, cryo=True).geometry
    widths = [cryo.isotherms[t][1] / 2 for t in ("-40", "-20", "0")]
    temps = peak_temperature(cg, None, np.array([[w, 0, cg.centre[2]] for w in widths]))
    assert temps == pytest.approx([-40.0, -20.0, 0.0], abs=0.05)


def test_coverage_and_margin_of_a_known_sphere_lesion(catalog):
    ct = _block()
    setting = catalog.get("rf-bipolar-bone-10").setting("70c-15min")  # 24 x 19 mm: semi-axes 12, 9.5
    zone = compute_zone(ct, (0, 0, 0), (0, 0, 1), setting, cryo=False)
    centre_kji = np.rint(ct.lps_to_index(zone.geometry.centre)[::-1]).astype(int)
    k, j, i = np.indices(ct.array.shape)
    r2 = (k - centre_kji[0]) ** 2 + (j - centre_kji[1]) ** 2 + (i - centre_kji[2]) ** 2
    inside = lesion_coverage([zone], Structure.from_mask("lesion", r2 <= 6 ** 2), ct)
    assert inside.percent == pytest.approx(100.0)
    assert inside.margin_mm == pytest.approx(9.5 - 6, abs=1.0)
    big = lesion_coverage([zone], Structure.from_mask("lesion", r2 <= 12 ** 2), ct)
    expected = (4 / 3 * np.pi * 12 * 9.5 ** 2 - 0) / (4 / 3 * np.pi * 12 ** 3)  # the zone lies inside the sphere
    assert big.percent == pytest.approx(100 * expected, abs=5)
    assert big.margin_mm == pytest.approx(-(12 - 9.5), abs=1.0)


def test_zone_update_is_vectorised_and_fast(catalog):
    import time

    ct = _block()
    ct.array[:, :, 45:48] = CORTEX_HU
    setting = catalog.get("rf-bipolar-bone-10").setting("70c-15min")
    compute_zone(ct, (0, 0, 0), (0, 0.2, 1), setting, cryo=False)
    start = time.perf_counter()
    for n in range(10):
        compute_zone(ct, (0.1 * n, 0, 0), (0, 0.2, 1), setting, cryo=False)
    assert (time.perf_counter() - start) / 10 < 0.05  # the benchmark holds the 16 ms target; this catches a loop


# --- the phantom: warnings and thermocouples ----------------------------------------------
@pytest.fixture(scope="module")
def phantom():
    return build_phantom("spine", spacing_mm=1.6)


def _session(phantom) -> PlanSession:
    case = Case(ct=phantom.ct, labels=LabelMap(volume=phantom.labels, names=dict(phantom.label_names)),
                source="demo:spine")
    return PlanSession(case)


def _rf_plan(session, landmarks, target, setting="70c-15min"):
    path = session.new_trajectory(landmarks["L2_pedicle_left_axis_entry"], target, device_id="rf-bipolar-bone-10")
    session.editor.add_trajectory(path)
    ablation = session.editor.add_ablation(Ablation(id=session.plan.new_id("a"), trajectory=path.id, setting=setting))
    return path, ablation


def test_an_rf_zone_in_the_lesion_through_the_breached_wall_warns_about_the_canal(phantom):
    session = _session(phantom)
    _, ablation = _rf_plan(session, phantom.landmarks, phantom.landmarks["lesion_center"])
    warnings = session.ablation_warnings(ablation.id)
    neural = [w for w in warnings if w.structure in ("spinal_canal", "spinal_cord") and w.severity is not Severity.INFO]
    assert neural and all(w.object == ablation.id for w in warnings)
    assert any(w.severity is Severity.STOP for w in neural)
    assert any("without a thermocouple" in w.message for w in warnings)
    assert any(w.object == ablation.id for w in session.warnings(ablation.trajectory))  # joined with the path's


def test_a_canal_thermocouple_reads_45c_only_when_the_zone_is_close(phantom):
    from osteoplan.core.ablation.warnings import ablation_summary

    landmarks = phantom.landmarks
    session = _session(phantom)
    session.editor.add_thermocouple(Thermocouple(id="tc1", position_lps=landmarks["canal_center_L2"]))
    path, ablation = _rf_plan(session, landmarks, landmarks["lesion_center"])
    close = ablation_summary(session, ablation.id)["thermocouples"][0]["peak_c"]
    assert close >= 45.0
    assert not any("without a thermocouple" in w.message and w.structure == "spinal_canal"
                   for w in session.ablation_warnings(ablation.id) if "canal" in (w.structure or ""))
    anterior = np.asarray(landmarks["L2_body_center"]) + (0, -10, 0)  # the tip moved to the front of the body
    session.editor.move_target(path.id, anterior)
    far = ablation_summary(session, ablation.id)["thermocouples"][0]["peak_c"]
    assert far < 45.0


# --- plan values, editing, files ----------------------------------------------------------
def test_ablations_and_thermocouples_are_undoable_and_refused_on_a_non_probe(phantom):
    session = _session(phantom)
    landmarks = phantom.landmarks
    trocar = session.new_trajectory(landmarks["L2_pedicle_left_axis_entry"], landmarks["lesion_center"])
    session.editor.add_trajectory(trocar)
    with pytest.raises(AblationError, match="not an ablation probe"):
        session.editor.add_ablation(Ablation(id="a1", trajectory=trocar.id, setting="70c-15min"))
    path, ablation = _rf_plan(session, landmarks, landmarks["lesion_center"])
    with pytest.raises(AblationError, match="no setting 'x'"):
        session.editor.update_ablation(ablation.id, setting="x")
    session.editor.update_ablation(ablation.id, offset_mm=3.0)
    assert session.plan.ablation(ablation.id).offset_mm == 3.0
    session.history.undo()
    assert session.plan.ablation(ablation.id).offset_mm == 0.0
    session.editor.remove_trajectory(path.id)  # takes its ablation with it, in one step
    assert not session.plan.ablations
    session.history.undo()
    assert session.plan.ablations == (ablation,) and path.id in session.plan


def _plan_dict(**extra):
    data = {"format": "osteoplan.plan", "version": 1, "image": {"path": "demo:spine"},
            "trajectories": [{"id": "t1", "entry_lps": [30, 60, 0], "target_lps": [-2, 9, -1],
                              "device": "rf-bipolar-bone-10"},
                             {"id": "t2", "entry_lps": [-30, 60, 0], "target_lps": [-2, 9, -1],
                              "device": "trocar-11g-150"}],
            "ablations": [{"id": "a1", "trajectory": "t1", "setting": "70c-15min"}],
            "thermocouples": [{"id": "tc1", "position_lps": [0.0, 21.5, 0.0]}]}
    data.update(extra)
    return data


def test_plan_file_round_trip_is_exact(tmp_path):
    loaded = plan_from_dict(_plan_dict(), tmp_path)
    plan = loaded.plan
    assert plan.ablations[0].offset_mm == 0.0 and plan.thermocouples[0].position_lps == (0.0, 21.5, 0.0)
    save_plan(plan, tmp_path / "p.json")
    again = load_plan(tmp_path / "p.json").plan
    assert again.same_content(plan)
    assert plan_to_dict(again, tmp_path) == json.loads((tmp_path / "p.json").read_text())


@pytest.mark.parametrize(("ablation", "field", "text"), [
    ({"id": "a1", "trajectory": "t9", "setting": "70c-15min"}, "ablations[0].trajectory", "no trajectory 't9'"),
    ({"id": "a1", "trajectory": "t2", "setting": "70c-15min"}, "ablations[0].trajectory", "not an ablation probe"),
    ({"id": "a1", "trajectory": "t1", "setting": "80c"}, "ablations[0].setting", "no setting '80c'"),
    ({"id": "t1", "trajectory": "t1", "setting": "70c-15min"}, "ablations[0].id", "already used"),
    ({"id": "a1", "trajectory": "t1"}, "ablations[0].setting", ""),
])
def test_bad_ablations_in_a_plan_file_name_the_field(tmp_path, ablation, field, text):
    with pytest.raises(PlanFileError) as info:
        plan_from_dict(_plan_dict(ablations=[ablation]), tmp_path)
    assert field in str(info.value) and text in str(info.value)
