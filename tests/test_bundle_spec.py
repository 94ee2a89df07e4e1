"""The desktop bundle's spec and desktop entry stay consistent with the code (the build itself is
slow and runs by hand: `bash packaging/build-bundle.sh`)."""

from __future__ import annotations

import ast
import configparser
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "osteoplan.spec"
DESKTOP = ROOT / "packaging" / "osteoplan.desktop"
VTK_IMPORT = re.compile(r"^\s*(?:from|import)\s+(vtkmodules(?:\.\w+)+)", re.MULTILINE)


def _spec_list(name: str) -> list[str]:
    """The literal list assigned to `name` in the spec (parsed, not executed: it needs PyInstaller)."""
    for node in ast.parse(SPEC.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{SPEC.name} has no {name} list")


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(DESKTOP.read_text(encoding="utf-8"))
    return parser["Desktop Entry"]


def _vtk_imports_in_code() -> set[str]:
    imports = set()
    for path in [*(ROOT / "app").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]:
        imports.update(VTK_IMPORT.findall(path.read_text(encoding="utf-8")))
    return imports


def test_every_vtk_module_the_code_imports_is_bundled():
    imported = _vtk_imports_in_code()
    assert "vtkmodules.vtkRenderingCore" in imported  # the scan itself works
    missing = imported - set(_spec_list("VTK_MODULES"))
    assert not missing, f"add to VTK_MODULES in packaging/osteoplan.spec: {sorted(missing)}"


def test_the_bundle_excludes_the_everything_vtk_imports():
    assert not {"vtk", "vtkmodules.all"} & set(_spec_list("VTK_MODULES"))
    assert {"vtk", "vtkmodules.all", "pyvista", "tkinter"} <= set(_spec_list("EXCLUDES"))
    imported = {m.split(".")[0] for m in _vtk_imports_in_code()}
    assert imported == {"vtkmodules"}


def test_the_bundle_keeps_every_module_the_code_imports():
    """An excluded module that app/ imports would break the bundle only at run time."""
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "app").rglob("*.py"))
    for excluded in _spec_list("EXCLUDES"):
        pattern = rf"^\s*(?:from|import)\s+{re.escape(excluded)}(?:[\s.]|$)"
        assert not re.search(pattern, source, re.MULTILINE), f"app/ imports {excluded}, which the spec excludes"


def test_desktop_entry_names_the_bundled_command_and_icon():
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    for key in ("Name", "Comment", "Exec", "Icon", "Categories"):
        assert entry.get(key, "").strip(), f"the desktop entry lacks {key}"
    command = entry["Exec"].split()[0]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert command in scripts  # the installed command ...
    assert re.search(rf'name="{command}"', SPEC.read_text())  # ... and the bundle's executable
    assert (ROOT / "resources" / "icons" / f"{entry['Icon']}.svg").is_file()
    assert {"Science", "MedicalSoftware"} <= set(filter(None, entry["Categories"].split(";")))
    assert entry["Categories"].endswith(";")


def test_icons_are_package_data():
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert any(p.startswith("icons/") for p in package_data["osteoplan.resources"])
    from osteoplan.core.resources import resource_path

    assert resource_path("icons/osteoplan.svg").is_file()
    assert resource_path("icons/osteoplan-256.png").is_file()


def test_version_is_one_line(capsys):
    from osteoplan import __version__
    from osteoplan.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"osteoplan {__version__}\n"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == __version__


def test_desktop_entry_passes_the_freedesktop_validator():
    import shutil
    import subprocess

    validator = shutil.which("desktop-file-validate")
    if validator is None:
        pytest.skip("desktop-file-validate is not installed (Debian package desktop-file-utils)")
    result = subprocess.run([validator, str(DESKTOP)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
