"""The core never imports Qt or VTK: it must run (and be tested) without a screen."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("PySide6", "vtk", "vtkmodules", "pyvista", "pyvistaqt")

_PROBE = """
import importlib, pkgutil, sys
import osteoplan.core as core
for module in pkgutil.walk_packages(core.__path__, "osteoplan.core."):
    importlib.import_module(module.name)
import osteoplan.cli  # the CLI module itself must stay importable without the GUI stack
loaded = sorted({name.split(".")[0] for name in sys.modules})
print("\\n".join(loaded))
"""


def test_core_and_cli_import_no_gui_or_vtk_module():
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True)
    loaded = set(result.stdout.split())
    assert "osteoplan" in loaded
    assert not loaded & set(FORBIDDEN), f"core imported {sorted(loaded & set(FORBIDDEN))}"
