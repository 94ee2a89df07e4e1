"""Test-wide set-up: headless Qt/VTK before any QApplication exists, shared-data paths."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Without a display, Qt renders offscreen and VTK through EGL (see docs on headless rendering).
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

# Hermetic runs: demo phantoms are generated into a fresh cache, settings never touch the user's.
os.environ["OSTEOPLAN_CACHE_DIR"] = tempfile.mkdtemp(prefix="osteoplan-test-cache-")
os.environ["OSTEOPLAN_DATA_DIR"] = tempfile.mkdtemp(prefix="osteoplan-test-data-")  # autosaves

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def shared_data_path(*parts: str) -> Path:
    """Path inside ../shared/data, or skip the calling test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real CT test data not found at {path} (it lives in ../shared/data beside the repository)")
    return path
