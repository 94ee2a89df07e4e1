"""3D Slicer markups (.mrk.json): export of needle paths, import of lines and point lists."""

from __future__ import annotations

import json

import numpy as np
import pytest

from osteoplan.core.planning.devices import device_catalog
from osteoplan.core.planning.editing import PlanEditor
from osteoplan.core.files.slicer_markups import (MARKUPS_SCHEMA, MarkupsError, add_imported, export_markups,
                                              import_markups, markups_file_name, read_markups_file,
                                              trajectory_markups)
from osteoplan.core.planning.plan import ImageRef, Plan
from osteoplan.core.planning.devices import default_trocar
from osteoplan.core.planning.trajectory import Side, Spindle, Trajectory, TrajectoryKind

CATALOG = device_catalog()


def _oblique_trajectories(count: int = 6, seed: int = 7) -> list[Trajectory]:
    """Paths in every direction, with coordinates that have no short decimal form."""
    rng = np.random.default_rng(seed)
    kinds = list(TrajectoryKind)
    found = []
    for index in range(count):
        entry = rng.uniform(-250, 250, 3)
        target = entry + rng.normal(size=3) * rng.uniform(20, 60)
        spindles = (Spindle(id=f"s{index}", direction=tuple(rng.normal(size=3)), length_mm=35.5,
                            device="kwire-2.0-150", start_offset_mm=2.25),) if index % 2 else ()
        found.append(Trajectory(id=f"t{index + 1}", name=f"Path {index + 1} / L{index + 1}", kind=kinds[index % 4],
                                side=(Side.LEFT, Side.RIGHT, None)[index % 3], level=f"L{index % 5 + 1}",
                                target_structure="lesion" if index % 2 else None,
                                entry_lps=tuple(entry), target_lps=tuple(target),
                                device=("trocar-11g-150", "trocar-13g-100", "rf-bipolar-bone-10")[index % 3],
                                spindles=spindles, visible=index != 2))
    return found


def _empty_plan() -> Plan:
    return Plan(ImageRef(path="demo:spine"))


def _write(path, data) -> str:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def _line(points, system="LPS", **extra) -> dict:
    return {"@schema": MARKUPS_SCHEMA, "markups": [{
        "type": "Line", "coordinateSystem": system, "coordinateUnits": "mm",
        "controlPoints": [{"id": str(n + 1), "label": f"L-{n + 1}", "position": list(p), "positionStatus": "defined"}
                          for n, p in enumerate(points)], **extra}]}


def test_round_trip_is_exact_for_oblique_paths(tmp_path):
    original = _oblique_trajectories()
    files = export_markups(Plan(ImageRef(path="demo:spine"), trajectories=original), tmp_path, CATALOG)
    assert len(files) == len(original) and all(f.name.endswith(".mrk.json") for f in files)
    imported = import_markups(files, _empty_plan(), CATALOG)
    assert imported.trajectories == original  # ids, names, devices, spindles, visibility
    for before, after in zip(original, imported.trajectories):
        assert np.abs(after.entry - before.entry).max() <= 1e-6
        assert np.abs(after.target - before.target).max() <= 1e-6
    assert not imported.landmarks and not imported.notes


def test_export_follows_slicers_schema_and_names_the_device(tmp_path):
    trajectory = _oblique_trajectories()[0]
    data = trajectory_markups(trajectory, CATALOG)
    assert data["@schema"].endswith("markups-schema-v1.0.3.json#")
    (markup,) = data["markups"]
    assert markup["type"] == "Line" and markup["coordinateSystem"] == "LPS" and markup["coordinateUnits"] == "mm"
    entry, target = markup["controlPoints"]
    assert entry["position"] == list(trajectory.entry_lps) and target["position"] == list(trajectory.target_lps)
    assert set(entry) >= {"id", "label", "description", "associatedNodeID", "position", "orientation", "selected",
                          "locked", "visibility", "positionStatus"}
    assert entry["positionStatus"] == "defined" and len(entry["orientation"]) == 9
    device = CATALOG.get(trajectory.device)
    assert trajectory.label in markup["name"] and device.gauge in markup["name"]
    for text in (markup["description"], entry["description"]):
        assert f"device: {device.id}" in text and device.name in text and f"{device.length_mm:g} mm" in text
        assert f"technique: {trajectory.kind.value}" in text
    assert markup["measurements"][0]["value"] == pytest.approx(trajectory.length_mm)


def test_ras_file_imports_at_the_lps_position(tmp_path):
    original = _oblique_trajectories(3, seed=11)
    files = []
    for trajectory in original:  # as another program writes them: RAS, no OsteoPlan details
        ras = [(-p[0], -p[1], p[2]) for p in (trajectory.entry_lps, trajectory.target_lps)]
        files.append(_write(tmp_path / f"{trajectory.id}.mrk.json", _line(ras, "RAS", name=trajectory.name)))
    imported = import_markups(files, _empty_plan(), CATALOG)
    for before, after in zip(original, imported.trajectories):
        assert np.abs(after.entry - before.entry).max() <= 1e-6
        assert np.abs(after.target - before.target).max() <= 1e-6
        assert after.name == before.name and after.kind is TrajectoryKind.FREE
        assert after.device == default_trocar(CATALOG, TrajectoryKind.FREE).id


