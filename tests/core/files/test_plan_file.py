"""Plan files: the format, round trips, clear errors naming the field, atomic writes, the image hash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from osteoplan.core.planning.devices import build_device_catalog
from osteoplan.core import atomic
from osteoplan.core.files.plan_file import (
    MAX_PLAN_BYTES,
    MIGRATIONS,
    PLAN_FORMAT,
    PLAN_VERSION,
    LoadedPlan,
    PlanFileError,
    check_image_hash,
    load_plan,
    plan_from_dict,
    plan_schema_text,
    plan_to_dict,
    save_plan,
    volume_content_hash,
    write_plan_schema,
)
from osteoplan.core.planning.plan import ImageRef, LabelsRef, Plan
from osteoplan.core.resources import resources_dir
from osteoplan.core.planning.trajectory import Side, Spindle, Trajectory, TrajectoryKind
from osteoplan.core.imaging.volume import Volume

MINIMAL_PLAN = """{"format": "osteoplan.plan", "version": 1, "image": {"path": "ct.nii.gz"},
 "trajectories": [{"id": "t1", "kind": "transpedicular", "entry_lps": [31.5, 80.0, 12.25],
                   "target_lps": [2.0, 30.0, 10.0], "device": "trocar-11g-100"}]}"""


@pytest.fixture
def case(tmp_path) -> Path:
    (tmp_path / "ct.nii.gz").write_bytes(b"not read by the plan loader")
    (tmp_path / "labels.nii.gz").write_bytes(b"")
    return tmp_path


def _write(folder: Path, text: str | bytes, name: str = "plan.json") -> Path:
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def _rich_plan(folder: Path) -> Plan:
    spindles = (Spindle(id="s1", name="to the head", direction=(0.2, -0.1, 1.0), length_mm=55.5,
                        device="kwire-2.0-150", start_offset_mm=3.0),
                Spindle(id="s2", direction=(-0.3, 0.1, 1.0), length_mm=48.0, device="kwire-1.6-150"))
    return Plan(
        ImageRef(path=str(folder / "ct.nii.gz"), series_uid="1.2.3", content_hash="sha256:" + "ab" * 32),
        LabelsRef(path=str(folder / "labels.nii.gz"), names=str(folder / "labels.json")),
        [Trajectory(id="t1", name="left pedicle", kind=TrajectoryKind.TRANSPEDICULAR, side=Side.LEFT,
                    target_structure="vertebrae_L2", level="L2", entry_lps=(31.5, 80.0, 12.25),
                    target_lps=(2.0, 30.0, 10.0), device="trocar-11g-100"),
         Trajectory(id="t2", kind=TrajectoryKind.TRANSCORTICAL, entry_lps=(0.1, 0.2, 0.3),
                    target_lps=(40.123456789, -20.0, 5.5), device="trocar-10g-150", spindles=spindles,
                    visible=False)],
    )


# --- the format ----------------------------------------------------------------------------
def test_the_hand_written_minimal_plan_loads(case):
    loaded = load_plan(_write(case, MINIMAL_PLAN))
    assert isinstance(loaded, LoadedPlan) and loaded.warnings == ()
    assert loaded.path == case / "plan.json"
    assert loaded.image_path == case / "ct.nii.gz" and loaded.labels_path is None
    (trajectory,) = loaded.plan.trajectories
    assert trajectory.kind is TrajectoryKind.TRANSPEDICULAR and trajectory.device == "trocar-11g-100"
    assert trajectory.entry_lps == (31.5, 80.0, 12.25) and trajectory.spindles == ()


def test_save_then_load_gives_the_same_plan_with_relative_paths(case):
    plan = _rich_plan(case)
    save_plan(plan, case / "plan.json")
    written = json.loads((case / "plan.json").read_text())
    assert written["format"] == PLAN_FORMAT and written["version"] == PLAN_VERSION
    assert written["image"]["path"] == "ct.nii.gz"
    assert written["labels"] == {"path": "labels.nii.gz", "names": "labels.json"}
    assert len(written["trajectories"][1]["spindles"]) == 2
    loaded = load_plan(case / "plan.json")
    assert loaded.plan.same_content(plan)
    assert loaded.plan.trajectory("t2").spindle("s1").start_offset_mm == 3.0
    assert loaded.labels_path == case / "labels.nii.gz"
    # the case folder moves as a whole
    moved = case.parent / "moved-case"
    case.rename(moved)
    reloaded = load_plan(moved / "plan.json")
    assert reloaded.image_path == moved / "ct.nii.gz" and reloaded.warnings == ()


def test_paths_outside_the_plan_folder_stay_absolute(case, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("plans")
    plan = _rich_plan(case)
    save_plan(plan, elsewhere / "plan.json")
    assert json.loads((elsewhere / "plan.json").read_text())["image"]["path"] == str(case / "ct.nii.gz")
    assert load_plan(elsewhere / "plan.json").plan.same_content(plan)
    assert plan_to_dict(plan)["image"]["path"] == str(case / "ct.nii.gz")  # no base_dir: as in the plan


def test_a_missing_image_is_a_warning_not_an_error(tmp_path):
    loaded = load_plan(_write(tmp_path, MINIMAL_PLAN))
    assert loaded.image_path == tmp_path / "ct.nii.gz"
    assert len(loaded.plan.trajectories) == 1
    assert len(loaded.warnings) == 1 and "ct.nii.gz" in loaded.warnings[0] and "not found" in loaded.warnings[0]


def test_version_0_files_are_migrated(case):
    old = {"image": "ct.nii.gz", "labels": "labels.nii.gz",
           "trajectories": [{"id": "t1", "entry": [1, 2, 3], "target": [4, 5, 60], "device": "kwire-2.0-150"}]}
    snapshot = json.dumps(old)
    loaded = load_plan(_write(case, json.dumps(old)))
    assert json.dumps(old) == snapshot  # the input is not mutated
    assert loaded.plan.trajectory("t1").target_lps == (4.0, 5.0, 60.0)
    assert loaded.labels_path == case / "labels.nii.gz"
    assert any("version 0" in w for w in loaded.warnings)
    assert set(MIGRATIONS) == set(range(PLAN_VERSION))
    assert MIGRATIONS[0]({"version": 0, "trajectories": ["junk"]})["trajectories"] == ["junk"]


# --- errors name the field -------------------------------------------------------------------
def _good() -> dict:
    return json.loads(MINIMAL_PLAN)


def _with(path: str, value) -> str:
    data = _good()
    target = data
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        target = target[key]
    if value is ...:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return json.dumps(data)


BAD_PLANS = {
    "invalid JSON": ('{"format": "osteoplan.plan",\n "version": 1 "image": {}}', None,
                     ["not valid JSON", "line 2, column 15"]),
    "not an object": ("[1, 2, 3]", None, ["one JSON object", "an array"]),
    "no format": (_with("format", ...), "format", ["not an OsteoPlan plan file", "missing"]),
    "wrong format": (_with("format", "slicer.markups"), "format", ['"slicer.markups"']),
    "future version": (_with("version", 7), "version", ["newer OsteoPlan", "version 7", "update OsteoPlan"]),
    "text version": (_with("version", "1"), "version", ["whole number"]),
    "no image path": (_with("image.path", ...), "image.path", ["image.path: is required"]),
    "image is a number": (_with("image", 5), "image", ["image:"]),
    "NaN coordinate": (MINIMAL_PLAN.replace("31.5", "NaN"), "trajectories[0].entry_lps",
                       ["trajectories[0].entry_lps", "finite", "'t1'"]),
    "infinite coordinate": (MINIMAL_PLAN.replace("2.0", "1e999"), "trajectories[0].target_lps", ["finite"]),
    "text coordinate": (_with("trajectories.0.entry_lps", [1, "x", 3]), "trajectories[0].entry_lps[1]",
                        ["valid number", '"x"']),
    "two coordinates": (_with("trajectories.0.entry_lps", [1, 2]), "trajectories[0].entry_lps[2]", ["3 numbers"]),
    "entry == target": (_with("trajectories.0.entry_lps", [2.0, 30.0, 10.0]), "trajectories[0]",
                        ["entry_lps and target_lps", "0.5 mm"]),
    "unknown device": (_with("trajectories.0.device", "trocar-11g-10"), "trajectories[0].device",
                       ["'trocar-11g-10'", "'t1'", "trocar-11g-100"]),
    "unknown kind": (_with("trajectories.0.kind", "sideways"), "trajectories[0].kind", ["transpedicular"]),
    "misspelt field": (_with("trajectories.0.entry", [1, 2, 3]), "trajectories[0].entry", ["did you mean 'entry_lps'"]),
    "too many trajectories": (_with("trajectories", [_good()["trajectories"][0]] * 501), "trajectories",
                              ["at most 500"]),
    "duplicate key": ('{"format": "osteoplan.plan", "format": "x"}', None, ["'format' appears twice"]),
}
BAD_PLANS["duplicate ids"] = (json.dumps({**_good(), "trajectories": _good()["trajectories"] * 2}),
                              "trajectories[1].id", ["'t1' is already used by trajectories[0]"])


@pytest.mark.parametrize("name", BAD_PLANS)
def test_bad_plans_give_a_message_naming_the_file_and_field(name, case):
    text, field, fragments = BAD_PLANS[name]
    path = _write(case, text)
    with pytest.raises(PlanFileError) as info:
        load_plan(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert info.value.field == field, message
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message


def test_oversized_deeply_nested_and_binary_files_are_refused(tmp_path):
    big = tmp_path / "big.json"
    with big.open("wb") as handle:
        handle.truncate(MAX_PLAN_BYTES + 1)  # sparse: never read
    with pytest.raises(PlanFileError, match="at most 20 MB"):
        load_plan(big)
    with pytest.raises(PlanFileError, match="nested too deeply"):
        load_plan(_write(tmp_path, "[" * 200_000 + "]" * 200_000))
    with pytest.raises(PlanFileError, match="not UTF-8"):
        load_plan(_write(tmp_path, b"\x89PNG\r\n\x1a\n\xff\xfe"))
    with pytest.raises(PlanFileError, match="not found"):
        load_plan(tmp_path / "nope.json")
    with pytest.raises(PlanFileError, match="folder"):
        load_plan(tmp_path)


def test_plan_from_dict_uses_the_given_catalog_and_source(case):
    catalog = build_device_catalog([("only", lambda: [{"id": "acme-1", "kind": "trocar", "name": "Acme",
                                                       "outer_diameter_mm": 3.0, "source": "s", "verified": False}])])
    data = json.loads(MINIMAL_PLAN)
    with pytest.raises(PlanFileError, match=r"^clipboard: trajectories\[0\]\.device"):
        plan_from_dict(data, case, source="clipboard", catalog=catalog)
    data["trajectories"][0]["device"] = "acme-1"
    assert plan_from_dict(data, case, catalog=catalog).plan.trajectory("t1").device == "acme-1"


# --- atomic writes ---------------------------------------------------------------------------
@pytest.mark.parametrize("failing", ["fsync", "replace", "write"])
def test_a_failed_save_leaves_the_old_file_and_no_temp_file(failing, case, monkeypatch):
    path = case / "plan.json"
    save_plan(_rich_plan(case), path)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if failing == "write":
        class HalfWriter:
            def __init__(self, handle):
                self.handle = handle

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.handle.close()

            def write(self, data):
                self.handle.write(data[: len(data) // 2])
                fail()

        real_fdopen = os.fdopen
        monkeypatch.setattr(atomic.os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    else:
        monkeypatch.setattr(atomic.os, failing, fail)
    plan = Plan(ImageRef(path=str(case / "other.nii.gz")))
    with pytest.raises(PlanFileError, match="No space left on device"):
        save_plan(plan, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in case.iterdir()) == ["ct.nii.gz", "labels.nii.gz", "plan.json"]


def test_saved_file_keeps_the_mode_of_the_file_it_replaces(case):
    path = case / "plan.json"
    save_plan(_rich_plan(case), path)
    os.chmod(path, 0o640)
    save_plan(_rich_plan(case), path)
    assert path.stat().st_mode & 0o777 == 0o640


_WRITER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path

    # Write in small paced chunks, so that a kill lands in the middle of writing the bytes.
    real_fdopen = os.fdopen
    class PacedFile:
        def __init__(self, handle):
            self.handle = handle
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            self.handle.close()
        def write(self, data):
            for start in range(0, len(data), 65536):
                self.handle.write(data[start:start + 65536])
                self.handle.flush()
                time.sleep(0.001)
        def flush(self):
            self.handle.flush()
        def fileno(self):
            return self.handle.fileno()
    os.fdopen = lambda fd, mode="r", *args, **kwargs: PacedFile(real_fdopen(fd, mode, *args, **kwargs))

    from osteoplan.core.files.plan_file import save_plan
    from osteoplan.core.planning.plan import ImageRef, Plan
    from osteoplan.core.planning.trajectory import Spindle, Trajectory

    def plan(tag, n):
        spindles = tuple(Spindle(id=f"s{k}", direction=(1, k, 2), length_mm=10 + k, device="kwire-2.0-150")
                         for k in range(30))
        return Plan(ImageRef(path=tag), trajectories=[
            Trajectory(id=f"t{i}", name=tag * 10, entry_lps=(i, 0, 0), target_lps=(i, 50, 1),
                       device="trocar-11g-100", spindles=spindles) for i in range(n)])

    path = Path(sys.argv[1])
    plans = [plan("/old.nii.gz", 300), plan("/new.nii.gz", 320)]
    save_plan(plans[0], path)
    print("ready", flush=True)
    count = 0
    while True:
        count += 1
        save_plan(plans[count % 2], path)
""")


