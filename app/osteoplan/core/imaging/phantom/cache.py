"""On-disk cache of the generated demo cases (uncompressed .mha: read in well under a second).

Layout, per case and spacing (``stem`` = ``spine_v1_0.8mm``)::

    <stem>.json                 names, landmarks, grid, checksums and the two image file names
    <stem>.<token>.ct.mha       CT, int16
    <stem>.<token>.labels.mha   label map, uint8

The images are written first under a fresh token, then the json is swapped in with
`os.replace`: a reader only ever follows a json to a complete pair of images, so a killed
writer leaves at worst unreferenced files (removed by the next write). Anything that does
not read back exactly (missing, truncated, wrong grid, checksum mismatch) is rebuilt.
"""

from __future__ import annotations

import json
import os
import time
import uuid
import zlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from osteoplan.core.imaging.volume import Volume
from osteoplan.core.resources import user_cache_root

from .generate import GENERATOR_VERSION, PhantomCase, build_phantom, series_info

STALE_AFTER_S = 3600.0


def default_cache_dir() -> Path:
    """``$OSTEOPLAN_CACHE_DIR/phantoms`` if set, else the per-user cache folder's ``phantoms``."""
    return user_cache_root() / "phantoms"


def cache_stem(case: str, spacing_mm: float) -> str:
    return f"{case}_v{GENERATOR_VERSION}_{spacing_mm:g}mm"


def _checksum(array: np.ndarray) -> int:
    return zlib.adler32(np.ascontiguousarray(array).view(np.uint8).ravel().data)


def read_cached(folder: Path, case: str, spacing_mm: float) -> PhantomCase:
    """The cached case; raises (OSError, ValueError, RuntimeError, KeyError...) if it is not intact."""
    stem = cache_stem(case, spacing_mm)
    meta = json.loads((folder / f"{stem}.json").read_text(encoding="utf-8"))
    if meta.get("generator_version") != GENERATOR_VERSION or meta.get("case") != case:
        raise ValueError("stale cache entry")
    info = series_info(case)
    volumes = []
    for key, dtype in (("ct", np.int16), ("labels", np.uint8)):
        path = folder / meta["files"][key]
        image = sitk.ReadImage(str(path))
        array = sitk.GetArrayFromImage(image)
        if array.dtype != dtype or list(image.GetSize()) != meta["size"]:
            raise ValueError(f"{path.name}: unexpected pixel type or size")
        if not np.allclose(image.GetSpacing(), meta["spacing"]) or not np.allclose(image.GetOrigin(), meta["origin"]):
            raise ValueError(f"{path.name}: unexpected grid")
        if _checksum(array) != meta["checksums"][key]:
            raise ValueError(f"{path.name}: checksum mismatch")
        volumes.append(Volume(array, meta["spacing"], meta["origin"], np.eye(3), info))
    names = {int(k): str(v) for k, v in meta["label_names"].items()}
    points = {k: (float(v[0]), float(v[1]), float(v[2])) for k, v in meta["landmarks"].items()}
    return PhantomCase(case, volumes[0], volumes[1], names, points)


def write_cached(folder: Path, phantom: PhantomCase, spacing_mm: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stem = cache_stem(phantom.name, spacing_mm)
    token = uuid.uuid4().hex[:12]
    files = {"ct": f"{stem}.{token}.ct.mha", "labels": f"{stem}.{token}.labels.mha"}
    for key, volume in (("ct", phantom.ct), ("labels", phantom.labels)):
        sitk.WriteImage(volume.to_sitk(), str(folder / files[key]), useCompression=False)
    meta = {
        "generator_version": GENERATOR_VERSION, "case": phantom.name, "spacing_mm": spacing_mm,
        "size": list(phantom.ct.size), "spacing": list(phantom.ct.spacing), "origin": list(phantom.ct.origin),
        "files": files, "checksums": {"ct": _checksum(phantom.ct.array), "labels": _checksum(phantom.labels.array)},
        "label_names": {str(k): v for k, v in sorted(phantom.label_names.items())},
        "landmarks": {k: list(v) for k, v in phantom.landmarks.items()},
    }
    final = folder / f"{stem}.json"
    try:
        previous = set(json.loads(final.read_text(encoding="utf-8"))["files"].values())
    except Exception:
        previous = set()
    tmp = folder / f"{stem}.json.{token}.tmp"
    tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    os.replace(tmp, final)
    # Remove the files the old json referred to, and leftovers of killed writers (old
    # enough not to belong to a writer still at work).
    now = time.time()
    for path in folder.glob(f"{stem}.*"):
        if path == final or path.name in files.values():
            continue
        try:
            if path.name in previous or now - path.stat().st_mtime > STALE_AFTER_S:
                path.unlink()
        except OSError:
            pass
    return final


def cached_case(case: str, spacing_mm: float, cache_dir: Path | None = None) -> PhantomCase:
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        return read_cached(folder, case, spacing_mm)
    except Exception:  # missing, stale or corrupt: rebuild (the cache is never the truth)
        pass
    phantom = build_phantom(case, spacing_mm)
    try:
        write_cached(folder, phantom, spacing_mm)
    except OSError:
        pass  # a read-only or full disk must not stop the demo from opening
    return phantom
