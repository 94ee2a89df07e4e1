"""Generating the demo phantoms in memory (and writing them as NIfTI files); see the package docstring."""


from __future__ import annotations

import errno
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from osteoplan.core.atomic import atomic_write_text, atomic_write_with, verify_written
from osteoplan.core.imaging.volume import SeriesInfo, Volume

from . import hip as _hip
from . import spine as _spine
from .hip import (ANTEVERSION_DEG, HEAD_RADIUS_MM, JOINT_SPACE_MM, NECK_AXIS_DIRECTION, NECK_SHAFT_ANGLE_DEG,
                  SHAFT_AXIS_DIRECTION)
from .vertebra import (PEDICLE_HALF_HEIGHT_MM, PEDICLE_HALF_WIDTH_MM, PEDICLE_MEDIAL_ANGLE_DEG, PedicleAxis,
                       pedicle_axes)

CASES = ("spine", "hip")
DEFAULT_SPACING_MM = 0.8
GENERATOR_VERSION = 1  # bump whenever the generated images change: it invalidates the caches

__all__ = [
    "CASES", "DEFAULT_SPACING_MM", "GENERATOR_VERSION", "PhantomCase", "build_phantom", "write_phantom",
    "label_names", "landmarks", "pedicle_axes", "PedicleAxis", "PEDICLE_HALF_WIDTH_MM", "PEDICLE_HALF_HEIGHT_MM",
    "PEDICLE_MEDIAL_ANGLE_DEG", "NECK_AXIS_DIRECTION", "SHAFT_AXIS_DIRECTION", "NECK_SHAFT_ANGLE_DEG",
    "ANTEVERSION_DEG", "HEAD_RADIUS_MM", "JOINT_SPACE_MM",
]

_BUILDERS = {"spine": (_spine.build_spine, _spine.LABELS, _spine.landmarks),
             "hip": (_hip.build_hip, _hip.LABELS, _hip.landmarks)}


@dataclass(frozen=True)
class PhantomCase:
    name: str
    ct: Volume  # int16 HU
    labels: Volume  # uint8 label map on exactly the same grid
    label_names: dict[int, str]
    landmarks: dict[str, tuple[float, float, float]]  # LPS mm


def check_case(case: str) -> str:
    if case not in CASES:
        raise ValueError(f"unknown phantom case {case!r}; valid cases: {', '.join(CASES)}")
    return case


def series_info(case: str) -> SeriesInfo:
    return SeriesInfo(description=f"OsteoPlan synthetic {case} phantom", modality="CT", uid=None)


def label_names(case: str) -> dict[int, str]:
    return dict(_BUILDERS[check_case(case)][1])


def landmarks(case: str) -> dict[str, tuple[float, float, float]]:
    """Ground-truth points (LPS mm); they do not depend on the voxel spacing."""
    return dict(_BUILDERS[check_case(case)][2]())


def build_phantom(case: str = "spine", spacing_mm: float = DEFAULT_SPACING_MM) -> PhantomCase:
    """Generate a case in memory (a few seconds at 0.8 mm). Same arguments, same voxels."""
    build, names, points = _BUILDERS[check_case(case)]
    spacing_mm = float(spacing_mm)
    if not (0.2 <= spacing_mm <= 5.0):
        raise ValueError(f"phantom voxel spacing must be between 0.2 and 5 mm, got {spacing_mm}")
    ct, labels, grid = build(spacing_mm)
    info = series_info(case)
    ct_volume = Volume(ct, (grid.spacing,) * 3, grid.origin, np.eye(3), info)
    label_volume = ct_volume.with_array(labels, info)
    return PhantomCase(case, ct_volume, label_volume, dict(names), dict(points()))


def write_phantom(case: str, out_dir: Path, spacing_mm: float = DEFAULT_SPACING_MM) -> list[Path]:
    """Write ct.nii.gz, labels.nii.gz and labels.json (TotalSegmentator style) into `out_dir`."""
    phantom = build_phantom(case, spacing_mm)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "ct.nii.gz", out_dir / "labels.nii.gz", out_dir / "labels.json"]
    for volume, path in ((phantom.ct, paths[0]), (phantom.labels, paths[1])):  # verified: read back before kept
        atomic_write_with(path, lambda temporary, image=volume.to_sitk(): _write_image(image, temporary),
                          ".nii.gz", verify=lambda temporary, size=volume.size: _reads_back(temporary, size))
    atomic_write_text(paths[2], json.dumps({str(k): v for k, v in sorted(phantom.label_names.items())}, indent=2)
                      + "\n")
    return paths


def _write_image(image: sitk.Image, path: str) -> None:
    try:
        sitk.WriteImage(image, path, True)
    except RuntimeError as exc:  # ITK reports a failed write (a full disk) as a RuntimeError
        raise OSError(errno.EIO, "the image could not be written (is the disk full?)", path) from exc


def _reads_back(path: str, size) -> None:
    verify_written(path, b"\x1f\x8b")  # gzip
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        raise OSError(errno.EIO, "the written image does not read back (is the disk full?)", path) from None
    if tuple(reader.GetSize()) != tuple(size):
        raise OSError(errno.EIO, "the written image does not read back whole (is the disk full?)", path)
