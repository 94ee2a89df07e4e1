"""Each plugin group end to end in-process: a working plugin is used, a broken one (fails on import, raises,
returns bad data, is missing) is reported once and skipped, and OsteoPlan goes on."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from osteoplan import plugin_api
from osteoplan.cli import main
from osteoplan.core.cement.spread import CementError, cement_model
from osteoplan.core.cement.models import cement_model_named, model_of_injections
from osteoplan.core.planning.devices import build_device_catalog, device_catalog
from osteoplan.core.errors import LoadError
from osteoplan.core.planning.injection import Injection
from osteoplan.core.imaging.io import load_image
from osteoplan.core.files.plan_file import plan_from_dict, plan_to_dict
from osteoplan.core.session import PlanSession
from osteoplan.core.planning.trajectory import TrajectoryKind
from osteoplan.core.imaging.volume import Volume
from tests.ui.conftest import make_synthetic_case

# --- ablation zone models ----------------------------------------------------------------------
ZONE_MODELS = '''
import numpy as np
from dataclasses import replace
from osteoplan.core.ablation.zones import ZoneGeometry, rasterize_zone

def small_sphere(request):
    geometry = ZoneGeometry(request.tip_lps, request.axis, (4.0, 4.0), (6.0, 6.0), (), False)
    return rasterize_zone(request.ct, geometry, clip_cortex=False)
small_sphere.model_name = "small sphere"

def raises(request):
    raise RuntimeError("solver diverged")

def garbage(request):
    return {"lethal": "everywhere"}

def off_grid(request):
    coarse = type(request.ct)(request.ct.array, (9.0, 9.0, 9.0), request.ct.origin)
    return replace(small_sphere(request), grid=coarse)

def lethal_outside_outer(request):
    zone = small_sphere(request)
    return replace(zone, outer=np.zeros_like(zone.outer))
'''


def _probe(zone_model: str) -> dict:
    return {"id": f"fake-probe-{zone_model}", "kind": "rf_probe", "name": f"Fake probe ({zone_model})",
            "outer_diameter_mm": 1.5, "active_tip_mm": 10, "source": "test", "verified": False,
            "zone_model": zone_model,
            "settings": [{"id": "s1", "label": "S1", "lethal_length_mm": 20, "lethal_width_mm": 15,
                          "tip_offset_mm": 5, "shell_45c_mm": 4, "duration_min": 10, "source": "test",
                          "verified": False}]}


@pytest.fixture
def zone_models(tmp_path, add_entry_points):
    (tmp_path / "fake_zone_models.py").write_text(ZONE_MODELS)
    (tmp_path / "fake_zone_broken_import.py").write_text("import no_such_dependency\n")
    add_entry_points([(plugin_api.ABLATION_MODELS, name, value) for name, value in [
        ("small", "fake_zone_models:small_sphere"), ("raises", "fake_zone_models:raises"),
        ("garbage", "fake_zone_models:garbage"), ("off-grid", "fake_zone_models:off_grid"),
        ("inside-out", "fake_zone_models:lethal_outside_outer"),
        ("import-fails", "fake_zone_broken_import:model")]], path=tmp_path)
    names = ["builtin", "small", "raises", "garbage", "off-grid", "inside-out", "import-fails", "not-installed"]
    builtin = device_catalog()
    catalog = build_device_catalog([("builtin", lambda: [d.model_dump(exclude={"provider"}) for d in builtin]),
                                    ("fake", lambda: [_probe(name) for name in names])])
    assert not catalog.problems
    return catalog


def _ablation_session(catalog, zone_model: str) -> PlanSession:
    from osteoplan.core.planning.ablation import Ablation

    case = make_synthetic_case()
    session = PlanSession(case, catalog=catalog)
    lesion = case.ct.index_to_lps((24, 40, 20))
    path = session.new_trajectory(lesion + [0, 25, 0], lesion, TrajectoryKind.FREE,
                                  device_id=f"fake-probe-{zone_model}")
    session.editor.add_trajectory(path)
    session.editor.add_ablation(Ablation(id="a1", trajectory=path.id, setting="s1"))
    return session


def test_a_probe_uses_the_zone_model_it_names(zone_models):
    from osteoplan.core.ablation.warnings import ablation_summary, ablation_warnings

    table = _ablation_session(zone_models, "builtin")
    small = _ablation_session(zone_models, "small")
    assert ablation_summary(table, "a1")["model"] == "table"
    summary = ablation_summary(small, "a1")
    assert summary["model"] == "small sphere"
    assert summary["lethal_zone"]["volume_ml"] == pytest.approx(4 / 3 * np.pi * 4.0 ** 3 / 1000, rel=0.25)
    assert summary["lethal_zone"]["volume_ml"] < 0.3 * ablation_summary(table, "a1")["lethal_zone"]["volume_ml"]
    assert not [w for w in ablation_warnings(small, "a1") if "zone model" in w.message]


@pytest.mark.parametrize(("name", "why"), [
    ("raises", "failed: RuntimeError: solver diverged"),
    ("garbage", "expected an AblationZone, got dict"),
    ("off-grid", "does not lie on the CT's grid"),
    ("inside-out", "lethal zone is not inside its outer zone"),
    ("import-fails", "is not installed"),
    ("not-installed", "is not installed"),
])
def test_a_broken_zone_model_falls_back_to_the_table_model_with_a_warning(zone_models, name, why, caplog):
    from osteoplan.core.ablation.warnings import ablation_summary, ablation_warnings

    with caplog.at_level(logging.WARNING, logger="osteoplan.plugin_api"):
        broken = _ablation_session(zone_models, name)
        summary = ablation_summary(broken, "a1")
        again = _ablation_session(zone_models, name)  # a second session: not reported again
        warnings = ablation_warnings(again, "a1")
    table = ablation_summary(_ablation_session(zone_models, "builtin"), "a1")
    assert summary["model"] == "table" and summary["lethal_zone"] == table["lethal_zone"]
    (warning,) = [w for w in warnings if "zone model" in w.message]
    assert why in warning.message and "table model was used instead" in warning.message
    assert warning.severity.value == "warn" and warning.object == "a1"
    reported = [r.getMessage() for r in caplog.records if f"{name!r}" in r.getMessage()]
    if name == "import-fails":  # reported when the group was loaded, and again as the device's missing model
        assert any("no_such_dependency" in p for p in plugin_api.problems())
    assert len([m for m in reported if why in m]) == 1


# --- cement models -------------------------------------------------------------------------------
CEMENT_MODELS = '''
from osteoplan.core.cement.spread import cement_model

def thin():
    return cement_model().model_copy(update={"lytic_porosity": 0.5})

def as_dict():
    return cement_model().model_dump()

def raises():
    raise OSError("calibration file missing")

def garbage():
    return 42

def invalid():
    data = cement_model().model_dump()
    data["lytic_porosity"] = 7
    return data
'''


@pytest.fixture
def fake_cement_models(tmp_path, add_entry_points):
    (tmp_path / "fake_cement_models.py").write_text(CEMENT_MODELS)
    add_entry_points([(plugin_api.CEMENT_MODELS, name, f"fake_cement_models:{name}")
                      for name in ("thin", "as_dict", "raises", "garbage", "invalid")], path=tmp_path)


def test_cement_models_are_chosen_by_name_and_validated(fake_cement_models, caplog):
    assert cement_model_named() == cement_model()
    assert cement_model_named("thin").lytic_porosity == 0.5
    assert cement_model_named("as_dict") == cement_model()
    with caplog.at_level(logging.WARNING, logger="osteoplan.plugin_api"):
        for name, why in [("raises", "calibration file missing"), ("garbage", "returned int"),
                          ("invalid", "lytic_porosity"), ("absent", "is not installed")]:
            for _ in range(2):
                with pytest.raises(CementError, match=why):
                    cement_model_named(name)
    assert len(caplog.records) == 4  # each reported once
    one = Injection(id="c1", trocar="t1", volume_ml=2.0, model="thin")
    assert model_of_injections([one])[0] == "thin"
    with pytest.raises(CementError, match="different cement models"):
        model_of_injections([one, Injection(id="c2", trocar="t1", volume_ml=2.0)])


def test_an_injection_records_its_cement_model_in_the_plan_and_the_solver_uses_it(fake_cement_models, tmp_path):
    from osteoplan.core.cement.simulation import solve

    case = make_synthetic_case()
    session = PlanSession(case)
    lesion = case.ct.index_to_lps((24, 40, 20))
    path = session.new_trajectory(lesion + [0, 25, 0], lesion, TrajectoryKind.FREE)
    session.editor.add_trajectory(path)
    session.editor.add_injection(Injection(id="c1", trocar=path.id, volume_ml=1.0))
    builtin_field = solve(session).field
    assert "model" not in plan_to_dict(session.plan)["injections"][0]  # the default is not written
    session.editor.update_injection("c1", model="thin")
    saved = plan_to_dict(session.plan)
    assert saved["injections"][0]["model"] == "thin"
    assert plan_from_dict(saved, tmp_path).plan.injection("c1").model == "thin"
    thin_field = solve(session).field
    assert thin_field.phi[thin_field.lesion].max() == pytest.approx(0.5)
    assert builtin_field.phi[builtin_field.lesion].max() == pytest.approx(cement_model().lytic_porosity)
    session.editor.update_injection("c1", model="raises")
    with pytest.raises(CementError, match="calibration file missing"):
        solve(session)


# --- image readers -------------------------------------------------------------------------------
READERS = '''
import numpy as np
from pathlib import Path
from osteoplan.core.imaging.volume import Volume

class FakeFormat:
    """Reads .fake files: the first line gives the size, every voxel = the size's sum (float64)."""
    def can_read(self, path):
        return Path(path).suffix == ".fake"
    def read(self, path):
        n = int(Path(path).read_text().split()[0])
        array = np.full((n, n + 1, n + 2), float(n), dtype=np.float64)
        array[0, 0, 0] = np.nan
        return Volume(array, (0.5, 0.5, 1.0), (10.0, 20.0, 30.0))

