"""3D Slicer markups files (``.mrk.json``): needle paths out as lines, lines and point lists in.

Slicer's markups JSON (schema ``markups-schema-v1.0.3.json``)::

    {"@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#",
     "markups": [{"type": "Line", "name": "...", "coordinateSystem": "LPS", "coordinateUnits": "mm",
                  "controlPoints": [{"id": "1", "label": "entry", "description": "...", "position": [x, y, z], ...},
                                    {"id": "2", "label": "target", ...}],
                  "measurements": [...], "display": {...}}]}

Export writes one file per trajectory: a ``Line`` from the entry (first point) to the
target (second), in LPS like the plan (Slicer converts to its RAS on loading). The name
and the points' description carry the device and the technique, readable in Slicer's
Markups module; an extra ``osteoplan`` object (the schema allows more properties, Slicer
ignores them) keeps the whole trajectory, so a file that comes back unchanged gives the
same trajectory. A file Slicer saved again has lost that object: the device and technique
are then read back from the description.

Import reads ``Line`` markups as trajectories (first point = entry, second = target) and
``Fiducial`` point lists with exactly two points the same way (a radiologist often clicks
entry and target as two points); other point lists become `Landmark`s, named points the
GUI's cursor can jump to (a plan has no place for loose points). ``LPS`` and ``RAS``
coordinates (x, y flipped), millimetres and micrometres are understood; curves, angles,
planes and ROIs are refused. Every problem raises `MarkupsError` naming the file.
"""

from __future__ import annotations

import json
import math
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.atomic import atomic_write_text
from osteoplan.core.planning.devices import DeviceCatalog, UnknownDeviceError
from osteoplan.core.planning.plan import Plan
from osteoplan.core.planning.trajectory import MIN_LENGTH_MM, Side, Trajectory, TrajectoryKind

__all__ = ["MARKUPS_SCHEMA", "MARKUPS_SUFFIX", "ImportedMarkups", "Landmark", "MarkupsError", "add_imported",
           "export_markups", "import_markups", "markups_file_name", "read_markups_file", "trajectory_markups"]

MARKUPS_SCHEMA = ("https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/"
                  "Schema/markups-schema-v1.0.3.json#")
MARKUPS_SUFFIX = ".mrk.json"
OSTEOPLAN_KEY = "osteoplan"  # our extra property: the whole trajectory
OSTEOPLAN_FORMAT = "osteoplan.trajectory"
MAX_MARKUPS_BYTES = 20 * 1024 * 1024
MAX_CONTROL_POINTS = 10000
NEEDLE_COLOR = [1.0, 0.85, 0.1]  # a yellow that stands out on CT grey in Slicer's views
# A control point's orientation in Slicer's files written in LPS: the identity in RAS.
_LPS_ORIENTATION = [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0]
_UNIT_SCALE = {"mm": 1.0, "um": 0.001}
_SUPPORTED_TYPES = ("Line", "Fiducial", "PointList")
_DEVICE_IN_TEXT = re.compile(r"\bdevice: ([a-z0-9][a-z0-9._\-]*)")
# "key: value" fields of our description, and the trajectory field each one is
_DESCRIBED_FIELDS = {"technique": "kind", "side": "side", "level": "level", "target": "target_structure"}
_KINDS = {kind.value for kind in TrajectoryKind}
_FIELD_IN_TEXT = re.compile(r"\b(technique|side|level|target): ([^;]+)")


class MarkupsError(OsteoPlanError):
    """A markups file that cannot be read or written; the message names the file and the problem."""


@dataclass(frozen=True)
class Landmark:
    """A named point from a Slicer point list (LPS mm)."""

    label: str
    position_lps: tuple[float, float, float]
    source: str  # "file.mrk.json: list name"


@dataclass
class ImportedMarkups:
    """What a set of markups files holds, ready for a plan: new trajectories, landmarks, notes for the user."""

    trajectories: list[Trajectory] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # trajectory id -> "file: markup name"
    landmarks: list[Landmark] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- export ------------------------------------------------------------------------------------
def _device_text(catalog: DeviceCatalog, device_id: str) -> str:
    try:
        device = catalog.get(device_id)
    except UnknownDeviceError:
        return f"device: {device_id}"
    details = [device.name]
    if device.gauge:
        details.append(f"gauge {device.gauge}")
    if device.length_mm is not None:
        details.append(f"length {device.length_mm:g} mm")
    return f"device: {device.id} ({'; '.join(details)})"


