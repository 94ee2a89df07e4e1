"""`osteoplan simulate cement`: the JSON contract and exit codes."""

from __future__ import annotations

import json

import numpy as np

from osteoplan.cli import main
from osteoplan.core.imaging.phantom import landmarks

SPINE = landmarks("spine")


def _plan(tmp_path, volume=4.0, trocar="t1"):
    body, canal = np.array(SPINE["L2_body_center"]), np.array(SPINE["canal_center_L2"])
    data = {"format": "osteoplan.plan", "version": 1, "image": {"path": "demo:spine"},
            "trajectories": [{"id": "t1", "entry_lps": list(SPINE["L2_pedicle_left_axis_entry"]),
                              "target_lps": list(body + (canal - body) * 0.35), "device": "trocar-11g-100"}],
            "injections": [{"id": "c1", "trocar": trocar, "volume_ml": volume}]}
    path = tmp_path / "cement.plan.json"
    path.write_text(json.dumps(data))
    return path


def test_simulate_cement_json_contract(tmp_path, capsys):
    code = main(["simulate", "cement", str(_plan(tmp_path)), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and set(report) == {"injections", "warnings"}
    (item,) = report["injections"]
    assert set(item) == {"id", "trocar", "injected_ml", "filled_ml", "lesion_fill", "bone_fill", "gateways"}
    assert abs(item["filled_ml"] - 4.0) < 0.08
    for gateway in item["gateways"]:
        assert set(gateway) == {"kind", "reached_at_ml", "into", "probability"}


def test_simulate_cement_bad_inputs(tmp_path, capsys):
    assert main(["simulate", "cement", str(_plan(tmp_path, volume=0)), "--json"]) == 2
    assert main(["simulate", "cement", str(_plan(tmp_path, trocar="t9")), "--json"]) == 2
    err = capsys.readouterr().err
    assert "volume_ml" in err and "t9" in err


def test_simulate_cement_monte_carlo_fills_probabilities(tmp_path, capsys):
    path = _plan(tmp_path)
    assert main(["simulate", "cement", str(path), "--json"]) == 1
    plain = json.loads(capsys.readouterr().out)
    assert all(g["probability"] is None for g in plain["injections"][0]["gateways"])
    assert main(["simulate", "cement", str(path), "--json", "--monte-carlo", "5"]) == 1
    report = json.loads(capsys.readouterr().out)
    gateways = report["injections"][0]["gateways"]
    assert all(0.0 <= g["probability"] <= 1.0 for g in gateways)
    canal = [g for g in gateways if g["into"] == "epidural canal"]
    assert canal and canal[0]["probability"] >= 0.8
    # the deterministic part is unchanged by the perturbed runs
    assert [(g["kind"], g["reached_at_ml"]) for g in gateways] == \
        [(g["kind"], g["reached_at_ml"]) for g in plain["injections"][0]["gateways"]]


def test_monte_carlo_keeps_the_cached_deterministic_solution():
    from osteoplan.core.cement.simulation import injection_report, solve
    from osteoplan.core.session import open_plan_session
    import tempfile, pathlib

    with tempfile.TemporaryDirectory() as tmp:
        session, _ = open_plan_session(str(_plan(pathlib.Path(tmp))))
        first = solve(session)
        injection_report(session, monte_carlo=2)
        assert solve(session) is first


def test_simulate_cement_tip_in_a_vessel(tmp_path, capsys):
    path = _plan(tmp_path)
    data = json.loads(path.read_text())
    data["trajectories"][0]["target_lps"] = list(SPINE["aorta_center_L2"])
    path.write_text(json.dumps(data))
    assert main(["simulate", "cement", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "vessel" in lines[0]


def test_simulate_cement_in_portions(tmp_path, capsys):
    path = _plan(tmp_path, volume=3.0)
    data = json.loads(path.read_text())
    data["injections"][0]["steps_ml"] = [1, 1, 1]
    path.write_text(json.dumps(data))
    main(["simulate", "cement", str(path), "--json"])
    report = json.loads(capsys.readouterr().out)
    (item,) = report["injections"]  # the contract is unchanged by the portions
    assert set(item) == {"id", "trocar", "injected_ml", "filled_ml", "lesion_fill", "bone_fill", "gateways"}
    assert abs(item["filled_ml"] - 3.0) < 0.06
    for gateway in item["gateways"]:
        assert set(gateway) == {"kind", "reached_at_ml", "into", "probability"}
    assert any("portion" in w["message"] for w in report["warnings"])
    main(["simulate", "cement", str(path)])
    text = capsys.readouterr().out
    assert "portion 1: 1 mL, 1.00 mL in all" in text and "portion 3: 1 mL, 3.00 mL in all" in text


def test_simulate_cement_steps_that_do_not_add_up(tmp_path, capsys):
    path = _plan(tmp_path, volume=3.0)
    data = json.loads(path.read_text())
    data["injections"][0]["steps_ml"] = [1, 1]
    path.write_text(json.dumps(data))
    assert main(["simulate", "cement", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1
    assert "steps_ml add up to 2 mL, not volume_ml (3 mL)" in lines[0]