def test_kill_9_while_saving_leaves_a_file_that_parses(tmp_path):
    path = tmp_path / "plan.json"
    for delay in (0.05, 0.13, 0.31):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(delay)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        loaded = load_plan(path)  # never half a file
        count = len(loaded.plan.trajectories)
        assert (loaded.plan.image.path, count) in {("/old.nii.gz", 300), ("/new.nii.gz", 320)}
        assert len(loaded.plan.trajectory("t0").spindles) == 30


# --- image content hash ----------------------------------------------------------------------
def _volume(array=None, spacing=(0.8, 0.8, 2.0)) -> Volume:
    array = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) if array is None else array
    return Volume(array, spacing, (-10.0, 20.0, 5.0))


def test_volume_content_hash_tracks_voxels_and_geometry():
    reference = volume_content_hash(_volume())
    assert reference.startswith("sha256:") and len(reference) == 71
    assert volume_content_hash(_volume()) == reference
    assert volume_content_hash(_volume(_volume().array.astype(">i2"))) == reference  # byte order does not matter
    assert volume_content_hash(_volume(np.asfortranarray(_volume().array))) == reference
    changed = _volume().array.copy()
    changed[2, 3, 4] += 1
    assert volume_content_hash(_volume(changed)) != reference
    assert volume_content_hash(_volume(spacing=(0.8, 0.8, 2.5))) != reference


