# Shortcuts for the README commands.
.PHONY: setup run test bench screenshot bundle

setup:
	bash packaging/setup-dev.sh --test

run: setup
	.venv/bin/osteoplan --demo

test:
	bash packaging/setup-dev.sh --test && .venv/bin/python -m pytest

bench:  # every benchmark, one JSON of figures (goal, baseline, ratio, met); exit 1 when a goal is missed
	.venv/bin/python tests/benchmarks/run_all.py --out bench.json

screenshot: setup
	.venv/bin/osteoplan screenshot --demo --out packaging/screenshots/four-up.png

# The one-folder desktop bundle packaging/dist/osteoplan/ (PyInstaller; slow, not in `make test`).
bundle: setup
	bash packaging/build-bundle.sh
