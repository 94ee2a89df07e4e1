"""Benchmark: one 512 x 512 DRR (virtual fluoroscopy) from a 512 x 512 x 400 CT, on the CPU.

Run:  .venv/bin/python tests/benchmarks/bench_drr.py [--repeats 10]

Two CTs of 512 x 512 x 400 voxels:
- "torso": a synthetic trunk at 0.8 x 0.8 x 1.0 mm (410 x 410 x 400 mm: soft tissue, a
  column of vertebra-like bone blocks, lungs-like air), the demanding case (~1.5 mm coarse
  grid of 273 x 273 x 267);
- "spine phantom": the demo spine resampled as bench_readouts.py does (0.625 x 0.625 x 0.32 mm).

Times, per CT: building the attenuation volume (once per case), then the median of
`compute_drr` for AP, lateral, a 25/15 degree oblique and a bull's-eye view (the first DRR
of a marching axis also sums its slabs: "cold"; the next ones reuse them: "warm").
Baseline: `np.sum` of the attenuation volume along one axis (a parallel projection of the
same data, no resampling); each DRR time is printed as a ratio to it, and to the 100 ms target,
then the time of `drr_display` (the grey image the pane shows).
Not collected by pytest.
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

from osteoplan.core.fluoro.drr import CArm, attenuation_volume, bulls_eye_angles, compute_drr, drr_display  # noqa: E402
from osteoplan.core.imaging.volume import Volume  # noqa: E402

TARGET_MS = 100.0


def torso_ct() -> Volume:
    shape = (400, 512, 512)  # k, j, i
    spacing = (0.8, 0.8, 1.0)
    x = (np.arange(shape[2]) - 255.5) * spacing[0]
    y = (np.arange(shape[1]) - 255.5) * spacing[1]
    array = np.full(shape, -1000, dtype=np.int16)
    body = (x[None, :] / 170.0) ** 2 + (y[:, None] / 120.0) ** 2 < 1.0
    bone = ((x[None, :] / 25.0) ** 2 + ((y[:, None] - 20.0) / 18.0) ** 2) < 1.0
    lungs = (((np.abs(x[None, :]) - 70.0) / 50.0) ** 2 + ((y[:, None] + 10.0) / 60.0) ** 2) < 1.0
    for k in range(shape[0]):
        z = (k - 199.5) * spacing[2]
        plane = array[k]
        plane[body] = 40
        if z > 80:
            plane[lungs] = -850
        if (z % 35.0) > 6.0:  # vertebral bodies between discs
            plane[bone] = 350
    return Volume(array, spacing, (-204.4, -204.4, -199.5))


def spine_ct() -> Volume:
    from tests.benchmarks.bench_readouts import big_case

    return big_case().ct


def timed(function, repeats: int) -> tuple[float, object]:
    """Median wall time (ms) and the result. On a shared machine the median is noisy: compare the
    ratios to the baseline, measured in the same run."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3, result


def bench(name: str, ct: Volume, repeats: int) -> None:
    print(f"\n{name}: CT {ct.array.shape[::-1]} voxels of {ct.spacing} mm")
    start = time.perf_counter()
    attenuation = attenuation_volume(ct)
    print(f"  attenuation volume (once per case): {(time.perf_counter() - start) * 1e3:7.1f} ms, "
          f"coarse grid {attenuation.mu.shape[::-1]}")
    baseline, _ = timed(lambda: np.sum(attenuation.mu, axis=1), repeats)
    print(f"  baseline np.sum along y of the attenuation volume: {baseline:7.1f} ms")
    centre = ct.center_lps()
    entry, target = centre + np.array([25.0, 90.0, 5.0]), centre + np.array([8.0, -5.0, 0.0])
    views = {"AP": (0.0, 0.0), "lateral": (90.0, 0.0), "oblique 25/15": (25.0, 15.0),
             "bull's-eye": bulls_eye_angles(entry, target)}
    for view, (rotation, angulation) in views.items():
        carm = CArm(isocentre_lps=tuple(centre), rotation_deg=rotation, angulation_deg=angulation)
        attenuation._slabs.clear()
        start = time.perf_counter()
        compute_drr(attenuation, carm)
        cold = (time.perf_counter() - start) * 1e3
        warm, drr = timed(lambda: compute_drr(attenuation, carm), repeats)
        display, _ = timed(lambda: drr_display(drr), repeats)
        print(f"  {view:14s} 512x512: cold {cold:7.1f} ms, warm {warm:7.1f} ms = {warm / baseline:5.2f} x baseline, "
              f"{warm / TARGET_MS:4.2f} x the {TARGET_MS:.0f} ms target; + display {display:5.1f} ms "
              f"(covered {drr.covered.mean():.0%})")
        record(f"{name}: DRR 512x512 {view.strip()} (warm)", warm, "ms", TARGET_MS,
               "np.sum along y of the attenuation volume", baseline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    bench("torso", torso_ct(), args.repeats)
    bench("spine phantom", spine_ct(), args.repeats)


if __name__ == "__main__":
    main()
    sys.exit(finish())
