"""Plan files: versioned JSON, validated on load, written atomically.

Format (version 1; the JSON Schema is published as ``resources/plan.schema.json``)::

    {"format": "osteoplan.plan", "version": 1,
     "image": {"path": "ct.nii.gz", "series_uid": "...", "content_hash": "sha256:..."},
     "labels": {"path": "labels.nii.gz", "names": "labels.json"},
     "structures": {"auto": {"skin": true, "bone": true},
                    "overrides": {"spinal_cord": {"warn_mm": 6, "stop_mm": 3, "category": "neural",
                                                  "color": [255, 220, 0], "visible": true, "opacity": 0.6}},
                    "renamed": {"cord": "spinal_cord"}, "deleted": ["label_7"],
                    "masks": [{"path": "plan.structures.nii.gz", "names": {"1": "cement (user)"}}]},
     "trajectories": [{"id": "t1", "name": "", "kind": "transpedicular", "side": "left",
                       "target_structure": "vertebrae_L2", "level": "L2",
                       "entry_lps": [x, y, z], "target_lps": [x, y, z], "device": "trocar-11g-100",
                       "spindles": [{"id": "s1", "direction": [x, y, z], "length_mm": 60,
                                     "device": "kwire-2.0-150", "start_offset_mm": 0}],
                       "visible": true}],
     "ablations": [{"id": "a1", "trajectory": "t1", "setting": "70c-15min", "offset_mm": 0}],
     "thermocouples": [{"id": "tc1", "position_lps": [x, y, z]}],
     "injections": [{"id": "c1", "trocar": "t1", "volume_ml": 3.0, "viscosity": "medium", "steps_ml": [1, 1, 1]}]}

``structures`` (optional, every part optional): ``auto`` switches the automatic skin/bone
(each computed only when the labels lack it; default on); ``overrides`` per structure
name what differs from its defaults (null/absent: the default; thresholds are the needle
ones); ``renamed`` {new name: name in the labels}; ``deleted`` names of label/automatic
structures; ``masks`` the label maps on the CT grid, written beside the plan on saving,
holding the edited and user-painted masks (see `structure_masks`, `structure_state`).

Only ``format``, ``version``, ``image.path`` and, per trajectory, ``id``, ``entry_lps``,
``target_lps`` and ``device`` are required. An ablation needs ``id``, ``trajectory`` (whose
device is an ablation probe) and ``setting`` (one of that probe's); see `plan_ablations`. An injection needs ``id``, ``trocar`` (a trajectory id) and
``volume_ml`` (> 0); ``viscosity`` defaults to "medium", ``steps_ml`` to one portion. Relative paths resolve against the plan
file's folder; a `Plan` in memory holds absolute paths, and saving writes the paths
that lie under the plan's folder relative to it (so a case folder can be moved whole).
Older versions are upgraded by `MIGRATIONS` (see `plan_migrations`).

Every problem with a file raises `PlanFileError`, whose message names the file and the
field (``plan.json: trajectories[0].entry_lps: ...``). A missing image is not an error
(the trajectories can still be recovered): it is a warning in `LoadedPlan.warnings`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from osteoplan.core.atomic import atomic_write_text, exclusive_lock
from osteoplan.core.files.plan_ablations import check_ablations
from osteoplan.core.files.plan_errors import PlanFileError, _json_type, _short, _validation_error
from osteoplan.core.files.plan_migrations import MIGRATIONS, PLAN_FORMAT, looks_like_version_0
from osteoplan.core.imaging.content_hash import volume_content_hash
from osteoplan.core.imaging.demo import is_builtin_image
from osteoplan.core.imaging.volume import Volume
from osteoplan.core.planning.ablation import Ablation, Thermocouple
from osteoplan.core.planning.devices import DeviceCatalog, UnknownDeviceError, device_catalog
from osteoplan.core.planning.injection import Injection
from osteoplan.core.planning.plan import (AutoStructures, ImageRef, LabelsRef, MaskLayerRef, Plan, StructureOverride,
                                 StructuresRef)
from osteoplan.core.planning.trajectory import Spindle, Trajectory
from osteoplan.core.resources import resources_dir

__all__ = ["MAX_PLAN_BYTES", "MAX_TRAJECTORIES", "MIGRATIONS", "PLAN_FORMAT", "PLAN_VERSION", "LoadedPlan",
           "PlanFileError", "check_image_hash", "editing_plan_file", "load_plan", "plan_from_dict", "plan_schema",
           "plan_stamp", "plan_to_dict",
           "save_plan", "volume_content_hash", "write_plan_schema"]

PLAN_VERSION = 1
_MB = 1024 * 1024
MAX_PLAN_BYTES = 20 * _MB  # a real plan is a few kB; refuse before parsing anything bigger
MAX_TRAJECTORIES = 500
SCHEMA_RESOURCE = "plan.schema.json"


class PlanFileModel(BaseModel):
    """The file as written on disk (version `PLAN_VERSION`)."""

    model_config = ConfigDict(extra="forbid", title="OsteoPlan plan file")
    format: Literal["osteoplan.plan"]
    version: Literal[1]
    image: ImageRef
    labels: LabelsRef | None = None
    structures: StructuresRef | None = None
    trajectories: list[Trajectory] = Field(default_factory=list, max_length=MAX_TRAJECTORIES)
    ablations: list[Ablation] = Field(default_factory=list, max_length=MAX_TRAJECTORIES)
    thermocouples: list[Thermocouple] = Field(default_factory=list, max_length=MAX_TRAJECTORIES)
    injections: list[Injection] = Field(default_factory=list, max_length=MAX_TRAJECTORIES)


_KNOWN_FIELDS = sorted(set().union(*(m.model_fields for m in (
    PlanFileModel, ImageRef, LabelsRef, Trajectory, Spindle, StructuresRef, StructureOverride, AutoStructures,
    MaskLayerRef, Ablation, Thermocouple, Injection))))


@dataclass
class LoadedPlan:
    """A plan read from a file, where its images are (absolute), and what the user should be told.

    `path` is the plan file (for `plan_from_dict`: ``base_dir / source``); `warnings` are
    for the user (a missing image, an upgraded old format), the plan is usable anyway.
    """

    plan: Plan
    path: Path
    image_path: Path
    labels_path: Path | None
    warnings: tuple[str, ...] = ()
    stamp: str | None = None  # `plan_stamp` of the file as it was read: a later save notices another writer


# --- reading -------------------------------------------------------------------------------
def check_image_hash(loaded_plan: LoadedPlan | Plan, volume: Volume) -> str | None:
    """A warning when the plan records a content hash and `volume` does not match it, else None."""
    plan: Any = getattr(loaded_plan, "plan", loaded_plan)
    expected = plan.image.content_hash
    if not expected:
        return None
    if volume_content_hash(volume) == expected:
        return None
    return (f"the image {plan.image.path} is not the one this plan was made on (its voxels or geometry "
            "changed since the plan was saved); the trajectories may no longer lie where they were planned: "
            "check them before relying on the plan")


def load_plan(path: str | os.PathLike, catalog: DeviceCatalog | None = None) -> LoadedPlan:
    """Read and validate a plan file (see the module docstring); raises `PlanFileError`."""
    path = Path(path)
    source = str(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise PlanFileError(f"{source} is a folder, not a plan file", source)
        if size > MAX_PLAN_BYTES:
            raise PlanFileError(f"{source} is {size / _MB:.1f} MB; a plan file is at most "
                                f"{MAX_PLAN_BYTES / _MB:.0f} MB (is it really an OsteoPlan plan?)", source)
        with path.open("rb") as handle:
            raw = handle.read(MAX_PLAN_BYTES + 1)  # the file may have grown since stat()
    except FileNotFoundError:
        raise PlanFileError(f"plan file {source} not found", source) from None
    except OSError as exc:
        raise PlanFileError(f"cannot read the plan file {source}: {exc.strerror or exc}", source) from None
    if len(raw) > MAX_PLAN_BYTES:
        raise PlanFileError(f"{source} is larger than {MAX_PLAN_BYTES / _MB:.0f} MB; refused", source)
    data = _parse_json(raw, source)
    loaded = plan_from_dict(data, path.parent, source=source, catalog=catalog)
    loaded.path = path
    loaded.stamp = _stamp(raw)
    return loaded


def _stamp(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def plan_stamp(path: str | os.PathLike) -> str | None:
    """A fingerprint of the plan file's bytes now (None when there is no file): differs from the one taken when
    it was opened or saved when another window or program has saved it meanwhile."""
    try:
        return _stamp(Path(path).read_bytes())
    except OSError:
        return None


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"the key {duplicate!r} appears twice in one object")
    return result


def _parse_json(raw: bytes, source: str) -> Any:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlanFileError(f"{source} is not UTF-8 text (bad byte at offset {exc.start}); "
                            "is it really an OsteoPlan plan?", source) from None
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                            source) from None
    except RecursionError:
        raise PlanFileError(f"{source}: arrays or objects are nested too deeply to be a plan", source) from None
    except ValueError as exc:  # duplicate keys, integers with thousands of digits
        raise PlanFileError(f"{source} is not valid JSON: {exc}", source) from None


def plan_from_dict(data: Any, base_dir: str | os.PathLike, source: str = "<plan>",
                   catalog: DeviceCatalog | None = None) -> LoadedPlan:
    """Validate parsed JSON as a plan; relative paths resolve against `base_dir`. Raises `PlanFileError`."""
    if not isinstance(data, dict):
        raise PlanFileError(f"{source}: a plan file holds one JSON object, not {_json_type(data)}", source)
    warnings: list[str] = []
    data = _upgrade(data, source, warnings)
    try:
        model = PlanFileModel.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, data, source, _KNOWN_FIELDS) from None
    _check_unique_ids(model, source)
    catalog = device_catalog() if catalog is None else catalog
    _check_devices(model, source, catalog)
    check_ablations(model, catalog, lambda message, field: PlanFileError(f"{source}: {field}: {message}", source, field))

    base = Path(os.path.abspath(base_dir))
    image = model.image.model_copy(update={"path": resolve_plan_path(model.image.path, base)})
    labels = model.labels
    if labels is not None:
        labels = labels.model_copy(update={"path": resolve_plan_path(labels.path, base),
                                           "names": labels.names and resolve_plan_path(labels.names, base)})
    image_path = Path(image.path)
    if not is_builtin_image(image.path) and not _exists(image_path):
        warnings.append(f"the plan's image {model.image.path!r} was not found at {image_path}; "
                        "its trajectories are loaded, choose the image again to review them")
    labels_path = Path(labels.path) if labels else None
    if labels_path is not None and not _exists(labels_path):
        warnings.append(f"the plan's label map {model.labels.path!r} was not found at {labels_path}")
    structures = model.structures
    if structures is not None and structures.masks:
        masks = [m.model_copy(update={"path": resolve_plan_path(m.path, base)}) for m in structures.masks]
        structures = structures.model_copy(update={"masks": masks})
        warnings += [f"the plan's structure masks {m.path!r} were not found; edited structures are lost"
                     for m in masks if not _exists(Path(m.path))]
    plan = Plan(image, labels, model.trajectories, structures, model.ablations, model.thermocouples,
                model.injections)
    return LoadedPlan(plan, base / source, image_path, labels_path, tuple(warnings))


def _upgrade(data: dict[str, Any], source: str, warnings: list[str]) -> dict[str, Any]:
    """Check `format` and `version`, then apply the migrations up to `PLAN_VERSION`."""
    if looks_like_version_0(data):
        data = {**data, "format": PLAN_FORMAT, "version": 0}
    fmt = data.get("format")
    if fmt != PLAN_FORMAT:
        found = "is missing" if "format" not in data else f"is {_short(fmt)}"
        raise PlanFileError(f"{source}: format: not an OsteoPlan plan file (the field `format` {found}; "
                            f"expected {PLAN_FORMAT!r})", source, "format")
    version = data.get("version")
    if isinstance(version, float) and version.is_integer():
        version = int(version)
    if isinstance(version, bool) or not isinstance(version, int):
        found = "is missing" if "version" not in data else f"is {_short(version)}"
        raise PlanFileError(f"{source}: version: the plan format version {found}; expected a whole number "
                            f"(this OsteoPlan writes {PLAN_VERSION})", source, "version")
    if version > PLAN_VERSION:
        raise PlanFileError(f"{source}: version: this plan was made by a newer OsteoPlan (plan format version "
                            f"{version}; this OsteoPlan reads up to version {PLAN_VERSION}): update OsteoPlan "
                            "to open it", source, "version")
    if version < min(MIGRATIONS, default=PLAN_VERSION):
        raise PlanFileError(f"{source}: version: plan format version {version} is not known", source, "version")
    original = version
    while version < PLAN_VERSION:
        data = MIGRATIONS[version](data)
        version += 1
    if original != PLAN_VERSION:
        warnings.append(f"{source} was written in plan format version {original}; it was upgraded, and saving "
                        f"it writes version {PLAN_VERSION}")
    return data


def _check_unique_ids(model: PlanFileModel, source: str) -> None:
    first_index: dict[str, int] = {}
    for index, trajectory in enumerate(model.trajectories):
        if trajectory.id in first_index:
            field = f"trajectories[{index}].id"
            raise PlanFileError(f"{source}: {field}: the id {trajectory.id!r} is already used by "
                                f"trajectories[{first_index[trajectory.id]}]; ids must be unique", source, field)
        first_index[trajectory.id] = index


def _check_devices(model: PlanFileModel, source: str, catalog: DeviceCatalog) -> None:
    for index, trajectory in enumerate(model.trajectories):
        uses = [(f"trajectories[{index}].device", trajectory.device, f"trajectory {trajectory.id!r}")]
        uses += [(f"trajectories[{index}].spindles[{n}].device", spindle.device,
                  f"spindle {spindle.id!r} of trajectory {trajectory.id!r}")
                 for n, spindle in enumerate(trajectory.spindles)]
        for field, device_id, owner in uses:
            try:
                catalog.get(device_id)
            except UnknownDeviceError as exc:
                raise PlanFileError(f"{source}: {field}: {exc} (used by {owner}; is the plugin that provides it "
                                    "installed?)", source, field) from None


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte...
        return False


def resolve_plan_path(path_text: str, base: str | os.PathLike) -> str:
    """A path written in a plan, made absolute against the plan's folder (built-in images stay as they are)."""
    if is_builtin_image(path_text):
        return path_text
    return os.path.normpath(os.path.join(base, path_text))