SLICER_RAS_LINE = """{
  "@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.0.json#",
  "markups": [{
    "type": "Line", "coordinateSystem": "RAS", "locked": false, "labelFormat": "%N-%d",
    "controlPoints": [
      {"id": "1", "label": "L-1", "description": "", "associatedNodeID": "vtkMRMLScalarVolumeNode1",
       "position": [-53.388409961685827, -73.33572796934868, 12.5],
       "orientation": [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0],
       "selected": true, "locked": false, "visibility": true, "positionStatus": "defined"},
      {"id": "2", "label": "L-2", "description": "", "associatedNodeID": "vtkMRMLScalarVolumeNode1",
       "position": [-25.22749042145594, 59.255268199233729, 0.0],
       "orientation": [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0],
       "selected": true, "locked": false, "visibility": true, "positionStatus": "defined"}],
    "measurements": [{"name": "length", "enabled": true, "value": 136.4, "printFormat": "%-#4.4gmm"}],
    "display": {"visibility": true, "opacity": 1.0, "color": [0.4, 1.0, 1.0], "selectedColor": [1.0, 0.5, 0.5],
                "propertiesLabelVisibility": true, "pointLabelsVisibility": false, "textScale": 3.0,
                "glyphType": "Sphere3D", "glyphScale": 1.0, "glyphSize": 5.0, "useGlyphScale": true,
                "sliceProjection": false, "lineThickness": 0.2, "snapMode": "toVisibleSurface"}
  }]
}"""

# The point list of Slicer's "Markups json file format" documentation (developer_guide/modules/markups.md).
SLICER_DOC_POINT_LIST = """{"@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.0.json#",
"markups": [{"type": "Fiducial", "coordinateSystem": "LPS", "controlPoints": [
    { "label": "F-1", "position": [-53.388409961685827, -73.33572796934868, 0.0] },
    { "label": "F-2", "position": [49.8682950191571, -88.58955938697324, 0.0] },
    { "label": "F-3", "position": [-25.22749042145594, 59.255268199233729, 0.0] }
]}]}"""


def test_a_line_as_slicer_writes_it_in_ras(tmp_path):
    path = _write(tmp_path / "L.mrk.json", SLICER_RAS_LINE)
    (trajectory,) = import_markups([path], _empty_plan(), CATALOG).trajectories
    assert trajectory.entry_lps == pytest.approx((53.388409961685827, 73.33572796934868, 12.5), abs=1e-9)
    assert trajectory.target_lps == pytest.approx((25.22749042145594, -59.255268199233729, 0.0), abs=1e-9)
    assert trajectory.name == "L" and trajectory.id == "t1"


def test_slicers_documented_point_list_gives_landmarks(tmp_path):
    path = _write(tmp_path / "myexample.mrk.json", SLICER_DOC_POINT_LIST)
    imported = import_markups([path], _empty_plan(), CATALOG)
    assert not imported.trajectories
    assert [lm.label for lm in imported.landmarks] == ["F-1", "F-2", "F-3"]
    assert imported.landmarks[1].position_lps == (49.8682950191571, -88.58955938697324, 0.0)
    assert "myexample.mrk.json" in imported.landmarks[0].source


def test_a_two_point_list_is_a_path_entry_then_target(tmp_path):
    data = json.loads(SLICER_DOC_POINT_LIST)
    data["markups"][0]["controlPoints"] = data["markups"][0]["controlPoints"][:2]
    data["markups"][0]["name"] = "biopsy"
    (trajectory,) = import_markups([_write(tmp_path / "p.mrk.json", data)], _empty_plan(), CATALOG).trajectories
    assert trajectory.entry_lps == (-53.388409961685827, -73.33572796934868, 0.0)
    assert trajectory.target_lps == (49.8682950191571, -88.58955938697324, 0.0)
    assert trajectory.name == "biopsy"


@pytest.mark.parametrize("index", [1, 2])
def test_a_file_slicer_saved_again_keeps_device_and_technique(tmp_path, index):
    trajectory = _oblique_trajectories()[index]
    data = trajectory_markups(trajectory, CATALOG)
    markup = data["markups"][0]
    del markup["osteoplan"], markup["description"]  # Slicer keeps only its own fields (the points' descriptions)
    for point in markup["controlPoints"]:  # Slicer writes RAS when asked to
        point["position"] = [-point["position"][0], -point["position"][1], point["position"][2]]
    markup["coordinateSystem"] = "RAS"
    (back,) = import_markups([_write(tmp_path / "x.mrk.json", data)], _empty_plan(), CATALOG).trajectories
    # everything but the id (a new one) and the spindles (not Slicer objects)
    assert back == trajectory.model_copy(update={"id": "t1", "spindles": ()})