def test_check_image_hash_warns_only_on_a_mismatch(case):
    volume = _volume()
    plan = Plan(ImageRef(path=str(case / "ct.nii.gz"), content_hash=volume_content_hash(volume)))
    save_plan(plan, case / "plan.json")
    loaded = load_plan(case / "plan.json")
    assert check_image_hash(loaded, volume) is None
    changed = _volume(volume.array + 1)
    message = check_image_hash(loaded, changed)
    assert message and "ct.nii.gz" in message and "not the one this plan was made on" in message
    no_hash = plan_from_dict(json.loads(MINIMAL_PLAN), case)
    assert check_image_hash(no_hash, changed) is None


# --- published schema ----------------------------------------------------------------------
def test_the_committed_schema_is_the_generated_one(tmp_path):
    committed = (resources_dir() / "plan.schema.json").read_text(encoding="utf-8")
    assert committed == plan_schema_text(), "run `python -m osteoplan.core.files.plan_file` to regenerate it"
    schema = json.loads(committed)
    assert schema["properties"]["format"]["const"] == PLAN_FORMAT
    assert schema["properties"]["version"]["const"] == PLAN_VERSION
    assert set(schema["required"]) == {"format", "version", "image"}
    assert write_plan_schema(tmp_path / "schema.json").read_text(encoding="utf-8") == committed