class Sniffer:
    def can_read(self, path):
        raise RuntimeError("sniffing failed")

class Broken:
    def can_read(self, path):
        return Path(path).suffix == ".broken"
    def read(self, path):
        raise ValueError("bad magic number")

class Garbage:
    def can_read(self, path):
        return Path(path).suffix == ".garbage"
    def read(self, path):
        return np.zeros((4, 4, 4))
'''


@pytest.fixture
def fake_readers(tmp_path, add_entry_points):
    (tmp_path / "fake_image_readers.py").write_text(READERS)
    add_entry_points([(plugin_api.IMAGE_READERS, name, f"fake_image_readers:{value}") for name, value in [
        ("fakeformat", "FakeFormat"), ("a-sniffer", "Sniffer"),  # tried first (by name), before fakeformat
        ("broken", "Broken"), ("garbage", "Garbage")]], path=tmp_path)
    return tmp_path


def test_an_image_reader_plugin_reads_a_format_the_builtins_do_not(fake_readers, caplog):
    path = fake_readers / "scan.fake"
    path.write_text("6\n")
    with caplog.at_level(logging.WARNING, logger="osteoplan.plugin_api"):
        loaded = load_image(path)
        load_image(path)
    volume = loaded.volume
    assert isinstance(volume, Volume) and volume.size == (8, 7, 6) and volume.spacing == (0.5, 0.5, 1.0)
    assert volume.array.dtype == np.int16 and volume.array.max() == 6  # compacted like a built-in read
    assert any("image-reader plugin 'fakeformat'" in w for w in loaded.warnings)
    assert any("not finite" in w for w in loaded.warnings)
    sniff = [r.getMessage() for r in caplog.records if "'a-sniffer'" in r.getMessage()]
    assert len(sniff) == 1 and "sniffing failed" in sniff[0]  # reported once, then skipped


@pytest.mark.parametrize(("suffix", "why"), [(".broken", "bad magic number"), (".garbage", "not a Volume")])
def test_a_failing_image_reader_is_a_clear_load_error(fake_readers, suffix, why, capsys):
    path = fake_readers / f"scan{suffix}"
    path.write_text("x")
    with pytest.raises(LoadError, match=why):
        load_image(path)
    assert main(["info", str(path)]) == 2  # the CLI: one error line, exit 2 (and a warning per failing plugin)
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("osteoplan: error:")]
    assert len(errors) == 1 and why in errors[0]
    assert all(line.startswith("osteoplan: warning:") for line in err if line not in errors)
    assert len(set(err)) == len(err), "no problem printed twice"


def test_files_no_reader_claims_are_still_unsupported(fake_readers):
    path = fake_readers / "notes.txt"
    path.write_text("x")
    with pytest.raises(LoadError, match="does not read as an image"):
        load_image(path)