def _short_device(catalog: DeviceCatalog, device_id: str) -> str:
    try:
        device = catalog.get(device_id)
    except UnknownDeviceError:
        return device_id
    parts = [device.gauge or f"{device.outer_diameter_mm:g} mm", device.kind.value.replace("_", " ")]
    if device.length_mm is not None:
        parts.append(f"{device.length_mm:g} mm")
    return " ".join(parts)


def trajectory_markups(trajectory: Trajectory, catalog: DeviceCatalog) -> dict[str, Any]:
    """The markups JSON object (one Line, LPS mm) of a trajectory."""
    fields = [f"technique: {trajectory.kind.value}"]
    fields += [f"{key}: {value}" for key, value in (("side", trajectory.side and trajectory.side.value),
               ("level", trajectory.level), ("target", trajectory.target_structure)) if value]
    description = "; ".join([f"OsteoPlan needle path {trajectory.id}", *fields,
                             _device_text(catalog, trajectory.device)])

    def point(index: int, label: str, position) -> dict[str, Any]:
        return {"id": str(index), "label": label, "description": f"{description}; {label}", "associatedNodeID": "",
                "position": [float(v) for v in position], "orientation": list(_LPS_ORIENTATION), "selected": True,
                "locked": False, "visibility": True, "positionStatus": "defined"}

    markup = {
        "type": "Line",
        "name": f"{trajectory.label} ({_short_device(catalog, trajectory.device)})",
        "description": description,
        "coordinateSystem": "LPS",
        "coordinateUnits": "mm",
        "locked": False,
        "fixedNumberOfControlPoints": False,
        "labelFormat": "%N-%d",
        "lastUsedControlPointNumber": 2,
        "controlPoints": [point(1, "entry", trajectory.entry_lps), point(2, "target", trajectory.target_lps)],
        "measurements": [{"name": "length", "enabled": True, "value": trajectory.length_mm, "units": "mm",
                          "printFormat": "%-#4.4g%s"}],
        "display": {"visibility": trajectory.visible, "opacity": 1.0, "color": list(NEEDLE_COLOR),
                    "selectedColor": list(NEEDLE_COLOR), "activeColor": [0.4, 1.0, 0.0],
                    "propertiesLabelVisibility": True, "pointLabelsVisibility": True, "textScale": 3.0,
                    "glyphType": "Sphere3D", "glyphScale": 1.0, "glyphSize": 5.0, "useGlyphScale": True,
                    "sliceProjection": False, "lineThickness": 0.2, "snapMode": "unconstrained"},
        OSTEOPLAN_KEY: {"format": OSTEOPLAN_FORMAT, "version": 1,
                        "trajectory": trajectory.model_dump(mode="json", exclude_none=True)},
    }
    return {"@schema": MARKUPS_SCHEMA, "markups": [markup]}


def markups_file_name(trajectory: Trajectory) -> str:
    """A portable file name from the id and name: letters, digits, '.', '_', '-' only."""
    named = trajectory.name and trajectory.name != trajectory.id
    stem = f"{trajectory.id}_{trajectory.name}" if named else trajectory.id
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()  # "ü" -> "u"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:80] or "path"
    return stem + MARKUPS_SUFFIX