# --- writing -------------------------------------------------------------------------------
def _relative_if_under(path_text: str, base: Path | None) -> str:
    if base is None or not os.path.isabs(path_text):
        return path_text
    try:
        return Path(os.path.abspath(path_text)).relative_to(base).as_posix()
    except ValueError:
        return path_text


def plan_to_dict(plan: Plan, base_dir: str | os.PathLike | None = None,
                 masks: list[MaskLayerRef] | None = None) -> dict[str, Any]:
    """The JSON-ready object of a plan; paths under `base_dir` are made relative to it.
    `masks`: the structure mask files just written (default: those the plan was loaded with)."""
    base = Path(os.path.abspath(base_dir)) if base_dir is not None else None
    image = plan.image.model_dump(mode="json", exclude_none=True)
    image["path"] = _relative_if_under(plan.image.path, base)
    data: dict[str, Any] = {"format": PLAN_FORMAT, "version": PLAN_VERSION, "image": image}
    if plan.labels is not None:
        labels = plan.labels.model_dump(mode="json", exclude_none=True)
        labels["path"] = _relative_if_under(plan.labels.path, base)
        if plan.labels.names:
            labels["names"] = _relative_if_under(plan.labels.names, base)
        data["labels"] = labels
    structures = plan.structures.model_copy(update={"masks": plan.structures.masks if masks is None else masks})
    if not structures.is_default:
        data["structures"] = structures.model_dump(mode="json", exclude_defaults=True)
        for layer in data["structures"].get("masks", ()):
            layer["path"] = _relative_if_under(layer["path"], base)
    data["trajectories"] = [t.model_dump(mode="json", exclude_none=True) for t in plan.trajectories]
    if plan.ablations:
        data["ablations"] = [a.model_dump(mode="json") for a in plan.ablations]
    if plan.thermocouples:
        data["thermocouples"] = [t.model_dump(mode="json") for t in plan.thermocouples]
    if plan.injections:
        data["injections"] = [i.model_dump(mode="json") for i in plan.injections]
    return data


