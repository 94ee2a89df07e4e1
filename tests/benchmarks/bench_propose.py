"""Benchmark: path proposals for one target on the spine demo (0.8 mm), distance fields already built.

Run:  .venv/bin/python tests/benchmarks/bench_propose.py [--repeats 5]

Opens the spine demo, prepares the session (readout masks, every hazard's distance field: what the
GUI does in the background when a case opens), then times `propose_paths` for
- the L2 lesion label (tips spread through the lesion) with each technique,
- the L2 body centre (a clicked point) with the transpedicular technique,
and prints the median seconds, their ratio to the 2 s target, and a named baseline: the time of
one whole-needle evaluation (safety-engine distances + readouts of one path) times the number of
rays searched, i.e. what evaluating every direction exactly would cost. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "app"), str(REPO)]

from tests.benchmarks.figures import finish, record  # noqa: E402

import numpy as np  # noqa: E402

from osteoplan.core.imaging.demo import load_demo_case  # noqa: E402
from osteoplan.core.imaging.phantom import landmarks  # noqa: E402
from osteoplan.core.proposals.propose import proposal_settings, propose_paths, target_at_point, target_of_lesion  # noqa: E402
from osteoplan.core.session import PlanSession  # noqa: E402
from osteoplan.core.safety.structure_warnings import trajectory_distances  # noqa: E402

TARGET_S = 2.0


def whole_needle_seconds(session, candidate, repeats: int = 20) -> float:
    """One exact evaluation of a path: the safety engine's distances and the readouts (cache-free)."""
    trajectory = candidate.trajectory(session)
    device = session.catalog.get(trajectory.device)
    start = time.perf_counter()
    for _ in range(repeats):
        trajectory_distances(session, trajectory)
        session.engine.compute(trajectory, device)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    session = PlanSession(load_demo_case("spine"))
    start = time.perf_counter()
    session.prepare()
    print(f"spine demo {session.case.ct.array.shape[::-1]} voxels, session prepared in "
          f"{time.perf_counter() - start:.1f} s (not counted)")
    cases = [(f"lesion, {name}", lambda name=name: target_of_lesion(
        session, "lesion", proposal_settings().techniques[name].lesion_tips), name)
        for name in proposal_settings().techniques]
    cases.append(("L2 body centre point, transpedicular",
                  lambda: target_at_point(session, landmarks("spine")["L2_body_center"]), "transpedicular"))
    propose_paths(session, cases[0][1](), cases[0][2])  # first use: the pedicle analysis, cached per vertebra
    print(f"{'target, technique':40s} {'median s':>9s} {'/ 2 s':>7s} {'rays':>6s} {'exact':>6s} "
          f"{'baseline s':>11s} {'speed-up':>9s}")
    for label, make_target, technique in cases:
        target = make_target()
        times, result = [], None
        for _ in range(args.repeats):
            result = propose_paths(session, target, technique)
            times.append(result.seconds)
        median = float(np.median(times))
        one = whole_needle_seconds(session, result.candidates[0]) if result.candidates else float("nan")
        baseline = one * result.rays
        print(f"{label:40s} {median:9.2f} {median / TARGET_S:7.2f} {result.rays:6d} {result.evaluated:6d} "
              f"{baseline:11.1f} {baseline / median:9.1f}x")
        record(f"proposals, {label} (median)", median, "s", TARGET_S,
               "one whole-needle evaluation x the rays searched", baseline)
    print("baseline = one whole-needle evaluation (distances + readouts) x rays searched; "
          "numbers are noisy when other work shares the CPU.")


if __name__ == "__main__":
    main()
    sys.exit(finish())
