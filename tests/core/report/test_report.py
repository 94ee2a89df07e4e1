"""The report's content (core.report): the numbers are those the command line prints, identity is
withheld unless asked for."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from osteoplan.cli import main
from osteoplan.core.report.content import Figure, KeyValues, Table, build_report
from osteoplan.core.session import open_plan_session
from tests.fixtures.images import make_ct_series
from tests.test_cli_simulate_cement import _plan as cement_plan

PATIENT = {"patient_name": "Quixby^Zorblatt", "patient_id": "ZX-99317", "birth_date": "19470312"}
SCREENSHOT_PLANS = Path(__file__).resolve().parents[3] / "packaging" / "screenshots"


def dicom_plan(folder: Path) -> Path:
    """A tiny DICOM series of a named patient and a plan with one path through its 'bone'."""
    make_ct_series(folder / "series", **PATIENT)
    plan = {"format": "osteoplan.plan", "version": 1, "image": {"path": "series"},
            "trajectories": [{"id": "t1", "name": "Test path", "kind": "free", "entry_lps": [11.0, 0.5, 9.0],
                              "target_lps": [11.0, 14.0, 9.0], "device": "trocar-11g-100"}]}
    path = folder / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def _section(content, title_start: str):
    return next(s for s in content.sections if s.title.startswith(title_start))


def _values(section) -> dict[str, str]:
    return {k: v for block in section.blocks if isinstance(block, KeyValues) for k, v in block.rows}


def _json(capsys, *args) -> dict:
    main(list(args))
    return json.loads(capsys.readouterr().out)


def test_identity_is_withheld_by_default(tmp_path):
    session, _ = open_plan_session(dicom_plan(tmp_path))
    plain, named = build_report(session).text(), build_report(session, identify=True).text()
    secrets = ("Quixby", "Zorblatt", PATIENT["patient_id"], "1947", "2024-01-31", str(tmp_path))
    assert not any(secret in plain for secret in secrets)
    assert all(secret in named for secret in secrets)
    assert "Birth date: 1947-03-12" in named and "Patient name: Quixby, Zorblatt" in named


def test_a_section_and_needle_views_per_trajectory_and_every_warning(tmp_path, capsys):
    plan = tmp_path / "bilateral.plan.json"
    shutil.copy(SCREENSHOT_PLANS / "bilateral-L2.plan.json", plan)
    check = _json(capsys, "check", str(plan), "--json")
    content = build_report(open_plan_session(plan)[0])
    for item in check["trajectories"]:
        values = _values(_section(content, f"Path {item['id']}:"))
        assert values["Needle length"] == f"{item['length_mm']:.1f} mm"
        assert values["Breach grade"].startswith(item["breach_grade"])
        assert f"transverse {item['angles_deg']['transverse']:+.1f}°" in values["Angles"]
    views = [image.view for image in content.images]
    assert views[:2] == ["four-up", "3d"]
    needle_views = {f"{kind}:{item['id']}" for item in check["trajectories"] for kind in ("in-plane", "probe-eye")}
    assert needle_views <= set(views)
    (table,) = [b for b in _section(content, "Warnings").blocks if isinstance(b, Table)]
    rows = {row[2]: row for row in table.rows}
    assert len(table.rows) == len(check["warnings"])
    for warning in check["warnings"]:
        row = rows[warning["message"]]
        assert row[0] == warning["severity"].upper() and row[1] == warning["object"]
        assert row[4] == ("–" if warning["threshold_mm"] is None else f"{warning['threshold_mm']:g} mm")
    assert [r[0] for r in table.rows] == sorted((r[0] for r in table.rows), key=["STOP", "WARN", "INFO"].index)


def test_cement_numbers_are_those_of_simulate_cement(tmp_path, capsys):
    plan = cement_plan(tmp_path)
    simulated = _json(capsys, "simulate", "cement", str(plan), "--json")
    content = build_report(open_plan_session(plan)[0])
    (item,) = simulated["injections"]
    assert item["gateways"], "the test plan should reach a leak gateway"
    section = _section(content, "Cement injection c1")
    values = _values(section)
    assert values["Filled"] == f"{item['filled_ml']:.2f} mL"
    assert values["Lesion filled"] == ("–" if item["lesion_fill"] is None else f"{item['lesion_fill']:.1f} %")
    (gateways,) = [b for b in section.blocks if isinstance(b, Table)]
    assert [(r[0], r[1], r[2]) for r in gateways.rows] == \
        [(g["kind"], g["into"], f"{g['reached_at_ml']:.2f} mL") for g in item["gateways"]]
    assert "stop" in gateways.row_tones  # a gateway into the canal
    catalog = _section(content, "Catalog entries used").blocks[0]
    assert any(row[0] == "Cement spread model" for row in catalog.rows)


def test_ablation_numbers_are_those_of_simulate_ablation(tmp_path, capsys):
    plan = tmp_path / "rf.plan.json"
    shutil.copy(SCREENSHOT_PLANS / "rf-L2.plan.json", plan)
    simulated = _json(capsys, "simulate", "ablation", str(plan), "--json")
    content = build_report(open_plan_session(plan)[0])
    (item,) = simulated["ablations"]
    section = _section(content, f"Ablation {item['id']}")
    values = _values(section)
    zone = item["lethal_zone"]
    assert values["Lethal zone"] == f"{zone['length_mm']:.1f} × {zone['width_mm']:.1f} mm, {zone['volume_ml']:.2f} mL"
    assert values["Lesion coverage"] == f"{item['lesion_coverage']:.1f} %"
    assert values["Minimum margin"] == f"{item['min_margin_mm']:+.1f} mm"
    assert "illustrative" in values["Model"]  # the catalog's RF zone is not verified
    tables = {b.caption: b for b in section.blocks if isinstance(b, Table)}
    thermocouples = tables["Thermocouple temperatures (table model)"]
    assert thermocouples.rows == tuple((t["id"], f"{t['peak_c']:.1f} °C") for t in item["thermocouples"])
    nearest = next(t for caption, t in tables.items() if caption.startswith("Nearest"))
    assert nearest.rows[0][:2] == (item["structures"][0]["name"], f"{item['structures'][0]['distance_mm']:+.1f} mm")
    catalog = _section(content, "Catalog entries used").blocks[0]
    assert any(row[1] == "ablation setting" and row[2] == "illustrative" for row in catalog.rows)
    assert not any(isinstance(b, Figure) for b in section.blocks)
