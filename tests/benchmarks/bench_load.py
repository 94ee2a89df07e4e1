"""Benchmark: OsteoPlan's DICOM loader against a bare SimpleITK series read.

Run:  .venv/bin/python tests/benchmarks/bench_load.py [--slices 400] [--fresh]

Writes a synthetic 512 x 512 x N int16 CT series (twice: stored with intercept 0, and
stored signed with intercept -1024 as some scanners do, which makes ITK's natural type
int32) into a cached temp folder, then reports
- time: `load_dicom_series` vs `ImageSeriesReader` (GetGDCMSeriesFileNames + Execute),
  best of 3 each, interleaved; target ratio <= 1.2;
- memory: peak RSS of a subprocess that only loads the series, minus its RSS after
  imports, relative to the loaded array's bytes; target <= 3x.
Not collected by pytest (no test_ prefix; tests/benchmarks is excluded).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "app"), str(REPO)]

import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402

from osteoplan.core.imaging.io import load_dicom_series  # noqa: E402
from tests.fixtures.images import body_phantom, write_dicom_series  # noqa: E402

ROWS = COLS = 512
REPEATS = 3

MEMORY_PROBE = r"""
import json, resource, sys
sys.path[:0] = [sys.argv[3], sys.argv[4]]
import numpy as np, SimpleITK as sitk
from osteoplan.core.imaging.io import load_dicom_series
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if sys.argv[2] == "osteoplan":
    array = load_dicom_series(sys.argv[1]).volume.array
else:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(sys.argv[1]))
    array = sitk.GetArrayFromImage(reader.Execute())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"baseline_kib": baseline, "peak_kib": peak, "nbytes": int(array.nbytes), "dtype": str(array.dtype)}))
"""


def write_series(folder: Path, n_slices: int, intercept: float) -> None:
    array = body_phantom((n_slices, ROWS, COLS))
    array += np.random.default_rng(0).integers(0, 40, array.shape, dtype=np.int16)
    write_dicom_series(folder, array, pixel_spacing=(0.78, 0.78), gap=1.0, origin=(-200.0, -200.0, -600.0),
                       rescale_intercept=intercept, description="Benchmark")


def series_folder(n_slices: int, intercept: float, fresh: bool) -> Path:
    """The cached synthetic series (written once, by a child process; a sibling marker says it is complete)."""
    folder = Path(tempfile.gettempdir()) / f"osteoplan_bench_dicom_{COLS}x{ROWS}x{n_slices}_i{int(intercept)}"
    marker = folder.with_name(folder.name + ".complete")
    if fresh or not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        marker.unlink(missing_ok=True)
        print(f"writing {n_slices} slices of {COLS} x {ROWS} into {folder} ...", flush=True)
        start = time.perf_counter()
        # In a child: ru_maxrss survives fork/exec, so the parent must stay small for the memory probes.
        subprocess.run([sys.executable, __file__, "--write", str(folder), str(n_slices), str(intercept)], check=True)
        marker.write_text("ok")
        print(f"  written in {time.perf_counter() - start:.1f} s", flush=True)
    return folder


def bare_read(folder: Path):
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def osteoplan_read(folder: Path):
    return load_dicom_series(folder)


def best_times(folder: Path) -> tuple[float, float]:
    bare_read(folder), osteoplan_read(folder)  # warm the file cache and the libraries
    times = {"bare": [], "osteoplan": []}
    for _ in range(REPEATS):
        for name, read in (("bare", bare_read), ("osteoplan", osteoplan_read)):
            start = time.perf_counter()
            result = read(folder)
            times[name].append(time.perf_counter() - start)
            del result
    return min(times["bare"]), min(times["osteoplan"])


def peak_memory(folder: Path, which: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(folder), which, str(REPO / "app"), str(REPO)],
        check=True, capture_output=True, text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["ratio"] = (result["peak_kib"] - result["baseline_kib"]) * 1024 / result["nbytes"]
    return result


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--write":
        write_series(Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=400)
    parser.add_argument("--fresh", action="store_true", help="rewrite the cached series")
    args = parser.parse_args()
    configs = ((0.0, "int16, intercept 0"), (-1024.0, "int16 signed, intercept -1024"))
    folders = [series_folder(args.slices, intercept, args.fresh) for intercept, _ in configs]
    # Memory first, while this process is still small (a child inherits its ru_maxrss high-water mark).
    memory = [(peak_memory(folder, "osteoplan"), peak_memory(folder, "bare")) for folder in folders]
    times = [best_times(folder) for folder in folders]
    print()
    print(f"series: {COLS} x {ROWS} x {args.slices} DICOM slices; times are best of {REPEATS}; memory = peak RSS of a "
          "child process minus its RSS after imports")
    header = (f"{'stored as':30s} {'bare sitk s':>11s} {'osteoplan s':>11s} {'ratio':>5s} {'dtype':>5s} "
              f"{'array MiB':>9s} {'peak MiB':>8s} {'peak/array':>10s} {'bare+GetArray peak/array':>24s}")
    print(header)
    print("-" * len(header))
    ok = True
    for (_, label), (bare, ours), (mem, bare_mem) in zip(configs, times, memory):
        ratio = ours / bare
        ok &= ratio <= 1.2 and mem["ratio"] <= 3.0
        peak_mib = (mem["peak_kib"] - mem["baseline_kib"]) / 1024
        print(f"{label:30s} {bare:11.3f} {ours:11.3f} {ratio:5.2f} {mem['dtype']:>5s} {mem['nbytes'] / 2**20:9.0f} "
              f"{peak_mib:8.0f} {mem['ratio']:9.2f}x {bare_mem['ratio']:23.2f}x")
    print(f"\ntargets: time ratio <= 1.2, peak memory <= 3x the array: {'met' if ok else 'NOT met'}")
    from tests.benchmarks.figures import finish, record

    for (_, label), (bare, ours), (mem, _bare_mem) in zip(configs, times, memory):
        record(f"DICOM load {label.strip()}", ours, "s", 1.2 * bare, "bare SimpleITK ImageSeriesReader", bare)
        record(f"DICOM load {label.strip()}: peak memory / array", mem["ratio"], "x", 3.0, "the array's bytes", 1.0)
    return finish()


if __name__ == "__main__":
    raise SystemExit(main())
