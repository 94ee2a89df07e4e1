"""`osteoplan export --markups/--labels` and `osteoplan import-markups`: round trip and exit codes."""

from __future__ import annotations

import json

import SimpleITK as sitk

from osteoplan.cli import main
from osteoplan.core.files.plan_file import load_plan, save_plan
from osteoplan.core.planning.plan import ImageRef, Plan
from osteoplan.core.planning.trajectory import Side, Spindle, Trajectory, TrajectoryKind


def _plan_files(tmp_path):
    paths = [
        Trajectory(id="t1", name="L2 left", kind=TrajectoryKind.TRANSPEDICULAR, side=Side.LEFT, level="L2",
                   target_structure="vertebrae_L2", entry_lps=(41.123456789012345, 63.1 / 3, -12.000000001),
                   target_lps=(3.3333333333333335, -7.1e-7, 0.1 + 0.2), device="trocar-11g-150",
                   spindles=(Spindle(id="s1", direction=(0.3, -0.2, 0.9), length_mm=40, device="kwire-2.0-150"),)),
        Trajectory(id="t2", entry_lps=(-50.0, 20.0, 5.0), target_lps=(-10.5, 1.25, 7.75), device="trocar-13g-100",
                   visible=False),
    ]
    full, empty = tmp_path / "plan.json", tmp_path / "copy.json"
    save_plan(Plan(ImageRef(path="demo:spine"), trajectories=paths), full)
    save_plan(Plan(ImageRef(path="demo:spine")), empty)
    return full, empty


def test_export_then_import_gives_the_same_trajectories(tmp_path, capsys):
    full, empty = _plan_files(tmp_path)
    assert main(["export", str(full), "--markups", str(tmp_path / "slicer")]) == 0
    written = capsys.readouterr().out.split()
    assert [p.rsplit("/", 1)[1] for p in written] == ["t1_L2_left.mrk.json", "t2.mrk.json"]
    assert main(["import-markups", *written, "--into", str(empty)]) == 0
    out = capsys.readouterr().out
    assert "added t1 'L2 left': transpedicular, trocar-11g-150" in out and "2 path(s) added" in out
    assert load_plan(empty).plan.trajectories == load_plan(full).plan.trajectories


def test_importing_again_adds_new_ids(tmp_path, capsys):
    full, _ = _plan_files(tmp_path)
    assert main(["export", str(full), "--markups", str(tmp_path / "slicer")]) == 0
    written = capsys.readouterr().out.split()
    assert main(["import-markups", written[0], "--into", str(full)]) == 0
    ids = [t.id for t in load_plan(full).plan.trajectories]
    assert ids[:2] == ["t1", "t2"] and len(ids) == 3 and len(set(ids)) == 3


def test_a_bad_file_is_exit_2_one_line_and_the_plan_untouched(tmp_path, capsys):
    full, _ = _plan_files(tmp_path)
    before = full.read_bytes()
    good = tmp_path / "good.mrk.json"
    good.write_text(json.dumps({"markups": [{"type": "Line", "coordinateSystem": "RAS", "controlPoints": [
        {"position": [1, 2, 3]}, {"position": [11, 2, 3]}]}]}))
    curve = tmp_path / "curve.mrk.json"
    curve.write_text(json.dumps({"markups": [{"type": "Curve", "controlPoints": []}]}))
    assert main(["import-markups", str(good), str(curve), "--into", str(full)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "curve.mrk.json" in err and "Curve" in err
    assert full.read_bytes() == before


def test_usage_errors_are_exit_2(tmp_path, capsys):
    full, _ = _plan_files(tmp_path)
    assert main(["export", str(full)]) == 2
    assert "--markups" in capsys.readouterr().err
    assert main(["import-markups", str(tmp_path / "x.mrk.json")]) == 2  # no --into
    assert main(["import-markups", str(tmp_path / "missing.mrk.json"), "--into", str(full)]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["export", str(full), "--labels", str(tmp_path / "x.png")]) == 2


def test_point_lists_are_reported_not_added(tmp_path, capsys):
    _, empty = _plan_files(tmp_path)
    before = empty.read_bytes()
    points = tmp_path / "F.mrk.json"
    points.write_text(json.dumps({"markups": [{"type": "Fiducial", "coordinateSystem": "LPS", "controlPoints": [
        {"label": "F-1", "position": [1, 2, 3]}, {"label": "F-2", "position": [4, 5, 6]},
        {"label": "F-3", "position": [7, 8, 9]}]}]}))
    assert main(["import-markups", str(points), "--into", str(empty)]) == 0
    out = capsys.readouterr().out
    assert "landmark 'F-2' at LPS (4.00, 5.00, 6.00) mm" in out and "0 path(s) added" in out
    assert empty.read_bytes() == before


def test_export_labels_writes_a_slicer_segmentation(tmp_path, capsys):
    full, _ = _plan_files(tmp_path)
    assert main(["export", str(full), "--labels", str(tmp_path / "out" / "case.seg.nrrd")]) == 0
    written = capsys.readouterr().out.split()
    assert [p.rsplit("/", 1)[1] for p in written] == ["case.seg.nrrd", "case.ctbl"]
    image = sitk.ReadImage(written[0])
    names = [image.GetMetaData(k) for k in image.GetMetaDataKeys() if k.endswith("_Name")]
    assert "vertebrae_L2" in names and "spinal_cord" in names


def _lines(path, *segments):
    """A Slicer markups file of lines, in LPS."""
    path.write_text(json.dumps({"markups": [
        {"type": "Line", "coordinateSystem": "LPS", "controlPoints": [{"position": list(a)}, {"position": list(b)}]}
        for a, b in segments]}))
    return path


def test_import_refuses_what_would_break_the_plan_and_leaves_it_untouched(tmp_path, capsys):
    from osteoplan.core.imaging.demo import load_demo_case

    _, empty = _plan_files(tmp_path)
    before = empty.read_bytes()
    centre = load_demo_case("spine").ct.center_lps()
    inside = (tuple(centre + [0, 60, 0]), tuple(centre))
    cases = {
        "many.mrk.json": [inside] * 501,  # beyond the plan's 500 paths
        "huge.mrk.json": [((1e300, 0, 0), tuple(centre))],  # overflows every later computation
        "far.mrk.json": [(tuple(centre + [0, 60, 1000]), tuple(centre + [0, 0, 1000]))],  # 1 m away from the CT
    }
    for name, segments in cases.items():
        assert main(["import-markups", str(_lines(tmp_path / name, *segments)), "--into", str(empty)]) == 2, name
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and name in err[0] and "Traceback" not in err[0], err
        assert empty.read_bytes() == before
    assert main(["import-markups", str(_lines(tmp_path / "ok.mrk.json", inside)), "--into", str(empty)]) == 0
    assert main(["check", str(empty)]) in (0, 1), "a verdict (0 or 1 for a stop), not an error"


def test_concurrent_imports_into_one_plan_all_land(tmp_path):
    import subprocess
    import sys

    from osteoplan.core.imaging.demo import load_demo_case

    _, empty = _plan_files(tmp_path)
    centre = load_demo_case("spine").ct.center_lps()
    files = [_lines(tmp_path / f"m{n}.mrk.json", (tuple(centre + [n, 60, 0]), tuple(centre + [n, 0, 0])))
             for n in range(4)]
    runs = [subprocess.Popen([sys.executable, "-m", "osteoplan", "import-markups", str(f), "--into", str(empty)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for f in files]
    assert all(run.wait(timeout=120) == 0 for run in runs)
    assert len(load_plan(empty).plan.trajectories) == 4, "every concurrent import kept"