# An indented array of numbers; JSON strings cannot hold a raw newline, so this never matches inside one.
_NUMBER_ARRAY = re.compile(r"\[\n\s*([-+0-9.eE]+(?:,\n\s*[-+0-9.eE]+)*)\n\s*\]")


def plan_to_json(plan: Plan, base_dir: str | os.PathLike | None = None, masks=None) -> str:
    """Indented JSON with each point on one line, readable and diffable by hand."""
    text = json.dumps(plan_to_dict(plan, base_dir, masks), indent=2, ensure_ascii=False, allow_nan=False)
    return _NUMBER_ARRAY.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text) + "\n"


def save_plan(plan: Plan, path: str | os.PathLike) -> str:
    """Write the plan atomically: the old file stays intact if anything fails. Raises `PlanFileError`.
    Returns the new file's `plan_stamp`."""
    path = Path(path)
    try:
        masks = None
        if plan.structure_masks is not None:  # loaded or edited: written beside the plan (none if unedited)
            from osteoplan.core.files.structure_masks import write_structure_masks

            masks = write_structure_masks(plan.structure_masks, path) if len(plan.structure_masks) else []
        text = plan_to_json(plan, path.parent, masks)
        atomic_write_text(path, text)
    except OSError as exc:
        raise PlanFileError(f"could not save the plan to {path}: {exc.strerror or exc}; "
                            "the previous file (if any) is unchanged", str(path)) from None
    return _stamp(text.encode("utf-8"))


