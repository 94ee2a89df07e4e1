"""Benchmark: "one needle moved -> distances to all structures + warnings" (core only) on a
512 x 512 x 400 CT.

Run:  .venv/bin/python tests/benchmarks/bench_safety.py [--moves 400] [--seed 1]

Builds the spine phantom resampled onto 512 x 512 x 400 (as bench_readouts.py does: 0.625 x
0.625 x 0.32 mm, about 30 labelled structures of which ~18 are needle hazards: canal, cord,
8 nerve roots, aorta, IVC, kidneys, liver, bowel), proposes the bilateral transpedicular
paths on L2, then times
- building the structure set (labels; skin and bone come from the labels here) and preparing
  every hazard's distance field and voxel surface (`DistanceFields.prepare`; the surfaces, boundary
  voxels in blocks, make the whole-needle distances exact);
- a few hundred random small moves of one end (<= 2 mm, a drag step), each computing the
  whole-needle distances to every hazard and turning them into warnings; and the same through
  the session (edit + readouts + all warnings, what the GUI does per mouse move).
Prints median and p95 in ms and their ratio to the 16 ms target. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "app"), str(REPO)]

import numpy as np  # noqa: E402

from osteoplan.core.safety.distances import (  # noqa: E402
    DistanceFields, needle_structure_distances, structure_surface)
from osteoplan.core.safety.structure_warnings import distance_warning  # noqa: E402
from osteoplan.core.safety.structures import case_structures  # noqa: E402
from osteoplan.core.planning.templates import bilateral_transpedicular  # noqa: E402
from tests.benchmarks.bench_readouts import big_case, report, time_session_moves  # noqa: E402

RADIUS_11G_MM = 3.048 / 2


def time_core_moves(paths, fields, hazards, moves: int, rng) -> tuple[np.ndarray, list]:
    ends = {p.id: [np.asarray(p.entry_lps), np.asarray(p.target_lps)] for p in paths}
    timings, last = [], []
    for step in range(moves):
        path = paths[step % len(paths)]
        end = int(rng.random() < 0.5)
        delta = rng.normal(size=3)
        delta *= rng.uniform(0.1, 2.0) / np.linalg.norm(delta)
        moved = ends[path.id][end] + delta
        original = np.asarray(path.target_lps if end else path.entry_lps)
        ends[path.id][end] = moved if np.linalg.norm(moved - original) < 10.0 else original + delta
        start = time.perf_counter()
        distances = needle_structure_distances(ends[path.id][0], ends[path.id][1], RADIUS_11G_MM, fields, hazards)
        last = [w for w in (distance_warning(path.id, path.label, d) for d in distances) if w is not None]
        timings.append(time.perf_counter() - start)
    return np.asarray(timings) * 1e3, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    start = time.perf_counter()
    case = big_case()
    print(f"CT {case.ct.size} at {case.ct.spacing} mm, built in {time.perf_counter() - start:.1f} s")
    ids = (f"t{i}" for i in itertools.count(1))
    paths = bilateral_transpedicular(case, case.focus_lps, 150.0, new_id=lambda: next(ids), device_id="trocar-11g")

    start = time.perf_counter()
    structures = case_structures(case)
    hazards = structures.needle_hazards()
    print(f"structure set: {len(structures)} structures, {len(hazards)} needle hazards, "
          f"built in {time.perf_counter() - start:.2f} s; notes {list(structures.notes)}")
    fields = DistanceFields(case.ct)
    start = time.perf_counter()
    fields.prepare(hazards)
    print(f"prepare {len(hazards)} distance fields and voxel surfaces: {time.perf_counter() - start:.2f} s "
          f"({sum(f.values.nbytes for f in map(fields.field, hazards)) / 2**20:.0f} MiB)")
    surfaces = [fields.surface(h) for h in hazards]
    start = time.perf_counter()
    for hazard in hazards:
        structure_surface(hazard, case.ct)
    voxels, blocks = sum(len(s.centres_mm) for s in surfaces), sum(len(s.block_radius_mm) for s in surfaces)
    print(f"  of which voxel surfaces: {time.perf_counter() - start:.2f} s, {voxels} boundary voxels in {blocks} "
          f"blocks ({sum(s.centres_mm.nbytes + s.centre_norms2.nbytes for s in surfaces) / 2**20:.0f} MiB)")
    hazards = [h for h in hazards if h.name not in ("vertebrae_L2", "lesion")]
    rng = np.random.default_rng(args.seed)
    ms, last = time_core_moves(paths, fields, hazards, args.moves, rng)
    report(f"needle moved -> distances to {len(hazards)} structures + warnings", ms)
    for warning in last:
        print("  e.g.", warning.to_json())
    prepare_s, ms = time_session_moves(case, paths, args.moves, rng)
    print(f"session prepare (readout masks + structures + fields): {prepare_s:.2f} s")
    report("needle moved -> edit + readouts + all warnings through the session (GUI model path)", ms)


if __name__ == "__main__":
    from tests.benchmarks.figures import finish

    main()
    sys.exit(finish())
