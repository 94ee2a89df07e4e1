"""The example third-party plugin (plugins/example_plugin): a separate distribution found through real
entry-point discovery, whose device is listed and whose zone model `osteoplan simulate` uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from osteoplan.core.ablation.zones import ZoneGeometry, compute_zone, rasterize_zone
from osteoplan.core.planning.devices import AblationSetting, device_catalog
from osteoplan.core.imaging.phantom import landmarks
from tests.plugins.conftest import EXAMPLE_PLUGIN, example_entry_points

REPO = Path(__file__).resolve().parents[2]
DEVICE = "example-mw-sphere-13g"


def test_the_example_plugin_is_its_own_distribution_and_not_installed_here():
    project = tomllib.loads((EXAMPLE_PLUGIN / "pyproject.toml").read_text())
    assert project["project"]["name"] == "osteoplan-example-plugin"
    assert project["tool"]["setuptools"]["packages"] == ["osteoplan_example"]
    main = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert not any("example" in package for package in main["tool"]["setuptools"]["packages"])
    assert {group for group, _, _ in example_entry_points()} == {"osteoplan.devices", "osteoplan.ablation_models"}
    assert DEVICE not in device_catalog()  # the test environment stays clean: nothing installed it


def _dist_info(tmp_path: Path) -> Path:
    """A minimal installed-distribution record of the example plugin: what `pip install` writes and
    `importlib.metadata` reads (METADATA + entry_points.txt), generated from its pyproject.toml."""
    project = tomllib.loads((EXAMPLE_PLUGIN / "pyproject.toml").read_text())["project"]
    site = tmp_path / "site"
    record = site / f"osteoplan_example_plugin-{project['version']}.dist-info"
    record.mkdir(parents=True)
    (record / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = []
    for group, table in project["entry-points"].items():
        lines += [f"[{group}]", *(f"{name} = {value}" for name, value in table.items()), ""]
    (record / "entry_points.txt").write_text("\n".join(lines))
    return site


def _run(args: list[str], site: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(EXAMPLE_PLUGIN)]))
    return subprocess.run([sys.executable, "-m", "osteoplan", *args], capture_output=True, text=True, env=env,
                          timeout=240)


def _plan(tmp_path: Path) -> Path:
    spine = landmarks("spine")
    data = {"format": "osteoplan.plan", "version": 1, "image": {"path": "demo:spine"},
            "trajectories": [{"id": "t1", "entry_lps": list(spine["L2_pedicle_left_axis_entry"]),
                              "target_lps": list(spine["lesion_center"]), "device": DEVICE,
                              "target_structure": "lesion"}],
            "ablations": [{"id": "a1", "trajectory": "t1", "setting": "60w-6min"}]}
    path = tmp_path / "example.plan.json"
    path.write_text(json.dumps(data))
    return path


def _extents(zone) -> dict:
    return {"length_mm": round(zone.length_mm, 3), "width_mm": round(zone.width_mm, 3),
            "volume_ml": round(zone.volume_ml, 3)}


def test_the_cli_finds_the_example_device_and_simulates_with_its_zone_model(tmp_path):
    site = _dist_info(tmp_path)
    listed = _run(["devices", "--json"], site)
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    rows = {row["id"]: row for row in json.loads(listed.stdout)["devices"]}
    assert rows[DEVICE]["provider"] == "example" and rows[DEVICE]["verified"] is False
    assert rows[DEVICE]["zone_model"] == "example-sphere" and "trocar-11g-100" in rows  # built-ins still there

    simulated = _run(["simulate", "ablation", str(_plan(tmp_path)), "--json"], site)
    assert simulated.returncode in (0, 1), simulated.stderr  # 1: a stop warning (the canal is close)
    (item,) = json.loads(simulated.stdout)["ablations"]
    assert item["device"] == DEVICE and item["model"] == "example-sphere"

    # What the example model documents: a sphere with the volume of the catalog ellipsoid, centred
    # tip_offset behind the tip, clipped by cortex. Computed here from that description.
    from osteoplan.core.imaging.demo import load_demo_case

    ct = load_demo_case("spine").ct
    setting = AblationSetting.model_validate(rows[DEVICE]["settings"][0])
    spine = landmarks("spine")
    target = np.asarray(spine["lesion_center"], float)
    axis = target - np.asarray(spine["L2_pedicle_left_axis_entry"], float)
    axis /= np.linalg.norm(axis)
    radius = (setting.lethal_length_mm * setting.lethal_width_mm ** 2) ** (1 / 3) / 2
    sphere = ZoneGeometry(target - axis * setting.tip_offset_mm, axis, (radius, radius),
                          (radius + setting.shell_45c_mm,) * 2, (), False)
    expected = _extents(rasterize_zone(ct, sphere, clip_cortex=True))
    assert item["lethal_zone"] == pytest.approx(expected, abs=1e-3)
    table = _extents(compute_zone(ct, target, axis, setting, cryo=False))
    assert abs(table["length_mm"] - item["lethal_zone"]["length_mm"]) > 3  # not the table model's ellipsoid