@contextlib.contextmanager
def editing_plan_file(path: str | os.PathLike):
    """Serialise read-modify-write edits of one plan file between processes (`atomic.exclusive_lock`):
    load, change and save inside the block, and no concurrent writer's change is lost."""
    try:
        with exclusive_lock(path):
            yield
    except TimeoutError as exc:
        raise PlanFileError(f"{path}: {exc.strerror}; try again when it has finished", str(path)) from None
    except OSError as exc:
        raise PlanFileError(f"cannot lock the plan file {path}: {exc.strerror or exc}", str(path)) from None


# --- published schema ----------------------------------------------------------------------
def plan_schema() -> dict[str, Any]:
    schema = PlanFileModel.model_json_schema()
    schema["description"] = (f"OsteoPlan plan file, format {PLAN_FORMAT!r} version {PLAN_VERSION}. Coordinates "
                             "are LPS millimetres; relative paths resolve against the plan file's folder; device "
                             "ids come from the device catalog (`osteoplan devices`). Generated from the code by "
                             "`python -m osteoplan.core.files.plan_file`: do not edit by hand.")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def plan_schema_text() -> str:
    return json.dumps(plan_schema(), indent=2, ensure_ascii=False) + "\n"


def write_plan_schema(path: str | os.PathLike | None = None) -> Path:
    """Regenerate ``resources/plan.schema.json`` (run ``python -m osteoplan.core.files.plan_file``)."""
    target = Path(path) if path is not None else resources_dir() / SCHEMA_RESOURCE
    atomic_write_text(target, plan_schema_text())
    return target


if __name__ == "__main__":
    print(write_plan_schema())
