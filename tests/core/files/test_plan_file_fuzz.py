"""Fuzzing the plan loader (any input loads or raises `PlanFileError`, nothing else) and the round trip."""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osteoplan.core.planning.devices import build_device_catalog
from osteoplan.core.files.plan_file import (
    PLAN_FORMAT,
    LoadedPlan,
    PlanFileError,
    load_plan,
    plan_from_dict,
    save_plan,
)
from osteoplan.core.planning.plan import ImageRef, Plan
from osteoplan.core.resources import load_json_resource
from osteoplan.core.planning.trajectory import Spindle, Trajectory

CATALOG = build_device_catalog([("builtin", lambda: load_json_resource("devices.json")["devices"])])
BASE_DIR = Path(tempfile.mkdtemp(prefix="osteoplan-fuzz-"))
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID = {
    "format": PLAN_FORMAT, "version": 1,
    "image": {"path": "ct.nii.gz", "series_uid": "1.2.3", "content_hash": "sha256:00"},
    "labels": {"path": "labels.nii.gz", "names": "labels.json"},
    "trajectories": [
        {"id": "t1", "name": "left", "kind": "transpedicular", "side": "left", "target_structure": "vertebrae_L2",
         "level": "L2", "entry_lps": [31.5, 80.0, 12.0], "target_lps": [2.0, 30.0, 10.0],
         "device": "trocar-11g-100", "visible": True},
        {"id": "t2", "kind": "transcortical", "entry_lps": [0, 0, 0], "target_lps": [40, -20, 5],
         "device": "trocar-10g-150",
         "spindles": [{"id": "s1", "direction": [0.2, -0.1, 1], "length_mm": 55, "device": "kwire-2.0-150",
                       "start_offset_mm": 3}]},
    ],
}
VOCABULARY = sorted({"format", "version", "image", "labels", "trajectories", "path", "names", "series_uid",
                     "content_hash", "id", "name", "kind", "side", "target_structure", "level", "entry_lps",
                     "target_lps", "device", "spindles", "direction", "length_mm", "start_offset_mm", "visible",
                     "entry", "target"})

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from([PLAN_FORMAT, "trocar-11g-100", "transpedicular", "left", "", "\x00", "a" * 5000]))
keys = st.sampled_from(VOCABULARY) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=6),
    max_leaves=25,
)


def _load(data) -> None:
    try:
        result = plan_from_dict(data, BASE_DIR, source="fuzz.json", catalog=CATALOG)
    except PlanFileError as exc:
        assert str(exc).startswith("fuzz.json"), str(exc)
        return
    assert isinstance(result, LoadedPlan)


@FUZZ
@given(json_values)
def test_any_json_value_loads_or_raises_plan_file_error(value):
    _load(value)


@FUZZ
@given(st.fixed_dictionaries(
    {"format": st.sampled_from([PLAN_FORMAT, "x"]) | json_values,
     "version": st.sampled_from([0, 1, 1.0, 2, -1, "1", True]) | json_values},
    optional={"image": json_values | st.just({"path": "ct.nii.gz"}),
              "labels": json_values,
              "trajectories": st.lists(st.dictionaries(keys, json_values, max_size=8), max_size=3) | json_values}))
def test_plan_shaped_dicts_load_or_raise_plan_file_error(value):
    _load(value)


@st.composite
def mutated_plans(draw):
    """The valid plan with one spot (at any depth) replaced, deleted, or given an extra key."""
    data = copy.deepcopy(VALID)
    node = data
    while True:
        slots = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not slots:
            break
        slot = draw(st.sampled_from(slots))
        child = node[slot]
        if isinstance(child, (dict, list)) and child and draw(st.booleans()):
            node = child
            continue
        action = draw(st.sampled_from(["replace", "delete", "extra"]))
        if action == "replace":
            node[slot] = draw(json_values)
        elif action == "delete":
            del node[slot]
        elif isinstance(node, dict):
            node[draw(keys)] = draw(json_values)
        else:
            node.append(draw(json_values))
        break
    return data


@FUZZ
@given(mutated_plans())
def test_mutated_valid_plans_load_or_raise_plan_file_error(value):
    _load(value)


def test_the_unmutated_fuzz_plan_is_valid():
    assert len(plan_from_dict(copy.deepcopy(VALID), BASE_DIR, catalog=CATALOG).plan.trajectories) == 2


VALID_TEXT = json.dumps(VALID)


@st.composite
def damaged_texts(draw) -> bytes:
    text = VALID_TEXT
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 10)))
        insert = draw(st.text(max_size=6) | st.sampled_from(["NaN", "-Infinity", "1e999", '"', "[", "}"]))
        text = text[:start] + insert + text[end:]
    return text.encode("utf-8", errors="surrogatepass")


@FUZZ
@given(st.binary(max_size=300) | damaged_texts())
def test_load_plan_on_any_bytes_loads_or_raises_plan_file_error(raw):
    fd, name = tempfile.mkstemp(suffix=".json", dir=BASE_DIR)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        try:
            load_plan(name, catalog=CATALOG)
        except PlanFileError as exc:
            assert name in str(exc)
    finally:
        os.unlink(name)


coordinates = st.floats(min_value=-1000, max_value=1000, allow_nan=False)
points = st.tuples(coordinates, coordinates, coordinates)


@st.composite
def random_plans(draw) -> Plan:
    trajectories = []
    for index in range(draw(st.integers(0, 3))):
        entry = draw(points)
        target = (entry[0] + draw(st.floats(1, 300)), entry[1], entry[2] - draw(st.floats(0, 100)))
        spindles = tuple(
            Spindle(id=f"s{n}", name=draw(st.text(max_size=10)),
                    direction=draw(points.filter(lambda p: max(map(abs, p)) > 1e-3)),
                    length_mm=draw(st.floats(0.01, 500)), device=draw(st.sampled_from(CATALOG.ids)),
                    start_offset_mm=draw(st.floats(0, 200)))
            for n in range(draw(st.integers(0, 3))))
        trajectory = Trajectory(id=f"t{index}", name=draw(st.text(max_size=10)), entry_lps=entry,
                                target_lps=target, device=draw(st.sampled_from(CATALOG.ids)),
                                visible=draw(st.booleans()))
        # spindles validated exactly once, as built on their own: loading must not move them by a bit
        trajectories.append(trajectory.model_copy(update={"spindles": spindles}))
    return Plan(ImageRef(path=str(BASE_DIR / "case" / "ct.nii.gz")), trajectories=trajectories)


@FUZZ
@given(random_plans())
def test_save_then_load_is_exact_for_any_plan(plan):
    path = BASE_DIR / "case" / "plan.json"
    path.parent.mkdir(exist_ok=True)
    save_plan(plan, path)
    assert load_plan(path, catalog=CATALOG).plan.same_content(plan)
