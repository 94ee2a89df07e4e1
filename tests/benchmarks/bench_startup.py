"""Time from process start to a rendered demo window (target < 2 s once the phantom is cached).

    .venv/bin/python tests/benchmarks/bench_startup.py [--runs 5]

Each run starts a fresh Python process that starts the GUI exactly as `osteoplan --demo` does
(`ui.app.start_gui`: background load, then all four panes rendered) and exits; the
parent measures wall time from spawn to exit. The baseline is a bare `python -c pass` process.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2])]  # the repository: tests.benchmarks.figures

CHILD = r"""
from osteoplan.ui.app import configure_rendering_environment, start_gui
configure_rendering_environment(offscreen=True)
app, window = start_gui(demo="spine")  # what `osteoplan --demo` does, up to the event loop
def rendered(case):
    for view in window.views.values():
        view.render()
    import os
    os._exit(0)  # measured up to here; background preparation (safety distances) is not waited for
window.case_shown.connect(rendered)
app.exec()
"""


def _time(command: list[str]) -> float:
    # a fresh data folder: no autosave of an earlier session to offer (its question would wait)
    env = dict(os.environ, OSTEOPLAN_DATA_DIR=tempfile.mkdtemp(prefix="osteoplan-bench-"))
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env, timeout=120)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    # warm the phantom cache (and the OS file cache) once
    from osteoplan.core.imaging.demo import load_demo_case

    load_demo_case("spine")
    _time([sys.executable, "-c", CHILD])
    bare = statistics.median(_time([sys.executable, "-c", "pass"]) for _ in range(runs))
    startup = [_time([sys.executable, "-c", CHILD]) for _ in range(runs)]
    median = statistics.median(startup)
    print(f"bare python process        : {bare * 1000:7.0f} ms (median of {runs})")
    print(f"start -> rendered demo     : {median * 1000:7.0f} ms (median; min {min(startup) * 1000:.0f}, max {max(startup) * 1000:.0f})")
    print(f"ratio to bare python       : {median / bare:7.1f}x")
    print(f"target < 2000 ms           : {'met' if median < 2.0 else 'NOT met'}")
    from tests.benchmarks.figures import record

    record("start -> rendered demo window (median)", median * 1000, "ms", 2000.0, "a bare python process", bare * 1000)


if __name__ == "__main__":
    from tests.benchmarks.figures import finish

    main()
    sys.exit(finish())
