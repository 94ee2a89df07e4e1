"""Benchmark: "a probe dragged -> its table-model ablation zone" (core only), ratio to 16 ms.

Run:  .venv/bin/python tests/benchmarks/bench_ablation.py [--moves 200]

Times `ablation.compute_zone` (ellipsoid masks on a box of the CT grid + the cortex-clipping
rays of RF/MW) for a typical RF zone (24 x 19 mm lethal + 5 mm shell) and the cryo zone
(0 degC isotherm 40 x 32 mm) on the spine phantom at 1 mm and at 0.625 mm,
with the probe moved by small random steps in the L2 body; then the zone's distances to
every ablation hazard (cached fields) and its warnings through the session. Prints median
and p95 in ms and their ratio to the 16 ms target. Not collected by pytest.
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

from osteoplan.core.ablation.zones import compute_zone  # noqa: E402
from osteoplan.core.planning.ablation import Ablation
from osteoplan.core.imaging.case import Case  # noqa: E402
from osteoplan.core.planning.devices import device_catalog  # noqa: E402
from osteoplan.core.imaging.io import LabelMap  # noqa: E402
from osteoplan.core.imaging.phantom import build_phantom  # noqa: E402
from osteoplan.core.session import PlanSession  # noqa: E402

TARGET_MS = 16.0


def _stats(name: str, times: list[float]) -> None:
    ms = np.asarray(times) * 1000
    median, p95 = float(np.median(ms)), float(np.percentile(ms, 95))
    print(f"{name:<48} median {median:6.2f} ms  p95 {p95:6.2f} ms  ratio to 16 ms: {median / TARGET_MS:.2f} "
          f"(p95 {p95 / TARGET_MS:.2f})")
    record(f"{name.strip()} (median)", median, "ms", TARGET_MS, f"the {TARGET_MS:.0f} ms frame budget", TARGET_MS)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--moves", type=int, default=200)
    args = parser.parse_args()
    catalog = device_catalog()
    rf = catalog.get("rf-bipolar-bone-10").setting("70c-15min")
    cryo = catalog.get("cryoprobe-2.4").settings[0]
    rng = np.random.default_rng(1)
    for spacing in (1.0, 0.625):
        phantom = build_phantom("spine", spacing_mm=spacing)
        ct = phantom.ct
        entry = np.asarray(phantom.landmarks["L2_pedicle_left_axis_entry"])
        tip = np.asarray(phantom.landmarks["lesion_center"])
        print(f"grid {ct.size} spacing {tuple(round(s, 3) for s in ct.spacing)}")
        for label, setting, is_cryo in (("RF 24 x 19 mm + 5 mm shell, cortex clipping", rf, False),
                                        ("cryo 0 degC 40 x 32 mm", cryo, True)):
            times, clipped = [], 0
            for _ in range(args.moves):
                moved = tip + rng.uniform(-2, 2, 3)
                start = time.perf_counter()
                zone = compute_zone(ct, moved, moved - entry, setting, is_cryo)
                times.append(time.perf_counter() - start)
                clipped += zone.clipped_voxels
            _stats(f"  zone: {label}, {spacing:g} mm grid", times)
        if spacing == 1.0:
            case = Case(ct=ct, labels=LabelMap(volume=phantom.labels, names=dict(phantom.label_names)))
            session = PlanSession(case)
            path = session.new_trajectory(entry, tip, device_id="rf-bipolar-bone-10")
            session.editor.add_trajectory(path)
            session.editor.add_ablation(Ablation(id="a1", trajectory=path.id, setting=rf.id))
            session.prepare()
            session.ablation_warnings("a1")
            times = []
            for _ in range(max(20, args.moves // 5)):
                session.editor.move_target(path.id, tip + rng.uniform(-2, 2, 3))
                start = time.perf_counter()
                session.ablation_zone("a1")
                session.ablation_warnings("a1")
                times.append(time.perf_counter() - start)
            _stats("  session: zone + distances + warnings", times)


if __name__ == "__main__":
    main()
    sys.exit(finish())
