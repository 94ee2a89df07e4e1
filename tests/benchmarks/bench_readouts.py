"""Benchmark: "handle moved -> readouts updated" (core only) on a 512 x 512 x 400 CT.

Run:  .venv/bin/python tests/benchmarks/bench_readouts.py [--moves 400] [--seed 1]

Builds the spine phantom (0.8 mm) and resamples it, CT and labels, onto a 512 x 512 x 400
grid (0.625 x 0.625 x 0.32 mm, the body padded with air), proposes the bilateral
transpedicular template on L2, then times
- the engine's one-time set-up (`ReadoutEngine.prepare`: body, bone and healthy-bone masks)
  and the first `compute` (which adds L2's distance field);
- a few hundred random small moves of the entry or the target (<= 2 mm, a drag step),
  each making the new Trajectory and computing all its readouts; and the same with a
  trocar carrying three spindles.
Prints median and p95 in ms and their ratio to the 16 ms target (one frame at 60 Hz).
Not collected by pytest (no test_ prefix).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "app"), str(REPO)]

import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402

from osteoplan.core.imaging.case import Case  # noqa: E402
from osteoplan.core.imaging.io import LabelMap  # noqa: E402
from osteoplan.core.imaging.phantom import build_phantom  # noqa: E402
from osteoplan.core.planning.readouts import ReadoutEngine  # noqa: E402
from osteoplan.core.planning.templates import bilateral_transpedicular  # noqa: E402
from osteoplan.core.planning.trajectory import Spindle  # noqa: E402
from osteoplan.core.imaging.volume import Volume  # noqa: E402

TARGET_MS = 16.0
SIZE = (512, 512, 400)
SPACING = (0.625, 0.625, 0.32)
TROCAR_11G = SimpleNamespace(outer_diameter_mm=3.048, length_mm=150.0)


def big_case() -> Case:
    phantom = build_phantom("spine", 0.8)
    reference = sitk.Image(SIZE, sitk.sitkInt16)
    reference.SetSpacing(SPACING)
    reference.SetOrigin((-160.0 + SPACING[0] / 2, -175.0, -64.0 + SPACING[2] / 2))
    ct = sitk.Resample(phantom.ct.to_sitk(), reference, sitk.Transform(), sitk.sitkLinear, -1000.0, sitk.sitkInt16)
    labels = sitk.Resample(phantom.labels.to_sitk(), reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0,
                           sitk.sitkUInt8)
    ct_volume = Volume.from_sitk(ct)
    return Case(ct_volume, LabelMap(Volume.from_sitk(labels), dict(phantom.label_names)), source="bench:spine512",
                focus_lps=np.asarray(phantom.landmarks["L2_body_center"]))


def time_moves(engine: ReadoutEngine, paths, moves: int, rng: np.random.Generator) -> np.ndarray:
    current = list(paths)
    timings = []
    for step in range(moves):
        which = step % len(current)
        original, trajectory = paths[which], current[which]
        end = "entry_lps" if rng.random() < 0.5 else "target_lps"
        delta = rng.normal(size=3)
        delta *= rng.uniform(0.1, 2.0) / np.linalg.norm(delta)
        moved = np.asarray(getattr(trajectory, end)) + delta
        if np.linalg.norm(moved - np.asarray(getattr(original, end))) > 10.0:  # stay near the plan
            moved = np.asarray(getattr(original, end)) + delta
        start = time.perf_counter()
        trajectory = trajectory.model_copy(update={end: tuple(float(v) for v in moved)})
        engine.compute(trajectory, TROCAR_11G)
        timings.append(time.perf_counter() - start)
        current[which] = trajectory
    return np.asarray(timings) * 1e3


def time_session_moves(case: Case, paths, moves: int, rng: np.random.Generator) -> np.ndarray:
    """What one mouse move of a handle drag costs the GUI's model: an undoable edit inside the
    drag's undo group, the plan event, then the readouts and warnings the panel shows."""
    from osteoplan.core.session import PlanSession

    session = PlanSession(case)
    for path in paths:
        session.editor.add_trajectory(path.model_copy(update={"device": "trocar-11g-150"}))
    start = time.perf_counter()
    session.prepare()
    prepare_s = time.perf_counter() - start
    for path in paths:
        session.warnings(path.id)
    timings = []
    with session.history.group("Move target"):
        for step in range(moves):
            path = paths[step % len(paths)]
            delta = rng.normal(size=3)
            delta *= rng.uniform(0.1, 2.0) / np.linalg.norm(delta)
            start = time.perf_counter()
            session.editor.move_target(path.id, np.asarray(path.target_lps) + delta)
            session.readout(path.id)
            session.warnings(path.id)
            timings.append(time.perf_counter() - start)
    return prepare_s, np.asarray(timings) * 1e3


def report(label: str, ms: np.ndarray) -> None:
    from tests.benchmarks.figures import record

    median, p95 = float(np.median(ms)), float(np.percentile(ms, 95))
    print(f"{label}: {len(ms)} moves, median {median:.2f} ms, p95 {p95:.2f} ms, "
          f"median / target = {median / TARGET_MS:.3f} (target {TARGET_MS:.0f} ms)")
    record(f"{label} (median)", median, "ms", TARGET_MS, f"the {TARGET_MS:.0f} ms frame budget", TARGET_MS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    start = time.perf_counter()
    case = big_case()
    print(f"CT {case.ct.size} at {case.ct.spacing} mm, built in {time.perf_counter() - start:.1f} s")

    ids = (f"t{i}" for i in itertools.count(1))
    start = time.perf_counter()
    paths = bilateral_transpedicular(case, case.focus_lps, 150.0, new_id=lambda: next(ids), device_id="trocar-11g")
    print(f"bilateral_transpedicular template: {(time.perf_counter() - start) * 1e3:.0f} ms")

    engine = ReadoutEngine(case)
    start = time.perf_counter()
    engine.prepare()
    prepare_s = time.perf_counter() - start
    start = time.perf_counter()
    first = engine.compute(paths[0], TROCAR_11G)
    first_s = time.perf_counter() - start
    print(f"set-up: prepare {prepare_s:.2f} s, first compute (adds the vertebra's distance field) {first_s:.2f} s")
    print(f"  {paths[0].name}: length {first.length_mm:.1f} mm, bone {first.bone_path_mm:.1f} mm, skin depth "
          f"{first.skin_depth_mm:.1f} mm, tip {first.tip_tissue}, angles {first.angles_deg}, breach "
          f"{first.breach_grade} ({first.breach_mm:.2f} mm)")
    for path in paths[1:]:
        engine.compute(path, TROCAR_11G)

    rng = np.random.default_rng(args.seed)
    report("handle moved -> readouts (2 transpedicular paths)", time_moves(engine, paths, args.moves, rng))
    spindles = tuple(Spindle(id=f"s{i}", direction=tuple(d), length_mm=25.0, device="spindle")
                     for i, d in enumerate([(-0.2, -1.0, 0.3), (0.2, -1.0, -0.3), (0.0, -1.0, 0.0)]))
    with_spindles = [p.model_copy(update={"spindles": spindles}) for p in paths]
    report("handle moved -> readouts (trocars with 3 spindles)", time_moves(engine, with_spindles, args.moves, rng))
    report("handle moved -> edit + readouts + warnings through the session (GUI model path)",
           time_session_moves(case, paths, args.moves, rng)[1])


if __name__ == "__main__":
    from tests.benchmarks.figures import finish

    main()
    sys.exit(finish())
