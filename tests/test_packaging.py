"""The wheel ships every package and every resource (the explicit package list must not go stale)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_under_app_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT / "app").parts)
        for init in (ROOT / "app").rglob("__init__.py")
    }
    assert on_disk <= listed, f"add to pyproject.toml [tool.setuptools] packages: {sorted(on_disk - listed)}"


def test_resources_are_found():
    from osteoplan.core.resources import resource_path

    assert resource_path("display_presets.json").is_file()


def test_resources_are_found_in_the_installed_layout(tmp_path):
    """A wheel puts resources/ inside the package (osteoplan/resources/, no __init__.py there)."""
    import shutil
    import subprocess
    import sys

    shutil.copytree(ROOT / "app" / "osteoplan", tmp_path / "osteoplan",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "resources", tmp_path / "osteoplan" / "resources")
    probe = ("import osteoplan.core.resources as r; "
             "print(r.resource_path('devices.json').parent)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                            env={"PYTHONPATH": str(tmp_path), "PATH": ""}, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "osteoplan" / "resources")
