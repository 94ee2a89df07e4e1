# Shortcuts for the README commands.
.PHONY: setup run test bench screenshot bundle

setup:
	bash packaging/setup-dev.sh --test

run: setup
	.venv/bin/osteoplan --demo

test:
	bash packaging/setup-dev.sh --test && .venv/bin/python -m pytest

bench: setup
	.venv/bin/python tests/benchmarks/bench_load.py
	.venv/bin/python tests/benchmarks/bench_startup.py
	.venv/bin/python tests/benchmarks/bench_readouts.py
	.venv/bin/python tests/benchmarks/bench_safety.py
	.venv/bin/python tests/benchmarks/bench_ablation.py
	.venv/bin/python tests/benchmarks/bench_bioheat.py
	.venv/bin/python tests/benchmarks/bench_cement.py

screenshot: setup
	.venv/bin/osteoplan screenshot --demo --out packaging/screenshots/four-up.png

# The one-folder desktop bundle packaging/dist/osteoplan/ (PyInstaller; slow, not in `make test`).
bundle: setup
	bash packaging/build-bundle.sh
