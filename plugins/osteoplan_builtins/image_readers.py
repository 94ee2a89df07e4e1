"""Built-in image reader: DICOM series and files, NIfTI, NRRD and MetaImage through SimpleITK
(`osteoplan.core.imaging.io`). OsteoPlan reads these formats directly; the entry point makes the same
reader available through the plugin API, beside the readers plugins add."""

from __future__ import annotations

from pathlib import Path

from osteoplan.core.imaging.io import load_image
from osteoplan.core.imaging.io.common import DICOM_SUFFIXES, IMAGE_SUFFIXES, is_dicom_file, suffix_of
from osteoplan.core.imaging.volume import Volume


class SimpleITKReader:
    def can_read(self, path: Path) -> bool:
        path = Path(path)
        if path.is_dir():
            return True
        suffix = suffix_of(path)
        return suffix in IMAGE_SUFFIXES or suffix in DICOM_SUFFIXES or (path.is_file() and is_dicom_file(path))

    def read(self, path: Path) -> Volume:
        return load_image(path).volume
