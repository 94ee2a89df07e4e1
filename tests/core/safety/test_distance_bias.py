"""Needle-to-structure distances never flatter: against a brute-force reference, a reported distance
exceeds the true one by at most 0.25 mm and falls short of it by at most half a voxel.

The truth: the needle is the capsule of its radius around entry -> tip, the structure the union
of its voxels, each a full box of the voxel spacing in the CT's own orientation. The reference
measures the exact point-to-box distance to every voxel of the mask (no KD-tree, no distance
field, no boundary extraction), at points along the axis: every 0.5 mm to find the voxels that
can be nearest (the distance is 1-Lipschitz along the axis), then every 0.01 mm against those.

Shapes: sphere, cylinder, an oblique half-space, an oblique cylinder, and a cylinder on a CT grid
whose direction matrix is oblique (plus thin-slice anisotropic voxels), at 0.5, 1.5 and 3 mm;
and the real labelled CT (spinal cord, aorta). The field-based distance this replaced overstated
by up to +0.26-0.41 mm at 0.5 mm voxels and +2.0-2.9 mm at 3 mm: each of those cases fails if the
exact distance broke.
`tests/validation/distance_bias.py` prints the same comparison as a table.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import ndimage

from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.io import load_image, load_label_map
from osteoplan.core.imaging.volume import Volume
from osteoplan.core.safety.distances import DistanceFields, needle_samples, needle_structure_distances
from osteoplan.core.safety.structures import Structure, case_structures
from tests.conftest import shared_data_path

OVERSTATE_MM = 0.25  # the most a reported distance may exceed the true one
COARSE_STEP_MM, FINE_STEP_MM = 0.5, 0.01  # the reference's axis samples
GRID_EXTENT_MM = 36.0
SPACINGS = (0.5, 1.5, 3.0)


# --- the reference ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Reference:
    axis_mm: float  # axis segment to the union of the voxel boxes (0 when it touches them)
    distance_mm: float  # the capsule's: axis_mm - radius


def _axis_points(entry: np.ndarray, tip: np.ndarray, step_mm: float) -> np.ndarray:
    n = max(2, int(np.ceil(np.linalg.norm(tip - entry) / step_mm)) + 1)
    return entry + np.linspace(0.0, 1.0, n)[:, None] * (tip - entry)


def voxel_boxes(grid: Volume, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of all the mask's voxels in the voxel axes (LPS @ direction), and the boxes' half-sizes."""
    centres = grid.index_to_lps(np.argwhere(mask)[:, ::-1].astype(float)) @ np.asarray(grid.direction, dtype=float)
    return centres, np.asarray(grid.spacing, dtype=float) / 2.0


def box_distances(grid: Volume, centres: np.ndarray, half: np.ndarray, points_lps) -> np.ndarray:
    """(points, boxes) exact distances from LPS points to voxel boxes (centres in the voxel axes)."""
    local = np.abs((np.asarray(points_lps, dtype=float) @ np.asarray(grid.direction, dtype=float))[:, None, :]
                   - centres[None, :, :])
    outside = np.maximum(local - half, 0.0)
    return np.sqrt(np.sum(outside * outside, axis=2))