def export_markups(plan: Plan, out_dir: str | os.PathLike, catalog: DeviceCatalog) -> list[Path]:
    """Write one ``.mrk.json`` per trajectory into `out_dir` (created if needed, files written
    atomically); returns the files. Raises `MarkupsError`."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise MarkupsError(f"{out_dir} is a file; give a folder for the markups files")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MarkupsError(f"cannot create the folder {out_dir}: {exc.strerror or exc}") from None
    written: list[Path] = []
    used: set[str] = set()
    for trajectory in plan.trajectories:
        name = markups_file_name(trajectory)
        stem, number = name[: -len(MARKUPS_SUFFIX)], 2
        while name.lower() in used:  # ids differing only in characters that were replaced, or in case
            name, number = f"{stem}-{number}{MARKUPS_SUFFIX}", number + 1
        used.add(name.lower())
        path = out_dir / name
        text = json.dumps(trajectory_markups(trajectory, catalog), indent=2, ensure_ascii=False, allow_nan=False)
        try:
            atomic_write_text(path, text + "\n")
        except OSError as exc:
            raise MarkupsError(f"cannot write {path}: {exc.strerror or exc}") from None
        written.append(path)
    return written


# --- import: parsing -----------------------------------------------------------------------------
@dataclass
class _Markup:
    index: int
    type: str
    name: str
    description: str
    points: list[tuple[str, tuple[float, float, float], str]]  # (label, LPS mm, description)
    osteoplan: Any
    visible: bool | None = None


def _problem(path: Path, where: str, message: str) -> MarkupsError:
    return MarkupsError(f"{path}: {where}: {message}" if where else f"{path}: {message}")


def _load_json(path: Path) -> Any:
    try:
        if path.is_dir():
            raise MarkupsError(f"{path} is a folder, not a markups file (.mrk.json)")
        size = path.stat().st_size
        if size > MAX_MARKUPS_BYTES:
            raise MarkupsError(f"{path} is {size / 1e6:.0f} MB; a markups file is at most "
                               f"{MAX_MARKUPS_BYTES / 1e6:.0f} MB (is it really a Slicer markups file?)")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MarkupsError(f"markups file {path} not found") from None
    except OSError as exc:
        raise MarkupsError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise MarkupsError(f"{path} is not a Slicer markups file: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise MarkupsError(f"{path} is not a Slicer markups file: invalid JSON ({exc.msg} at line {exc.lineno}, "
                           f"column {exc.colno})") from None
    except (RecursionError, ValueError) as exc:
        raise MarkupsError(f"{path} is not a Slicer markups file: {exc}") from None


def _unit_scale(path: Path, where: str, units: Any) -> float:
    code = units[0] if isinstance(units, list) and len(units) == 3 and all(isinstance(u, str) for u in units) else units
    if code is None:
        return 1.0
    if isinstance(code, str) and code in _UNIT_SCALE:
        return _UNIT_SCALE[code]
    raise _problem(path, f"{where}.coordinateUnits", f"unknown unit {code!r}; expected 'mm' or 'um'")


def _position(path: Path, where: str, value: Any, flip: bool, scale: float) -> tuple[float, float, float]:
    if (not isinstance(value, list) or len(value) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise _problem(path, f"{where}.position", f"expected 3 numbers [x, y, z], got {json.dumps(value)[:60]}")
    x, y, z = (float(v) * scale for v in value)
    if not all(math.isfinite(v) for v in (x, y, z)):
        raise _problem(path, f"{where}.position", "coordinates must be finite numbers")
    # RAS -> LPS: x and y change sign (negation is exact, so a round trip keeps every bit)
    return (-x, -y, z) if flip else (x, y, z)


def _parse_markup(path: Path, index: int, markup: Any) -> _Markup:
    where = f"markups[{index}]"
    if not isinstance(markup, dict):
        raise _problem(path, where, "each markup must be a JSON object")
    kind = markup.get("type")
    if kind not in _SUPPORTED_TYPES:
        shown = "missing" if kind is None else repr(kind)
        raise _problem(path, f"{where}.type", f"type {shown} is not imported; OsteoPlan reads Line markups "
                       "(needle paths) and Fiducial point lists (curves, angles, planes and ROIs are not needle paths)")
    system = markup.get("coordinateSystem", "LPS")  # the schema's default
    if system not in ("LPS", "RAS"):
        raise _problem(path, f"{where}.coordinateSystem",
                       f"unknown coordinate system {system!r}; expected 'LPS' or 'RAS'")
    scale = _unit_scale(path, where, markup.get("coordinateUnits"))
    points_json = markup.get("controlPoints", [])
    if not isinstance(points_json, list):
        raise _problem(path, f"{where}.controlPoints", "must be a list of control points")
    if len(points_json) > MAX_CONTROL_POINTS:
        raise _problem(path, f"{where}.controlPoints",
                       f"{len(points_json)} points; at most {MAX_CONTROL_POINTS} are read")
    points = []
    for number, point in enumerate(points_json):
        point_where = f"{where}.controlPoints[{number}]"
        if not isinstance(point, dict):
            raise _problem(path, point_where, "each control point must be a JSON object")
        if point.get("positionStatus", "defined") != "defined" or "position" not in point:
            continue  # a point not placed yet (Slicer keeps its slot)
        label = point.get("label")
        label = label if isinstance(label, str) and label.strip() else f"{markup.get('name') or 'P'}-{number + 1}"
        description = point.get("description") if isinstance(point.get("description"), str) else ""
        points.append((label.strip(), _position(path, point_where, point["position"], system == "RAS", scale),
                       description))
    name = markup.get("name") if isinstance(markup.get("name"), str) else ""
    description = markup.get("description") if isinstance(markup.get("description"), str) else ""
    display = markup.get("display")
    visible = display.get("visibility") if isinstance(display, dict) else None
    return _Markup(index, kind, name.strip(), description, points, markup.get(OSTEOPLAN_KEY),
                   visible if isinstance(visible, bool) else None)


def read_markups_file(path: str | os.PathLike) -> list[_Markup]:
    """The markups of one file, positions in LPS mm; raises `MarkupsError` naming the file."""
    path = Path(path)
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("markups"), list):
        raise MarkupsError(f"{path} is not a Slicer markups file: expected a JSON object with a \"markups\" list "
                           "(Slicer's markups JSON, .mrk.json)")
    schema = data.get("@schema")
    if schema is not None and (not isinstance(schema, str) or "markups-schema" not in schema):
        raise MarkupsError(f"{path}: @schema: {str(schema)[:80]!r} is not Slicer's markups schema")
    if not data["markups"]:
        raise MarkupsError(f"{path}: the file holds no markups")
    return [_parse_markup(path, index, markup) for index, markup in enumerate(data["markups"])]


# --- import: into a plan --------------------------------------------------------------------------
def _stem(path: Path) -> str:
    name = path.name
    for suffix in (MARKUPS_SUFFIX, ".json"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _saved_trajectory(markup: _Markup, path: Path, notes: list[str]) -> dict[str, Any] | None:
    """The trajectory OsteoPlan stored in the file (without its positions), if any and valid."""
    block = markup.osteoplan
    if block is None:
        return None
    if (isinstance(block, dict) and block.get("format") == OSTEOPLAN_FORMAT and block.get("version") == 1
            and isinstance(block.get("trajectory"), dict)):
        return dict(block["trajectory"])
    notes.append(f"{path}: markups[{markup.index}]: the OsteoPlan details are not readable; the path was read "
                 "from its points and description")
    return None


def _line_trajectory(markup: _Markup, path: Path, plan_ids, catalog: DeviceCatalog,
                     result: ImportedMarkups) -> Trajectory:
    from osteoplan.core.planning.devices import default_trocar  # the same default as a path placed by hand

    where = f"markups[{markup.index}]"
    if len(markup.points) != 2:
        what = "a line" if markup.type == "Line" else "a point list taken as a path"
        raise _problem(path, where, f"{what} needs exactly 2 placed points (entry, then target); "
                       f"{markup.name or 'it'} has {len(markup.points)}")
    (_, entry, _), (_, target, _) = markup.points
    length = math.dist(entry, target)
    if length < MIN_LENGTH_MM:
        raise _problem(path, where, f"entry and target are {length:.2f} mm apart; a needle path needs at least "
                       f"{MIN_LENGTH_MM} mm")
    text = " ".join([markup.description, *(d for _, _, d in markup.points)])
    data = _saved_trajectory(markup, path, result.notes) or {}
    if not data:
        data = _described_fields(text)
        name = markup.name or _stem(path)
        if "device" in data:  # drop the " (11G trocar 150 mm)" the export added to the name
            name = name.removesuffix(f" ({_short_device(catalog, data['device'])})")
        data["name"] = name[:200]
        if markup.visible is not None:
            data["visible"] = markup.visible
    device_id = data.get("device")
    if device_id is None or device_id not in catalog:
        kind = TrajectoryKind(data["kind"]) if data.get("kind") in _KINDS else TrajectoryKind.FREE
        data["device"] = default_trocar(catalog, kind).id
        if device_id is not None:
            result.notes.append(f"{path}: device {device_id!r} is not in the catalog (is the plugin that provides it "
                                f"installed?); the path uses {data['device']}")
            data["spindles"] = [s for s in data.get("spindles", [])
                                if isinstance(s, dict) and s.get("device") in catalog]
    wanted = data.get("id")
    data["id"] = wanted if isinstance(wanted, str) and wanted and wanted not in plan_ids.taken else plan_ids.new("t")
    data["entry_lps"], data["target_lps"] = entry, target
    try:
        trajectory = Trajectory.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field_name = ".".join(str(p) for p in error["loc"])
        raise _problem(path, where, f"not a valid needle path ({field_name}: {error['msg']})") from None
    spindle_ids = [s.id for s in trajectory.spindles]
    if any(s in plan_ids.taken for s in spindle_ids):  # keep ids unique across the plan
        trajectory = trajectory.model_copy(update={"spindles": tuple(
            s.model_copy(update={"id": plan_ids.new("s")}) for s in trajectory.spindles)})
    plan_ids.take(trajectory.id, *(s.id for s in trajectory.spindles))
    return trajectory


def _described_fields(text: str) -> dict[str, str]:
    """Technique, side, level, target structure and device from a description OsteoPlan wrote
    (the first of each; values not valid for a trajectory are left out)."""
    found: dict[str, str] = {}
    for key, value in _FIELD_IN_TEXT.findall(text):
        found.setdefault(_DESCRIBED_FIELDS[key], value.strip())
    device = _DEVICE_IN_TEXT.search(text)
    if device:
        found["device"] = device.group(1)
    valid = {"kind": _KINDS, "side": {side.value for side in Side}}
    return {k: v for k, v in found.items() if k not in valid or v in valid[k]}


class _Ids:
    """Ids in the plan plus those kept or handed out during this import (`Plan.id_factory` knows
    only the ones it hands out, not the ids kept from files)."""

    def __init__(self, plan: Plan) -> None:
        self.taken = ({t.id for t in plan.trajectories} | {s.id for t in plan.trajectories for s in t.spindles}
                      | {a.id for a in plan.ablations} | {t.id for t in plan.thermocouples}
                      | {i.id for i in plan.injections})

    def take(self, *ids: str) -> None:
        self.taken.update(ids)

    def new(self, prefix: str) -> str:
        number = 1
        while f"{prefix}{number}" in self.taken:
            number += 1
        self.taken.add(f"{prefix}{number}")
        return f"{prefix}{number}"


TIP_MARGIN_MM = 10.0  # a path's tip lies in the CT (a partial voxel's worth of slack)
ENTRY_MARGIN_MM = 300.0  # its entry may lie outside the field of view, but within a needle's length of it


def import_markups(paths, plan: Plan, catalog: DeviceCatalog,
                   image_bounds: tuple[tuple[float, ...], tuple[float, ...]] | None = None) -> ImportedMarkups:
    """Read markups files into trajectories (ids not clashing with `plan`'s) and landmarks;
    the plan is not changed (see `add_imported`). Every file is read before anything is
    returned, so one bad file refuses the whole import. `image_bounds`: the CT's LPS box
    (low, high corners); a path whose tip lies outside it, or whose entry lies far outside,
    is refused. So is an import that would take the plan beyond its path limit. Raises `MarkupsError`."""
    from osteoplan.core.files.plan_file import MAX_TRAJECTORIES

    result = ImportedMarkups()
    ids = _Ids(plan)
    for path in map(Path, paths):
        for markup in read_markups_file(path):
            source = f"{path.name}: {markup.name or f'markups[{markup.index}]'}"
            if markup.type == "Line" or len(markup.points) == 2:
                trajectory = _line_trajectory(markup, path, ids, catalog, result)
                if image_bounds is not None:
                    _check_inside(trajectory, image_bounds, f"{path}: markups[{markup.index}]")
                result.trajectories.append(trajectory)
                result.sources[trajectory.id] = source
                if len(plan.trajectories) + len(result.trajectories) > MAX_TRAJECTORIES:
                    raise MarkupsError(f"{path}: importing these lines would give the plan more than "
                                       f"{MAX_TRAJECTORIES} paths (it has {len(plan.trajectories)}); import fewer "
                                       "or split them over several plans")
            elif not markup.points:
                result.notes.append(f"{path}: markups[{markup.index}]: an empty point list; nothing imported")
            else:
                result.landmarks += [Landmark(label, position, source) for label, position, _ in markup.points]
    return result


def _check_inside(trajectory: Trajectory, bounds, where: str) -> None:
    low, high = (tuple(float(v) for v in corner) for corner in bounds)
    for name, point, margin in (("target (tip)", trajectory.target_lps, TIP_MARGIN_MM),
                                ("entry", trajectory.entry_lps, ENTRY_MARGIN_MM)):
        outside = max(max(lo - p, p - hi, 0.0) for p, lo, hi in zip(point, low, high))
        if outside > margin:
            raise MarkupsError(f"{where}: its {name} lies {outside:.0f} mm outside the CT (LPS "
                               f"{', '.join(f'{v:.1f}' for v in point)}); was it placed on another image, or in RAS "
                               "where LPS was meant? Nothing was imported")


def add_imported(editor, imported: ImportedMarkups, label: str = "Import markups") -> None:
    """Add the imported trajectories to the editor's plan as one undo step."""
    with editor.history.group(label):
        for trajectory in imported.trajectories:
            editor.add_trajectory(trajectory, label=label)
