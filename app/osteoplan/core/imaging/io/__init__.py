"""Reading CT images and label maps into `Volume`s, with warnings and errors in words.

- `load_image(path)`: a folder loads as DICOM, a file as NIfTI/NRRD/MetaImage (or the
  DICOM series it belongs to); `load_dicom_series`, `load_image_file` directly.
- `list_dicom_series(folder)`: header-only summaries of every series, for a chooser.
- `load_label_map(path, names_path, reference)`: integer labels + names on the CT grid.
- `describe_image(path)`: the JSON-ready object of ``osteoplan info --json``.
Bad input raises `LoadError` (`SeveralSeriesError` when a series must be chosen).
"""

from .common import MAX_DIMENSION, MAX_IMAGE_BYTES, LoadedImage, ProgressCallback
from .dicom import load_dicom_file, load_dicom_series
from .dicom_scan import SeriesSummary, SeveralSeriesError, list_dicom_series
from .images import describe_image, load_image, load_image_file
from .labels import LabelMap, load_label_map, read_label_names

__all__ = [
    "MAX_DIMENSION",
    "MAX_IMAGE_BYTES",
    "LabelMap",
    "LoadedImage",
    "ProgressCallback",
    "SeriesSummary",
    "SeveralSeriesError",
    "describe_image",
    "list_dicom_series",
    "load_dicom_file",
    "load_dicom_series",
    "load_image",
    "load_image_file",
    "load_label_map",
    "read_label_names",
]
