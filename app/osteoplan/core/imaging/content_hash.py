"""A fingerprint of an image's voxels and geometry, so that a plan notices when its CT changed.

``sha256:<hex>`` over a small header (dtype, size, spacing, origin, direction, rounded to
1e-6 mm so that two readers of the same file agree) and the voxel bytes in little-endian
C order. The voxels are hashed without a copy when the array is already in that layout.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from osteoplan.core.imaging.volume import Volume

HASH_PREFIX = "sha256:"
_CHUNK_SLICES = 16  # slices per update when the array must be converted first


def _header(volume: Volume, dtype: np.dtype) -> bytes:
    header = {
        "dtype": dtype.str,
        "size": list(volume.size),
        "spacing": [round(float(v), 6) for v in volume.spacing],
        "origin": [round(float(v), 6) for v in volume.origin],
        "direction": [round(float(v), 6) + 0.0 for v in np.asarray(volume.direction).ravel()],  # +0.0: no -0.0
    }
    return json.dumps(header, sort_keys=True).encode("ascii")


def volume_content_hash(volume: Volume) -> str:
    array = volume.array
    little = array.dtype.newbyteorder("<")  # the same hash on any machine
    digest = hashlib.sha256(_header(volume, little))
    if array.dtype == little and array.flags.c_contiguous:
        digest.update(array.reshape(-1).view(np.uint8))  # no copy of a 200 MB CT
    else:
        for start in range(0, array.shape[0], _CHUNK_SLICES):
            digest.update(np.ascontiguousarray(array[start:start + _CHUNK_SLICES], dtype=little).tobytes())
    return HASH_PREFIX + digest.hexdigest()