def test_ids_never_clash_with_the_plan(tmp_path):
    original = _oblique_trajectories(2)
    files = export_markups(Plan(ImageRef(path="x"), trajectories=original), tmp_path, CATALOG)
    plan = Plan(ImageRef(path="x"), trajectories=original)
    imported = import_markups(files + files, plan, CATALOG)  # each twice
    ids = [t.id for t in plan.trajectories] + [t.id for t in imported.trajectories]
    spindle_ids = [s.id for t in [*plan.trajectories, *imported.trajectories] for s in t.spindles]
    assert len(ids) == len(set(ids)) == 6 and len(spindle_ids) == len(set(spindle_ids))
    assert [t.entry_lps for t in imported.trajectories] == [t.entry_lps for t in original] * 2


def test_an_unknown_device_falls_back_to_the_default_trocar_with_a_note(tmp_path):
    data = trajectory_markups(_oblique_trajectories()[0], CATALOG)
    data["markups"][0]["osteoplan"]["trajectory"]["device"] = "plugin-trocar-9g"
    imported = import_markups([_write(tmp_path / "a.mrk.json", data)], _empty_plan(), CATALOG)
    assert imported.trajectories[0].device in CATALOG
    assert "plugin-trocar-9g" in imported.notes[0]


def test_micrometres_and_unplaced_points(tmp_path):
    data = _line([(1000.0, 2000.0, 3000.0), (11000.0, 2000.0, 3000.0)])
    data["markups"][0]["coordinateUnits"] = "um"
    data["markups"][0]["controlPoints"].append({"id": "3", "label": "L-3", "positionStatus": "undefined"})
    (trajectory,) = import_markups([_write(tmp_path / "u.mrk.json", data)], _empty_plan(), CATALOG).trajectories
    assert trajectory.entry_lps == pytest.approx((1.0, 2.0, 3.0)) and trajectory.length_mm == pytest.approx(10.0)


def test_import_is_one_undo_step():
    plan = _empty_plan()
    editor = PlanEditor(plan)
    imported = import_markups([], plan, CATALOG)
    imported.trajectories += _oblique_trajectories(3)
    add_imported(editor, imported)
    assert len(plan.trajectories) == 3
    editor.history.undo()
    assert not plan.trajectories
    editor.history.redo()
    assert plan.trajectories == tuple(imported.trajectories)


def test_file_names_are_safe_and_unique(tmp_path):
    paths = [Trajectory(id="t1", name="L2 gauche: ünïcode/../x", entry_lps=(0, 0, 0), target_lps=(0, 0, 9),
                        device="trocar-11g-100"),
             Trajectory(id="t 1", entry_lps=(0, 0, 0), target_lps=(0, 0, 9), device="trocar-11g-100"),
             Trajectory(id="t_1", entry_lps=(0, 0, 0), target_lps=(0, 0, 9), device="trocar-11g-100")]
    assert markups_file_name(paths[0]) == "t1_L2_gauche_unicode_.._x.mrk.json"
    files = export_markups(Plan(ImageRef(path="x"), trajectories=paths), tmp_path / "new" / "folder", CATALOG)
    assert len({f.name for f in files}) == 3 and all(f.parent == tmp_path / "new" / "folder" for f in files)
    assert all(f.is_file() for f in files)


@pytest.mark.parametrize("content, expected", [
    ("this is not json", "invalid JSON"),
    ('{"markups": "none"}', 'expected a JSON object with a "markups" list'),
    ('[1, 2]', 'expected a JSON object with a "markups" list'),
    ('{"@schema": "https://example.org/other.json", "markups": []}', "is not Slicer's markups schema"),
    ('{"markups": []}', "holds no markups"),
    (json.dumps(_line([(0, 0, 0), (0, 0, 10), (0, 0, 20)])), "needs exactly 2 placed points"),
    (json.dumps(_line([(0, 0, 0)])), "needs exactly 2 placed points"),
    (json.dumps(_line([(0, 0, 0), (0, 0, 10)], "IJK")), "unknown coordinate system 'IJK'"),
    (json.dumps({"markups": [{"type": "Curve", "controlPoints": []}]}), "type 'Curve' is not imported"),
    (json.dumps({"markups": [{"type": "ClosedCurve"}]}), "type 'ClosedCurve' is not imported"),
    (json.dumps(_line([(0, 0, 0), (0, 0, 0.1)])), "a needle path needs at least"),
    (json.dumps(_line([(0, 0, 0), (0, "a", 10)])), "expected 3 numbers"),
    (json.dumps({"markups": [{"type": "Line", "coordinateUnits": "inch", "controlPoints": []}]}), "unknown unit"),
])
def test_bad_files_give_one_line_naming_the_file(tmp_path, content, expected):
    path = _write(tmp_path / "bad.mrk.json", content)
    with pytest.raises(MarkupsError) as error:
        import_markups([path], _empty_plan(), CATALOG)
    message = str(error.value)
    assert expected in message and str(path) in message and "\n" not in message


def test_a_missing_file_and_a_folder(tmp_path):
    with pytest.raises(MarkupsError, match="not found"):
        read_markups_file(tmp_path / "none.mrk.json")
    with pytest.raises(MarkupsError, match="is a folder"):
        read_markups_file(tmp_path)
