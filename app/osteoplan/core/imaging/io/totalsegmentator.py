"""What OsteoPlan knows of TotalSegmentator's outputs: its "total" class tables and the label table
that ``TotalSegmentator --ml`` writes into the NIfTI header.

- `class_map(version)`: the v1 (104 classes) or v2 (117 classes) id -> name table, data under
  resources/ (totalsegmentator_total_v1.json, _v2.json), validated at load.
- `fitting_versions(labels)`: the versions whose ids hold every label value present, so that a
  map without names is named only when its values leave a single version (v1's ids 1-104 are all
  v2 ids too, so a v1 map can never be told from its values: it stays ambiguous).
- `header_label_names(path)`: the names of a NIfTI file's CaretExtension XML label table.
  TotalSegmentator writes it as extension code 0; Caret/CIFTI tools use 30 or 32, so every
  extension whose content is such a table is read, whatever its code.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from osteoplan.core.resources import load_validated_resource
from .common import suffix_of

__all__ = ["ClassMap", "VERSIONS", "class_map", "fitting_versions", "header_label_names", "parse_label_table"]

VERSIONS = (1, 2)
"""The TotalSegmentator "total" class tables OsteoPlan ships."""


def resource_name(version: int) -> str:
    return f"totalsegmentator_total_v{version}.json"


class ClassMap(BaseModel):
    """One TotalSegmentator task's label value -> structure name table (schema of the resource files)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int = Field(ge=1, le=1)
    task: Literal["total"]
    version: int = Field(ge=1)
    description: str = ""
    source: str = Field(min_length=1)
    classes: dict[int, str]

    @model_validator(mode="after")
    def _contiguous_and_unique(self) -> "ClassMap":
        ids = sorted(self.classes)
        if ids != list(range(1, len(ids) + 1)):  # what `fitting_versions` relies on
            raise ValueError("class ids must run from 1 to the number of classes without gaps")
        names = [name.strip() for name in self.classes.values()]
        if not all(names) or len(set(names)) != len(names):
            raise ValueError("class names must be non-empty and unique")
        return self


@lru_cache(maxsize=None)
def class_map(version: int) -> ClassMap:
    """The "total" class table of TotalSegmentator ``version`` (1 or 2); ValueError for another."""
    if version not in VERSIONS:
        raise ValueError(f"no TotalSegmentator 'total' class table for version {version!r}; "
                         f"known: {', '.join(map(str, VERSIONS))}")
    table = load_validated_resource(ClassMap, resource_name(version))
    if table.version != version:
        raise ValueError(f"{resource_name(version)} holds version {table.version}, not {version}")
    return table


def fitting_versions(labels: Iterable[int]) -> tuple[int, ...]:
    """The versions whose class ids include every label value given (0 = background is ignored)."""
    present = {int(v) for v in labels} - {0}
    return tuple(v for v in VERSIONS if present <= set(class_map(v).classes))


def parse_label_table(content: bytes) -> dict[int, str] | None:
    """Key -> name of the ``<Label Key="n">name</Label>`` entries of a Caret/CIFTI XML label table.

    None when ``content`` is not such a table. Key 0 (Caret's "???" background) and entries
    without an integer key or a name are left out. Raises ElementTree.ParseError for broken XML
    that announces a label table.
    """
    content = content.split(b"\x00", 1)[0].strip()  # extensions are padded to 16 bytes with NULs/spaces
    if not content.startswith(b"<") or b"LabelTable" not in content:
        return None
    root = ElementTree.fromstring(content)
    names: dict[int, str] = {}
    for element in root.iter():
        if not isinstance(element.tag, str) or element.tag.rsplit("}", 1)[-1] != "Label":
            continue
        try:
            key = int(str(element.get("Key", "")).strip())
        except ValueError:
            continue
        name = (element.text or "").strip()
        if key != 0 and name:
            names.setdefault(key, name)
    return names or None


def header_label_names(path: Path) -> tuple[dict[int, str] | None, str | None]:
    """(names from the NIfTI header's label table or None, why the header could not be read or None).

    Files other than NIfTI have no such table: (None, None).
    """
    if suffix_of(path) not in (".nii", ".nii.gz"):
        return None, None
    import nibabel  # only NIfTI label maps need it, and it takes a moment to import

    try:
        header = nibabel.load(str(path)).header  # the header and its extensions only, not the voxels
    except Exception as exc:  # noqa: BLE001 - a third-party parser on user data: any failure means "no table"
        return None, f"its NIfTI header could not be read for a label table ({type(exc).__name__}: {exc})"
    for extension in getattr(header, "extensions", ()):
        try:
            names = parse_label_table(bytes(extension.content))
        except ElementTree.ParseError as exc:
            return None, f"the label table in its NIfTI header is not valid XML ({exc})"
        if names:
            return names, None
    return None, None
