"""`osteoplan simulate ablation`: the JSON contract, exit codes, and `check` with ablation warnings."""

from __future__ import annotations

import json


from osteoplan.cli import main
from osteoplan.core.imaging.phantom import landmarks

SPINE = landmarks("spine")
ITEM_KEYS = {"id", "trajectory", "device", "model", "verified", "lethal_zone", "lesion_coverage", "min_margin_mm",
             "thermocouples", "structures"}


def _plan(tmp_path, target=SPINE["lesion_center"], thermocouple=SPINE["canal_center_L2"]):
    data = {"format": "osteoplan.plan", "version": 1, "image": {"path": "demo:spine"},
            "trajectories": [{"id": "t1", "entry_lps": list(SPINE["L2_pedicle_left_axis_entry"]),
                              "target_lps": list(target), "device": "rf-bipolar-bone-10",
                              "target_structure": "lesion"}],
            "ablations": [{"id": "a1", "trajectory": "t1", "setting": "70c-15min"}],
            "thermocouples": [{"id": "tc1", "position_lps": list(thermocouple)}]}
    path = tmp_path / "ablation.plan.json"
    path.write_text(json.dumps(data))
    return path


def test_simulate_json_is_exactly_the_contract_and_stops_on_the_canal(tmp_path, capsys):
    code = main(["simulate", "ablation", str(_plan(tmp_path)), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert set(report) == {"ablations", "warnings"}
    (item,) = report["ablations"]
    assert set(item) == ITEM_KEYS
    assert item["model"] == "table" and item["verified"] is False and item["device"] == "rf-bipolar-bone-10"
    assert set(item["lethal_zone"]) == {"length_mm", "width_mm", "volume_ml"}
    assert all(isinstance(v, float) for v in item["lethal_zone"].values())
    assert 0 < item["lesion_coverage"] <= 100 and isinstance(item["min_margin_mm"], float)
    assert item["thermocouples"] == [{"id": "tc1", "peak_c": item["thermocouples"][0]["peak_c"]}]
    assert item["thermocouples"][0]["peak_c"] >= 45
    for structure in item["structures"]:
        assert set(structure) == {"name", "distance_mm", "peak_c"}
    assert "spinal_canal" in {s["name"] for s in item["structures"]}
    for warning in report["warnings"]:
        assert set(warning) == {"severity", "object", "structure", "distance_mm", "threshold_mm", "closest_lps",
                                "message"}
        assert warning["object"] == "a1"
    assert any(w["severity"] == "stop" and w["structure"] == "spinal_canal" for w in report["warnings"])


def test_simulate_human_output_and_check_include_the_ablation(tmp_path, capsys):
    plan = _plan(tmp_path)
    assert main(["simulate", "ablation", str(plan)]) == 1
    out = capsys.readouterr().out
    assert "a1 on t1" in out and "illustrative" in out and "thermocouple tc1" in out and "STOP" in out
    assert main(["check", str(plan), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert any(w["object"] == "a1" and w["severity"] == "stop" for w in report["warnings"])


def test_a_far_zone_is_not_a_stop(tmp_path, capsys):
    anterior = (SPINE["L2_body_center"][0], SPINE["L2_body_center"][1] - 10, SPINE["L2_body_center"][2])
    code = main(["simulate", "ablation", str(_plan(tmp_path, target=anterior)), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["ablations"][0]["thermocouples"][0]["peak_c"] < 45


def test_a_plan_with_an_unknown_setting_is_one_line_and_exit_2(tmp_path, capsys):
    path = _plan(tmp_path)
    data = json.loads(path.read_text())
    data["ablations"][0]["setting"] = "99c"
    path.write_text(json.dumps(data))
    assert main(["simulate", "ablation", str(path), "--json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ablations[0].setting" in err and "no setting '99c'" in err


def test_refine_without_the_bioheat_module_is_a_clear_error(tmp_path, capsys, monkeypatch):
    import osteoplan.core.ablation.refine as refine

    monkeypatch.setattr(refine, "bioheat_available", lambda: False)
    assert main(["simulate", "ablation", str(_plan(tmp_path)), "--refine", "--json"]) == 2
    assert "bioheat model is unavailable" in capsys.readouterr().err