def reference_distance(grid: Volume, mask: np.ndarray, entry, tip, radius_mm: float) -> Reference:
    """Brute force over all voxels of the mask (see the module docstring)."""
    entry, tip = np.asarray(entry, dtype=float), np.asarray(tip, dtype=float)
    centres, half = voxel_boxes(grid, mask)
    coarse = _axis_points(entry, tip, COARSE_STEP_MM)
    chunk = max(1, 3_000_000 // (3 * len(coarse)))
    per_voxel = np.concatenate([box_distances(grid, centres[start:start + chunk], half, coarse).min(axis=0)
                                for start in range(0, len(centres), chunk)])
    step = np.linalg.norm(tip - entry) / (len(coarse) - 1)
    # the voxel nearest to some axis point is within the coarse least + half a step of that point's sample
    candidates = centres[per_voxel <= per_voxel.min() + step / 2.0 + 1e-9]
    fine = _axis_points(entry, tip, FINE_STEP_MM)
    axis = min(float(box_distances(grid, candidates, half, part).min())
               for part in np.array_split(fine, max(1, len(fine) // 400)))
    return Reference(axis, axis - float(radius_mm))


# --- shapes and grids -------------------------------------------------------------------------
def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def _rotation(axis, degrees: float) -> np.ndarray:
    x, y, z = _unit(axis)
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    cross = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return c * np.eye(3) + s * cross + (1 - c) * np.outer([x, y, z], [x, y, z])


def _cylinder(axis, radius: float, half_length: float) -> Callable[[np.ndarray], np.ndarray]:
    a = _unit(axis)

    def inside(p: np.ndarray) -> np.ndarray:
        along = p @ a
        return (np.linalg.norm(p - along[:, None] * a, axis=1) <= radius) & (np.abs(along) <= half_length)
    return inside


SHAPES: dict[str, Callable[[np.ndarray], np.ndarray]] = {  # LPS points (N, 3) -> inside; centred at 0
    "sphere": lambda p: np.linalg.norm(p, axis=1) <= 9.0,
    "cylinder": _cylinder((0, 0, 1), 6.0, 14.0),
    "half-space": lambda p: p @ _unit((0.25, 0.15, 1.0)) >= 9.0,
    "oblique cylinder": _cylinder((1.0, 0.7, 0.4), 5.5, 13.0),
    "oblique grid": _cylinder((0, 0, 1), 6.0, 13.0),  # along z, on a grid turned 30 degrees (and flipped)
}
OBLIQUE_DIRECTION = _rotation((1.0, 2.0, 2.0), 30.0) @ np.diag([-1.0, -1.0, 1.0])


@dataclass(frozen=True)
class BiasCase:
    shape: str
    spacing: tuple[float, float, float]

    @property
    def label(self) -> str:
        return f"{self.shape} @ {'x'.join(f'{s:g}' for s in self.spacing)} mm"

    def grid(self) -> Volume:
        direction = OBLIQUE_DIRECTION if self.shape == "oblique grid" else np.eye(3)
        spacing = np.asarray(self.spacing)
        size = np.ceil(GRID_EXTENT_MM / spacing).astype(int) + 1  # i, j, k
        origin = -direction @ (spacing * (size - 1) / 2.0)  # the grid's centre at LPS 0
        return Volume(np.zeros(tuple(size[::-1]), np.int16), tuple(spacing), tuple(origin), direction)

    def mask(self, grid: Volume) -> np.ndarray:
        kji = np.indices(grid.array.shape).reshape(3, -1).T
        return SHAPES[self.shape](grid.index_to_lps(kji[:, ::-1].astype(float))).reshape(grid.array.shape)


BIAS_CASES = ([BiasCase(shape, (s, s, s)) for s in SPACINGS for shape in SHAPES]
              + [BiasCase("oblique grid", (0.75, 0.75, 2.5))])  # thin in-plane, thick slices


def random_needles(grid: Volume, mask: np.ndarray, seed: int, reach_mm: float = 8.0):
    """Endless (entry, tip, radius) needles near the mask, through a point 0.3-`reach_mm` outside one of
    its surface voxels (along the outward normal, give or take), every other one tangential (grazing the
    surface), the rest in a random direction; some cross it. Both ends lie in the scanned volume (past
    its border the field read a structure touching it as going on, which says nothing of its bias)."""
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(mask.astype(np.float32), 1.0)
    surface = np.argwhere(mask & (smooth < 0.99))
    gradient_kji = np.gradient(smooth)
    rotation, spacing = np.asarray(grid.direction, dtype=float), np.asarray(grid.spacing, dtype=float)
    tangential = True
    while True:
        kji = surface[rng.integers(len(surface))]
        gradient_ijk = np.array([gradient_kji[axis][tuple(kji)] for axis in (2, 1, 0)])
        normal = _unit(-(rotation @ (gradient_ijk / spacing)) + 1e-9)  # outward, in LPS
        outward = _unit(normal + 0.3 * rng.normal(size=3))
        radius = float(rng.uniform(0.4, 1.6))
        anchor = grid.index_to_lps(kji[::-1].astype(float)) + outward * rng.uniform(0.3, reach_mm)
        direction = _unit(rng.normal(size=3))
        if tangential:
            direction = _unit(direction - (direction @ outward) * outward)
        entry, tip = anchor - direction * rng.uniform(0.0, 12.0), anchor + direction * rng.uniform(0.0, 12.0)
        if np.all(grid.contains_index(grid.lps_to_index(np.stack([entry, tip])))):
            tangential = not tangential
            yield entry, tip, radius


def axis_in_mask(grid: Volume, mask: np.ndarray, entry, tip) -> bool:
    """Whether an axis point (every 0.2 mm) lies in a voxel of the mask: the needle surely crosses it."""
    voxels = np.floor(grid.lps_to_index(_axis_points(entry, tip, 0.2)) + 0.5).astype(int)[:, ::-1]
    on_grid = np.all((voxels >= 0) & (voxels < mask.shape), axis=1)
    return bool(mask[tuple(voxels[on_grid].T)].any())


# --- the comparison ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    reported: np.ndarray
    true: np.ndarray
    axis: np.ndarray  # the reference's axis distances
    radius: np.ndarray
    gaps: np.ndarray  # |closest on structure - closest on needle| per needle
    closest_off_mask: np.ndarray  # distance of the reported closest structure point to the mask's boxes
    field_based: np.ndarray  # what the field-based distance (before exact distances) reported

    @property
    def outside(self) -> np.ndarray:
        return self.true > 0.0

    @property
    def bias(self) -> np.ndarray:  # reported - true, needles outside the structure
        return (self.reported - self.true)[self.outside]

    @property
    def field_bias(self) -> np.ndarray:
        return (self.field_based - self.true)[self.outside]


def field_based_distance(fields: DistanceFields, structure: Structure, entry, tip, radius_mm: float) -> float:
    """The distance as it was computed before: the least field value along the axis (every 0.5 mm) - radius."""
    return float(fields.field(structure).sample(needle_samples(entry, tip)).min()) - float(radius_mm)


def compare(grid: Volume, mask: np.ndarray, structure: Structure, needles, fields: DistanceFields,
            outside: int, crossing: int = 4, tries: int = 400) -> Comparison:
    """Reported vs reference for needles drawn from `needles` until `outside` of them are clear of the
    structure and `crossing` enter it (or `tries` are spent)."""
    rows, counts = [], [0, 0]
    for _, (entry, tip, radius) in zip(range(tries), needles):
        if counts[1] >= crossing and axis_in_mask(grid, mask, entry, tip):
            continue
        truth = reference_distance(grid, mask, entry, tip, radius)
        kind = 0 if truth.distance_mm > 0.0 else 1
        if counts[kind] >= (outside, crossing)[kind]:
            continue
        counts[kind] += 1
        (found,) = needle_structure_distances(entry, tip, radius, fields, [structure])
        gap = float(np.linalg.norm(found.closest_on_structure_lps - found.closest_on_needle_lps))
        off = float(box_distances(grid, *voxel_boxes(grid, mask), found.closest_on_structure_lps[None, :]).min())
        before = field_based_distance(fields, structure, entry, tip, radius)
        rows.append((found.distance_mm, truth.distance_mm, truth.axis_mm, radius, gap, off, before))
        if counts == [outside, crossing]:
            break
    return Comparison(*map(np.asarray, zip(*rows)))


def assert_never_flatters(result: Comparison, spacing, label: str, min_outside: int = 12) -> None:
    half_voxel = max(spacing) / 2.0
    outside = result.outside
    assert outside.sum() >= min_outside, f"{label}: too few needles outside the structure to judge"
    bias = result.bias
    assert bias.max() <= OVERSTATE_MM, f"{label}: a distance overstated by {bias.max():.3f} mm"
    assert -bias.min() <= half_voxel, f"{label}: a distance understated by {-bias.min():.3f} mm"
    # the closest points: on the structure's boxes, as far apart as the distance says
    assert np.all(result.closest_off_mask[outside] < 1e-6), f"{label}: a closest point off the structure"
    assert np.allclose(result.gaps[outside], result.reported[outside], atol=1e-6), label
    crossing = result.axis < result.radius - 0.02  # the capsule clearly enters the structure
    assert np.all(result.reported[crossing] < 0.0), f"{label}: a needle entering the structure is not negative"


@pytest.mark.parametrize("case", BIAS_CASES, ids=lambda c: c.label)
def test_analytic_shapes_never_flatter(case: BiasCase):
    grid = case.grid()
    mask = case.mask(grid)
    structure = Structure.from_mask("spinal_cord", mask)
    needles = random_needles(grid, mask, seed=zlib.crc32(case.label.encode()))
    result = compare(grid, mask, structure, needles, DistanceFields(grid), outside=12 if min(case.spacing) < 1 else 20)
    assert_never_flatters(result, case.spacing, case.label)


def test_the_reference_is_exact_on_a_single_voxel():
    grid = Volume(np.zeros((5, 5, 5), np.int16), (2.0, 1.0, 3.0), (0.0, 0.0, 0.0))
    mask = np.zeros((5, 5, 5), bool)
    mask[2, 2, 2] = True  # the box x 3..5, y 1.5..2.5, z 4.5..7.5
    assert reference_distance(grid, mask, (8.0, 2.0, 6.0), (8.0, 2.0, 9.0), 0.5).distance_mm == pytest.approx(2.5)
    corner = reference_distance(grid, mask, (6.0, 3.5, 8.5), (9.0, 3.5, 8.5), 0.0).axis_mm
    assert corner == pytest.approx(np.sqrt(1 + 1 + 1), abs=1e-9)


# --- the real labelled CT ---------------------------------------------------------------------
def real_ct_structures():
    """(grid, {name: structure}) of the labelled 3 mm abdomen, or a skip when the data is absent."""
    folder = shared_data_path("ct_abdomen_3mm_labels")
    ct = load_image(folder / "ct.nii.gz").volume
    labels = load_label_map(folder / "labels.nii.gz", folder / "labels.json", reference=ct)
    structures = case_structures(Case(ct=ct, source=str(folder)).with_labels(labels))
    return ct, {name: structures[name] for name in ("spinal_cord", "aorta")}


@pytest.fixture(scope="module")
def real_ct():
    return real_ct_structures()


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["spinal_cord", "aorta"])
def test_real_ct_needles_near_the_cord_and_the_aorta_never_flatter(real_ct, name):
    grid, structures = real_ct
    structure = structures[name]
    mask = structure.mask
    needles = random_needles(grid, mask, seed=7 if name == "aorta" else 11)
    result = compare(grid, mask, structure, needles, DistanceFields(grid), outside=24)
    assert_never_flatters(result, grid.spacing, f"real CT {name}", min_outside=24)


def test_a_needle_wholly_inside_a_point_needle_and_an_emptied_structure():
    case = BiasCase("sphere", (1.5, 1.5, 1.5))
    grid = case.grid()
    mask = case.mask(grid)
    fields = DistanceFields(grid)
    sphere = Structure.from_mask("spinal_cord", mask)
    (inside,) = needle_structure_distances((-2.0, 0.0, 0.0), (2.0, 1.0, 0.0), 0.5, fields, [sphere])
    assert inside.distance_mm <= -0.5  # no boundary voxel is crossed, yet the needle is in the structure
    point = np.array([11.0, 3.0, -2.0])  # entry = tip: the distance of a ball
    (ball,) = needle_structure_distances(point, point, 0.5, fields, [sphere])
    assert ball.distance_mm == pytest.approx(reference_distance(grid, mask, point, point, 0.5).distance_mm, abs=1e-6)
    emptied = Structure("spinal_cord", "neural", np.zeros((2, 2, 2), bool), (0, 0, 0), grid.array.shape,
                        (1.0, 1.0, 0.0))
    (far,) = needle_structure_distances(point, point + 5.0, 0.5, fields, [emptied])
    assert far.distance_mm >= fields.margin_mm - 1.0  # the field's "far"
