"""Autosave and crash recovery: a killed session's plan is offered back, a live one's never is."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

from osteoplan.core.files.autosave import Autosaver, autosave_dir, data_dir, find_recoverable
from osteoplan.core.files.plan_file import load_plan
from osteoplan.core.planning.plan import ImageRef, LabelsRef, Plan
from osteoplan.core.planning.trajectory import Spindle, Trajectory


@pytest.fixture(autouse=True)
def data_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "data"
    monkeypatch.setenv("OSTEOPLAN_DATA_DIR", str(root))
    return root


def _plan(image: str = "/cases/spine/ct.nii.gz", count: int = 2) -> Plan:
    spindle = Spindle(id="s1", direction=(0, 0, 1), length_mm=40, device="kwire-2.0-150")
    return Plan(ImageRef(path=image, series_uid="1.2.3"), LabelsRef(path="/cases/spine/labels.nii.gz"),
                [Trajectory(id=f"t{i}", entry_lps=(i, 0, 0), target_lps=(i, 60, 5), device="trocar-11g-100",
                            spindles=(spindle,)) for i in range(1, count + 1)])


def test_the_data_folder_honours_the_environment(data_root):
    assert data_dir() == data_root
    assert autosave_dir() == data_root / "autosave"
    assert Autosaver().directory == data_root / "autosave"


def test_save_writes_the_plan_and_its_meta(data_root, tmp_path):
    saver = Autosaver()
    original = tmp_path / "case" / "plan.json"
    plan = _plan(image="ct.nii.gz")  # relative: to the plan file's folder
    written = saver.save(plan, original)
    assert written == saver.plan_path and written.parent == data_root / "autosave"
    assert written.name.endswith(".plan.json") and saver.meta_path.exists()
    meta = json.loads(saver.meta_path.read_text())
    assert meta["pid"] == os.getpid() and meta["host"] == socket.gethostname()
    assert meta["original_path"] == str(original)
    assert meta["image_path"] == str(tmp_path / "case" / "ct.nii.gz")
    assert meta["trajectory_count"] == 2
    assert abs((datetime.fromisoformat(meta["saved_at"]) - datetime.now(timezone.utc)).total_seconds()) < 60
    assert load_plan(written).plan.image.path == str(tmp_path / "case" / "ct.nii.gz")


def test_a_live_session_is_not_offered_and_discard_removes_it(data_root):
    saver = Autosaver()
    saver.save(_plan())
    saver.save(_plan(count=3))  # later saves replace the same files
    assert find_recoverable() == []
    assert len(list((data_root / "autosave").glob("*.plan.json"))) == 1
    saver.discard()
    assert list((data_root / "autosave").iterdir()) == []
    assert find_recoverable() == []


_SESSION = textwrap.dedent("""
    import sys, time
    from osteoplan.core.files.autosave import Autosaver
    from osteoplan.core.planning.plan import ImageRef, Plan
    from osteoplan.core.planning.trajectory import Spindle, Trajectory

    count = int(sys.argv[1])
    spindle = Spindle(id="s1", name="to the head", direction=(0.1, 0.2, 1.0), length_mm=42.5,
                      device="kwire-2.0-150", start_offset_mm=2.0)
    plan = Plan(ImageRef(path="/cases/hip/ct.nii.gz", content_hash="sha256:" + "0" * 64),
                trajectories=[Trajectory(id=f"t{i}", entry_lps=(i, 0.25, 0), target_lps=(i, 60, 5.125),
                                         device="trocar-10g-150", spindles=(spindle,)) for i in range(count)])
    Autosaver().save(plan, sys.argv[2])
    print("saved", flush=True)
    time.sleep(60)
""")


def _start_session(count: int, original: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _SESSION, str(count), original], stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ))
    assert proc.stdout.readline().strip() == "saved"
    return proc


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def test_a_killed_session_is_recovered_identical_and_a_live_one_is_not(tmp_path):
    first = _start_session(2, str(tmp_path / "first.json"))
    second = _start_session(3, str(tmp_path / "second.json"))
    try:
        assert find_recoverable() == []  # both alive
        _kill(first)
        (recoverable,) = find_recoverable()
        assert recoverable.original_path == tmp_path / "first.json"
        assert recoverable.trajectory_count == 2
        assert recoverable.image_path == Path("/cases/hip/ct.nii.gz")
        _kill(second)
        found = find_recoverable()
        assert [r.trajectory_count for r in found] == [3, 2]  # newest first
        assert found[0].saved_at >= found[1].saved_at
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                _kill(proc)
    loaded = found[1].load()
    trajectory = loaded.plan.trajectory("t1")
    assert trajectory.entry_lps == (1.0, 0.25, 0.0) and trajectory.spindle("s1").length_mm == 42.5
    assert loaded.plan.image.content_hash == "sha256:" + "0" * 64
    expected = Plan(loaded.plan.image, trajectories=[
        Trajectory(id=f"t{i}", entry_lps=(i, 0.25, 0), target_lps=(i, 60, 5.125), device="trocar-10g-150",
                   spindles=(Spindle(id="s1", name="to the head", direction=(0.1, 0.2, 1.0), length_mm=42.5,
                                     device="kwire-2.0-150", start_offset_mm=2.0),)) for i in range(2)])
    assert loaded.plan.same_content(expected)
    found[1].discard()
    assert [r.trajectory_count for r in find_recoverable()] == [3]
    assert not any(p.name.startswith(found[1].session) for p in autosave_dir().iterdir())


def test_an_autosave_without_meta_or_with_a_broken_one_is_still_offered(data_root):
    folder = data_root / "autosave"
    folder.mkdir(parents=True)
    saver = Autosaver(folder)
    saver.save(_plan(count=4))
    saver.meta_path.write_text("{ broken")
    orphan = folder / "19990101-000000-1-deadbeef.plan.json"
    orphan.write_text(saver.plan_path.read_text())  # killed between the plan write and the meta write
    found = find_recoverable(folder)
    assert [r.plan_path for r in found] == [orphan]  # the live session's own autosave is not offered
    assert found[0].trajectory_count == 4 and found[0].original_path is None
    assert len(found[0].load().plan.trajectories) == 4
    saver.discard()


def test_opening_a_plan_finds_the_newer_autosave_a_crash_left_of_it(data_root, tmp_path):
    from osteoplan.core.files.autosave import newer_autosave_of
    from osteoplan.core.files.plan_file import save_plan

    original = tmp_path / "plan.json"
    save_plan(_plan(count=1), original)
    old = original.stat().st_mtime - 600
    os.utime(original, (old, old))  # saved ten minutes before the crash
    saver = Autosaver()
    saver.save(_plan(count=3), original)
    assert newer_autosave_of(original) is None, "its session is still running: not offered"
    os.close(saver._lock_fd)  # the process is gone: the OS drops its lock
    saver._lock_fd = None
    found = newer_autosave_of(original)
    assert found is not None and found.trajectory_count == 3
    assert newer_autosave_of(tmp_path / "other.json") is None
    save_plan(_plan(count=1), original)  # saved again after the autosave: the file is the newer one
    later = datetime.now(timezone.utc).timestamp() + 60
    os.utime(original, (later, later))
    assert newer_autosave_of(original) is None