def test_a_plan_on_a_demo_case_keeps_its_builtin_image_reference(tmp_path):
    from osteoplan.core.files.autosave import Autosaver
    from osteoplan.core.files.plan_file import load_plan, save_plan
    from osteoplan.core.planning.plan import ImageRef, Plan
    from osteoplan.core.planning.trajectory import Trajectory

    plan = Plan(ImageRef(path="demo:spine"), trajectories=[
        Trajectory(id="t1", entry_lps=(30, 60, 0), target_lps=(0, 0, 0), device="trocar-11g-100")])
    save_plan(plan, tmp_path / "plan.json")
    loaded = load_plan(tmp_path / "plan.json")
    assert loaded.plan.image.path == "demo:spine" and loaded.warnings == ()
    autosaved = load_plan(Autosaver(tmp_path / "autosave").save(plan))
    assert autosaved.plan.image.path == "demo:spine"


def test_saving_a_symlinked_plan_writes_through_the_link(tmp_path):
    target = tmp_path / "real" / "plan.json"
    target.parent.mkdir()
    save_plan(Plan(ImageRef(path="demo:spine")), target)
    link = tmp_path / "plan.json"
    link.symlink_to(target)
    plan = Plan(ImageRef(path="demo:spine"), trajectories=[Trajectory(id="t1", entry_lps=(0, 60, 0),
                                                                      target_lps=(0, 0, 0), device="trocar-11g-100")])
    save_plan(plan, link)
    assert link.is_symlink(), "the link stays a link"
    assert [t.id for t in load_plan(target).plan.trajectories] == ["t1"]
