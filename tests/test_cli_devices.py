"""`osteoplan devices [--json]`: the catalog listing is a contract for scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from osteoplan.cli import main
from osteoplan.core.planning.devices import device_catalog

CONTRACT_KEYS = ("id", "kind", "name", "outer_diameter_mm", "length_mm", "source", "verified")


def test_devices_json_is_exactly_the_catalog_listing(capsys):
    assert main(["devices", "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one JSON object on one line
    listing = json.loads(out)
    assert listing == device_catalog().listing()
    assert set(listing) == {"devices"} and len(listing["devices"]) >= 20
    for row in listing["devices"]:
        assert tuple(row)[:7] == CONTRACT_KEYS
        assert isinstance(row["outer_diameter_mm"], float) and row["outer_diameter_mm"] > 0
        assert isinstance(row["verified"], bool) and row["source"]
    assert {"trocar-11g-100", "trocar-13g-150", "kwire-2.0-150", "screw-cann-6.5-80"} <= {
        row["id"] for row in listing["devices"]}


def test_devices_table_marks_unverified_entries_illustrative(capsys):
    assert main(["devices"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["id", "kind", "OD"]
    rows = {line.split()[0]: line for line in lines[1:] if line and not line[0].isdigit()}
    for device in device_catalog():
        assert device.id in rows
        assert rows[device.id].endswith("illustrative") == (not device.verified), rows[device.id]
    assert "3.048" in rows["trocar-11g-100"] and "11G" in rows["trocar-11g-100"]
    assert lines[-1].startswith(f"{len(device_catalog())} devices.")


def test_devices_as_a_command_in_a_fresh_process():
    result = subprocess.run([sys.executable, "-m", "osteoplan", "devices", "--json"], capture_output=True,
                            text=True, timeout=60, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout)["devices"][0]["provider"] == "builtin"


def test_devices_with_a_bad_option_is_one_line_and_exit_2(capsys):
    assert main(["devices", "--colour"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("osteoplan: error:") and "--colour" in err
