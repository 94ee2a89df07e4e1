import numpy as np
import SimpleITK as sitk
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from osteoplan.core.imaging.volume import Volume

finite = st.floats(-500, 500, allow_nan=False)


def _oblique_volume(angles, spacing=(0.7, 0.9, 2.5), origin=(-120.0, 35.0, 410.0)) -> Volume:
    direction = Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
    return Volume(np.zeros((4, 5, 6), dtype=np.int16), spacing, origin, direction)


@settings(max_examples=60, deadline=None)
@given(st.tuples(finite, finite, finite), st.tuples(st.floats(-180, 180), st.floats(-90, 90), st.floats(-180, 180)))
def test_index_to_lps_matches_simpleitk_for_any_orientation(ijk, angles):
    volume = _oblique_volume(angles)
    image = volume.to_sitk()
    expected = image.TransformContinuousIndexToPhysicalPoint(tuple(float(v) for v in ijk))
    np.testing.assert_allclose(volume.index_to_lps(ijk), expected, atol=1e-6)
    np.testing.assert_allclose(volume.lps_to_index(expected), ijk, atol=1e-6)


def test_sitk_round_trip_keeps_geometry_and_array_order():
    array = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    volume = Volume(array, (0.5, 0.6, 2.0), (1.0, 2.0, 3.0), Rotation.from_euler("z", 30, degrees=True).as_matrix())
    back = Volume.from_sitk(volume.to_sitk())
    assert back.size == (6, 5, 4)
    assert back.same_grid(volume)
    np.testing.assert_array_equal(back.array, array)
    # voxel (i=2, j=3, k=1) holds array[1, 3, 2]
    assert back.value_at_lps(volume.index_to_lps((2, 3, 1))) == array[1, 3, 2]


def test_value_outside_the_grid_is_none_and_bounds_hold_all_centres():
    volume = _oblique_volume((10, 20, 30))
    assert volume.value_at_lps(volume.index_to_lps((-3, 0, 0))) is None
    low, high = volume.bounds_lps()
    centres = volume.index_to_lps(np.argwhere(np.ones((6, 5, 4))))
    assert np.all(centres >= low - 1e-9) and np.all(centres <= high + 1e-9)


def test_rejects_non_3d_arrays_and_bad_spacing():
    for bad in (dict(array=np.zeros((3, 3))), dict(array=np.zeros((2, 2, 2)), spacing=(1, 0, 1))):
        kwargs = dict(array=np.zeros((2, 2, 2)), spacing=(1, 1, 1), origin=(0, 0, 0)) | bad
        try:
            Volume(**kwargs)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad}")


def test_from_sitk_keeps_compact_dtype():
    image = sitk.Image(3, 4, 5, sitk.sitkInt16)
    assert Volume.from_sitk(image).array.dtype == np.int16


def test_bounds_above_frames_the_bright_voxels_only():
    array = np.full((20, 30, 40), -1000, dtype=np.int16)
    array[8:12, 4:20, 16:24] = 800
    volume = Volume(array, (1.0, 1.0, 2.0), (0.0, 0.0, 0.0))
    low, high = volume.bounds_above(500, stride=4)
    assert np.all(low >= [16 - 4, 4 - 4, 2 * (8 - 4)]) and np.all(high <= [24, 20, 2 * 12])
    assert np.all(high - low < [20, 30, 20])
    np.testing.assert_allclose(volume.bounds_above(5000)[1], volume.bounds_lps()[1])


def test_binning_averages_blocks_and_keeps_the_extent():
    array = np.zeros((8, 8, 8), dtype=np.int16)
    array[:, :, :4] = 100
    volume = Volume(array, (0.5, 0.5, 0.5), (10.0, 20.0, 30.0))
    coarse = volume.binned((2, 2, 2))
    assert coarse.size == (4, 4, 4) and coarse.spacing == (1.0, 1.0, 1.0)
    assert coarse.array[0, 0, 0] == 100 and coarse.array[0, 0, 3] == 0
    low, high = volume.bounds_lps()
    c_low, c_high = coarse.bounds_lps()
    # voxel-centre boxes differ by half a fine voxel minus half a coarse one on each side
    np.testing.assert_allclose(c_low - low, 0.25) and np.testing.assert_allclose(high - c_high, 0.25)


def test_binning_budget_coarsens_fine_axes_first():
    volume = Volume(np.zeros((20, 512, 512), dtype=np.int16), (0.5, 0.5, 3.0), (0, 0, 0))
    factors = volume.binning_for_budget(1_000_000)
    assert factors[2] == 1 and factors[0] == factors[1] > 1
    assert int(np.prod([n // f for n, f in zip(volume.size, factors)])) <= 1_000_000
    assert volume.binning_for_budget(10**9) == (1, 1, 1)
