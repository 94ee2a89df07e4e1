"""Run every benchmark and gather their figures into one JSON object.

Run:  .venv/bin/python tests/benchmarks/run_all.py [--out FILE.json] [--only NAME ...]

Each `bench_*.py` runs in its own process (its own memory and start-up); a script that reports through
`figures.py` contributes ``{name: {"value", "unit", "goal", "baseline", "baseline_value", "ratio", "met"}}``;
one that does not yet is listed under "_not_reporting" with its exit code. Exits 1 when any goal is missed or
a script fails. Not collected by pytest (benchmarks are not tests: they measure, on this machine kind).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1])]

from tests.benchmarks.figures import ENV_JSON  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the gathered JSON object here (else stdout)")
    parser.add_argument("--only", nargs="*", help="run only these benchmarks (e.g. safety startup)")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only]
    gathered: dict = {"_not_reporting": {}}
    failed = False
    for script in scripts:
        print(f"== {script.name}", flush=True)
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            target = Path(handle.name)
        run = subprocess.run([sys.executable, str(script)], env={**os.environ, ENV_JSON: str(target)})
        figures = json.loads(target.read_text() or "{}") if target.stat().st_size else {}
        target.unlink(missing_ok=True)
        if figures:
            gathered.update({f"{script.stem}: {name}": figure for name, figure in figures.items()})
        else:
            gathered["_not_reporting"][script.stem] = {"exit_code": run.returncode}
        failed |= run.returncode != 0
    text = json.dumps(gathered, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
        print(f"figures written to {args.out}")
    else:
        print(text)
    missed = [name for name, f in gathered.items() if isinstance(f, dict) and f.get("met") is False]
    print("all goals met" if not missed and not failed else f"GOALS MISSED or scripts failed: {missed}")
    return 1 if missed or failed else 0


if __name__ == "__main__":
    sys.exit(main())
