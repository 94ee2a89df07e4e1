"""`osteoplan simulate cement`: the JSON contract and exit codes."""

from __future__ import annotations

import json

import numpy as np

from osteoplan.cli import main
from osteoplan.core.phantom import landmarks

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
