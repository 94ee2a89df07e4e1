"""An image on a grid in LPS millimetres: the voxel array and its geometry.

Conventions (the same as ITK/SimpleITK and DICOM):
- `array` is indexed ``[k, j, i]`` (slice, row, column), as `sitk.GetArrayFromImage`
  returns it; sizes, indices, spacing and origin are given in ITK order ``(i, j, k)``
  = ``(x, y, z)``.
- World coordinates are LPS millimetres: +x towards the patient's left, +y posterior,
  +z superior.
- ``lps = origin + direction @ (spacing * ijk)``, exact for any direction matrix
  (oblique acquisitions included). Voxel centres are at integer indices.
- CT values are Hounsfield units (DICOM rescale slope/intercept already applied).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk


@dataclass(frozen=True)
class SeriesInfo:
    """What is known of where an image came from (shown in dialogs and `osteoplan info`)."""

    path: str = ""
    uid: str | None = None
    description: str = ""
    modality: str = "CT"
    patient_name: str = ""
    patient_id: str = ""
    study_date: str = ""
    birth_date: str = ""  # DICOM (0010,0030), YYYYMMDD; shown only in an identified report
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3-D image and its exact placement in LPS millimetres.

    The array is never copied by the accessors; treat it as read-only.
    """

    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    info: SeriesInfo = field(default_factory=SeriesInfo)

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"a Volume needs a 3-D array, got shape {self.array.shape}")
        direction = np.asarray(self.direction, dtype=float).reshape(3, 3)
        if abs(np.linalg.det(direction)) < 1e-6:
            raise ValueError("the direction matrix is singular")
        object.__setattr__(self, "direction", direction)
        object.__setattr__(self, "spacing", tuple(float(s) for s in self.spacing))
        object.__setattr__(self, "origin", tuple(float(o) for o in self.origin))
        if min(self.spacing) <= 0:
            raise ValueError(f"voxel spacing must be positive, got {self.spacing}")

    # --- geometry ---------------------------------------------------------------
    @property
    def size(self) -> tuple[int, int, int]:
        """Number of voxels along (i, j, k) = (x, y, z), ITK order."""
        k, j, i = self.array.shape
        return (i, j, k)

    @property
    def modality(self) -> str:
        return self.info.modality

    @property
    def index_to_lps_matrix(self) -> np.ndarray:
        """4x4 homogeneous matrix mapping (i, j, k, 1) to (x, y, z, 1) in LPS mm."""
        m = np.eye(4)
        m[:3, :3] = self.direction * np.asarray(self.spacing)[None, :]
        m[:3, 3] = self.origin
        return m

    def index_to_lps(self, ijk) -> np.ndarray:
        """Continuous index (..., 3) in (i, j, k) order -> LPS mm (..., 3)."""
        ijk = np.asarray(ijk, dtype=float)
        m = self.index_to_lps_matrix
        return ijk @ m[:3, :3].T + m[:3, 3]

    def lps_to_index(self, lps) -> np.ndarray:
        """LPS mm (..., 3) -> continuous index (..., 3) in (i, j, k) order."""
        lps = np.asarray(lps, dtype=float)
        m = self.index_to_lps_matrix
        return (lps - m[:3, 3]) @ np.linalg.inv(m[:3, :3]).T

    def contains_index(self, ijk) -> np.ndarray:
        """True where a continuous index lies within the voxel grid (centre to centre, half a voxel of margin)."""
        ijk = np.asarray(ijk, dtype=float)
        upper = np.asarray(self.size, dtype=float) - 0.5
        return np.all((ijk >= -0.5) & (ijk < upper), axis=-1)

    def value_at_lps(self, lps) -> float | None:
        """Nearest-voxel value at an LPS point, or None outside the image."""
        ijk = self.lps_to_index(lps)
        if not self.contains_index(ijk):
            return None
        i, j, k = np.floor(ijk + 0.5).astype(int)
        return float(self.array[k, j, i])

    def bounds_lps(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned LPS box (min corner, max corner) around all voxel centres."""
        corners = np.array(
            [[i, j, k] for i in (0, self.size[0] - 1) for j in (0, self.size[1] - 1) for k in (0, self.size[2] - 1)],
            dtype=float,
        )
        lps = self.index_to_lps(corners)
        return lps.min(axis=0), lps.max(axis=0)

    def bounds_above(self, threshold: float, stride: int = 4) -> tuple[np.ndarray, np.ndarray]:
        """LPS box around the voxels at or above `threshold` (sampled every `stride` voxels for
        speed, so it may miss a few voxels at its border); the whole image's box if none."""
        sampled = self.array[::stride, ::stride, ::stride]
        kji = np.argwhere(sampled >= threshold)
        if len(kji) == 0:
            return self.bounds_lps()
        ijk = np.stack([kji.min(axis=0), kji.max(axis=0)])[:, ::-1] * stride
        corners = np.array([[ijk[a, 0], ijk[b, 1], ijk[c, 2]] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=float)
        lps = self.index_to_lps(corners)
        return lps.min(axis=0), lps.max(axis=0)

    def center_lps(self) -> np.ndarray:
        return self.index_to_lps((np.asarray(self.size, dtype=float) - 1) / 2)

    def same_grid(self, other: "Volume", tolerance_mm: float = 1e-3) -> bool:
        """True if `other` samples exactly the same points (size, spacing, origin, direction)."""
        return (
            self.size == other.size
            and np.allclose(self.spacing, other.spacing, atol=tolerance_mm)
            and np.allclose(self.origin, other.origin, atol=tolerance_mm)
            and np.allclose(self.direction, other.direction, atol=1e-6)
        )

    @property
    def nbytes(self) -> int:
        return int(self.array.nbytes)

    def value_range(self) -> tuple[float, float]:
        return float(self.array.min()), float(self.array.max())

    # --- SimpleITK bridge -------------------------------------------------------
    @classmethod
    def from_sitk(cls, image: sitk.Image, info: SeriesInfo | None = None) -> "Volume":
        if image.GetDimension() != 3:
            raise ValueError(f"a Volume needs a 3-D image, got {image.GetDimension()}-D")
        return cls(
            array=sitk.GetArrayFromImage(image),
            spacing=image.GetSpacing(),
            origin=image.GetOrigin(),
            direction=np.asarray(image.GetDirection(), dtype=float).reshape(3, 3),
            info=info or SeriesInfo(),
        )

    def to_sitk(self) -> sitk.Image:
        image = sitk.GetImageFromArray(self.array)
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(tuple(self.direction.ravel()))
        return image

    def binned(self, factors: tuple[int, int, int]) -> "Volume":
        """A coarser copy: blocks of `factors` (i, j, k) voxels averaged into one, same extent."""
        factors = tuple(max(1, int(f)) for f in factors)
        if factors == (1, 1, 1):
            return self
        return Volume.from_sitk(sitk.BinShrink(self.to_sitk(), factors), self.info)

    def binning_for_budget(self, max_voxels: int) -> tuple[int, int, int]:
        """Per-axis bin factors that bring the voxel count under `max_voxels`, coarsening the
        finest axes first (so a thin-slice stack loses in-plane detail only as much as needed)."""
        count = int(np.prod(self.size))
        if count <= max_voxels:
            return (1, 1, 1)
        target_mm = (float(np.prod(self.spacing)) * count / max_voxels) ** (1 / 3)
        factors = [1, 1, 1]
        for axis in range(3):
            factors[axis] = max(1, min(self.size[axis], int(np.ceil(target_mm / self.spacing[axis]))))
        return tuple(factors)  # type: ignore[return-value]

    def with_array(self, array: np.ndarray, info: SeriesInfo | None = None) -> "Volume":
        """A volume on the same grid with other voxel values (e.g. a label map)."""
        if array.shape != self.array.shape:
            raise ValueError(f"array shape {array.shape} differs from the grid's {self.array.shape}")
        return Volume(array, self.spacing, self.origin, self.direction, info or self.info)
