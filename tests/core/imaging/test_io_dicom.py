"""DICOM series: listing, choosing, geometry (oblique, gaps, tilt), dtype, progress."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures import images as fx
from osteoplan.core.errors import LoadError
from osteoplan.core.imaging.io import (
    LoadedImage, SeriesSummary, SeveralSeriesError, describe_image, list_dicom_series, load_dicom_series, load_image,
    load_image_file,
)


def test_plain_series_loads_with_hu_geometry_and_info(tmp_path):
    files = fx.make_ct_series(tmp_path, origin=(-11.2, 30.0, -600.0))
    loaded = load_dicom_series(tmp_path)
    assert isinstance(loaded, LoadedImage) and loaded.warnings == ()
    volume = loaded.volume
    assert volume.array.dtype == np.int16
    assert volume.size == (32, 32, 10)
    assert volume.spacing == pytest.approx((0.7, 0.7, 2.0))
    assert volume.origin == pytest.approx((-11.2, 30.0, -600.0))
    np.testing.assert_array_equal(volume.array, fx.body_phantom((10, 32, 32)))  # HU after rescale
    info = volume.info
    assert (info.uid, info.description, info.modality) == ("1.2.826.0.1.3680043.2.1125.1.2", "Test series", "CT")
    assert (info.patient_name, info.patient_id, info.study_date) == ("Test^Patient", "P0001", "20240131")
    assert info.path == str(tmp_path)
    for k, name in enumerate(files):
        np.testing.assert_allclose(volume.index_to_lps((0, 0, k)), fx.read_position(name), atol=1e-3)


def test_int16_stored_range_reads_directly_and_matches(tmp_path):
    fx.make_ct_series(tmp_path / "a", rescale_intercept=0.0)  # stored range fits int16: read in one go
    fx.make_ct_series(tmp_path / "b")  # int16 stored + intercept: read in checked chunks
    a, b = load_image(tmp_path / "a").volume, load_image(tmp_path / "b").volume
    assert a.array.dtype == b.array.dtype == np.int16
    np.testing.assert_array_equal(a.array, b.array)
    assert a.array.flags.writeable


def test_values_beyond_int16_become_float32(tmp_path):
    fx.make_wide_series(tmp_path)
    array = load_dicom_series(tmp_path).volume.array
    assert array.dtype == np.float32
    assert set(np.unique(array)) == {-1000.0, 40.0, 700.0, 40000.0}


def test_fractional_rescale_gives_float32_never_float64(tmp_path):
    fx.make_scaled_series(tmp_path)
    array = load_dicom_series(tmp_path).volume.array
    assert array.dtype == np.float32
    assert array[:, 0, 0] == pytest.approx(1.25)


def test_list_series_is_header_only_and_complete(tmp_path):
    ct, thin = fx.make_two_series(tmp_path)
    series = {s.uid: s for s in list_dicom_series(tmp_path)}
    assert len(series) == 2
    body = series["1.2.826.0.1.3680043.2.1125.2.1"]
    assert isinstance(body, SeriesSummary)
    assert (body.description, body.modality, body.n_slices, body.size) == ("Body 3 mm", "CT", 10, (32, 32, 10))
    assert body.spacing == pytest.approx((0.7, 0.7, 2.0))
    assert body.direction == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    assert body.file_names == tuple(str(f) for f in ct)
    assert (body.patient_name, body.study_date) == ("Test^Patient", "20240131")
    assert series["1.2.826.0.1.3680043.2.1125.2.2"].size == (28, 24, 12)


def test_several_series_must_be_chosen(tmp_path):
    fx.make_two_series(tmp_path)
    with pytest.raises(SeveralSeriesError) as caught:
        load_dicom_series(tmp_path)
    error = caught.value
    assert isinstance(error, LoadError) and len(error.series) == 2
    message = str(error)
    for text in ("2 DICOM series", "1.2.826.0.1.3680043.2.1125.2.1", "Body 3 mm", "Bone 1 mm", "CT", "12 slice(s)",
                 "28 x 24 x 12"):
        assert text in message
    chosen = load_image(tmp_path, series_uid="1.2.826.0.1.3680043.2.1125.2.2").volume
    assert chosen.size == (28, 24, 12) and chosen.info.description == "Bone 1 mm"
    with pytest.raises(LoadError, match="no DICOM series with UID 9.9.9"):
        load_dicom_series(tmp_path, series_uid="9.9.9")


def test_series_in_subfolders_are_found(tmp_path):
    fx.make_ct_series(tmp_path / "patient" / "series1")
    loaded = load_dicom_series(tmp_path)
    assert loaded.volume.size == (32, 32, 10)
    fx.write_dicom_series(tmp_path / "patient" / "series2", fx.body_phantom((6, 32, 32)), modality="MR",
                          series_uid="1.2.826.0.1.3680043.2.1125.9.9", rescale_intercept=0.0)
    assert {s.modality for s in list_dicom_series(tmp_path)} == {"CT", "MR"}


def test_series_split_over_folders_is_merged_in_order(tmp_path):
    positions = fx.slice_positions(10, origin=(0, 0, -40), gap=2.0)
    array = fx.ramp_phantom((10, 16, 16), positions[:, 2])
    fx.write_dicom_series(tmp_path / "part2", array[5:], positions=positions[5:], prefix="X")
    fx.write_dicom_series(tmp_path / "part1", array[:5], positions=positions[:5], prefix="Y")
    (summary,) = list_dicom_series(tmp_path)
    assert summary.n_slices == 10
    volume = load_dicom_series(tmp_path).volume
    assert volume.origin == pytest.approx((0, 0, -40))
    np.testing.assert_array_equal(volume.array, array)


def test_oblique_series_index_to_lps_matches_every_slice_position(tmp_path):
    files = fx.make_oblique_series(tmp_path)
    volume = load_dicom_series(tmp_path).volume
    assert not np.allclose(volume.direction, np.eye(3))
    assert volume.spacing[2] == pytest.approx(2.5)
    for k, name in enumerate(files):
        np.testing.assert_allclose(volume.index_to_lps((0, 0, k)), fx.read_position(name), atol=1e-3)
    summary = list_dicom_series(tmp_path)[0]
    np.testing.assert_allclose(np.reshape(summary.direction, (3, 3)), volume.direction, atol=1e-6)


def test_single_dicom_file_loads_its_series(tmp_path):
    files = fx.make_ct_series(tmp_path, extension="")  # extensionless, as many scanners write them
    volume = load_image_file(files[3]).volume
    assert volume.size == (32, 32, 10)


def test_single_dicom_file_picks_its_own_series_among_several(tmp_path):
    _, thin = fx.make_two_series(tmp_path)
    assert load_image(thin[2]).volume.info.description == "Bone 1 mm"


def test_missing_slice_is_interpolated_at_its_true_position(tmp_path):
    files, z_written = fx.make_missing_slice_series(tmp_path, missing=(4,))
    loaded = load_dicom_series(tmp_path)
    volume = loaded.volume
    assert len(loaded.warnings) == 1
    warning = loaded.warnings[0]
    assert "not uniform" in warning and "2.00 mm x7" in warning and "4.00 mm x1" in warning
    assert "10 slices 2.00 mm apart" in warning and "missing" in warning
    assert volume.size[2] == 10 and volume.spacing[2] == pytest.approx(2.0)
    for k in range(volume.size[2]):  # the ramp is 100 + 10 HU per mm of z: every slice holds its own z's value
        z = volume.index_to_lps((0, 0, k))[2]
        assert volume.array[k, 0, 0] == pytest.approx(100 + 10 * z, abs=0.5)
    for name in files:  # every original slice is on the grid, at its position
        k = volume.lps_to_index(fx.read_position(name))[2]
        assert k == pytest.approx(round(k), abs=1e-6)


def test_irregular_spacing_resampled_to_median_gap(tmp_path):
    fx.make_nonuniform_series(tmp_path, z_positions=(0, 2, 4, 5, 6, 8, 10, 13, 14, 16, 18))
    loaded = load_dicom_series(tmp_path)
    volume = loaded.volume
    assert volume.spacing[2] == pytest.approx(2.0) and volume.size[2] == 10
    assert "1.00 mm x3" in loaded.warnings[0] and "3.00 mm x1" in loaded.warnings[0]
    z = volume.index_to_lps(np.stack([np.zeros(10), np.zeros(10), np.arange(10)], axis=1))[:, 2]
    np.testing.assert_allclose(volume.array[:, 5, 5], 100 + 10 * z, atol=0.5)


def test_structure_at_known_z_lands_at_right_lps_z(tmp_path):
    z = np.array([-30.0, -28.0, -26.0, -22.0, -20.0, -17.0, -16.0, -14.0])
    positions = np.stack([np.zeros(len(z)), np.zeros(len(z)), z], axis=1)
    fx.write_dicom_series(tmp_path, fx.body_phantom((len(z), 32, 32), marker_slice=4), positions=positions)
    volume = load_dicom_series(tmp_path).volume
    k = int(np.argmax(volume.array[:, 16, 16]))
    assert volume.array[k, 16, 16] == 2000
    assert volume.index_to_lps((16, 16, k))[2] == pytest.approx(-20.0, abs=1e-3)


def test_gantry_tilt_warns_with_angle(tmp_path):
    fx.make_tilted_series(tmp_path, tilt_deg=15.0)
    loaded = load_dicom_series(tmp_path)
    assert loaded.volume.size == (32, 32, 10)
    (warning,) = loaded.warnings
    assert "gantry tilt of 15.0 degrees" in warning and "loaded as-is" in warning


def test_mr_series_loads_with_warning(tmp_path):
    fx.make_mr_series(tmp_path)
    loaded = load_dicom_series(tmp_path)
    assert loaded.volume.modality == "MR"
    assert any("MR" in w and "Hounsfield" in w for w in loaded.warnings)


def test_single_slice_series_is_refused_as_2d(tmp_path):
    files = fx.make_single_slice_series(tmp_path)
    with pytest.raises(LoadError, match="2-D image"):
        load_dicom_series(tmp_path)
    with pytest.raises(LoadError, match="2-D image"):
        load_image_file(files[0])


def test_truncated_file_in_series_is_named(tmp_path):
    fx.make_truncated_dicom_series(tmp_path)
    loaded = load_dicom_series(tmp_path)
    assert any("IM0006.dcm" in w for w in loaded.warnings)
    assert any("missing" in w for w in loaded.warnings)  # and the hole it leaves is interpolated, not ignored


def test_slices_of_several_sizes_are_refused_with_counts(tmp_path):
    fx.make_mixed_size_series(tmp_path)
    with pytest.raises(LoadError) as caught:
        load_dicom_series(tmp_path)
    assert "do not all have the same size (5 of 32 x 32, 5 of 24 x 24 pixels)" in str(caught.value)


def test_localizer_mixed_into_series_is_refused(tmp_path):
    fx.make_mixed_orientation_series(tmp_path)
    with pytest.raises(LoadError, match="do not share one orientation.*localizer"):
        load_dicom_series(tmp_path)


def test_progress_reports_and_can_cancel(tmp_path):
    fx.make_ct_series(tmp_path / "a", rescale_intercept=0.0)
    fx.make_ct_series(tmp_path / "b")
    for folder in ("a", "b"):
        seen = []
        load_dicom_series(tmp_path / folder, progress=lambda f, m: seen.append((f, m)))
        fractions = [f for f, _ in seen]
        assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
        assert all(isinstance(m, str) and m for _, m in seen)

    class Cancelled(Exception):
        pass

    def cancel(fraction, message):
        if fraction > 0.1:
            raise Cancelled

    with pytest.raises(Cancelled):
        load_dicom_series(tmp_path / "a", progress=cancel)


def test_no_itk_console_noise(tmp_path, capfd):
    fx.make_nonuniform_series(tmp_path / "irregular")
    fx.make_tilted_series(tmp_path / "tilt")
    load_image(tmp_path / "irregular")
    load_image(tmp_path / "tilt")
    assert capfd.readouterr().err == ""


def test_describe_folder_lists_every_series(tmp_path):
    fx.make_two_series(tmp_path)
    info = describe_image(tmp_path)
    assert [s["size"] for s in info["series"]] == [[32, 32, 10], [28, 24, 12]]
    assert info["series"][0]["hu_range"] == [-1000.0, 700.0]
    assert info["series"][1]["uid"] == "1.2.826.0.1.3680043.2.1125.2.2"


def test_files_without_series_uid_are_split_by_position_gap_and_by_series_fields(tmp_path):
    """GDCM puts every file without a SeriesInstanceUID into one series: two scans 200 mm apart would load as one
    volume interpolated across the gap. They are split, each loads on its own, and a plan can name one."""
    array = fx.body_phantom((20, 32, 32))
    fx.write_dicom_series(tmp_path / "gap", array, series_uid="", origin=(0, 0, 0), prefix="A")
    fx.write_dicom_series(tmp_path / "gap", array, series_uid="", origin=(0, 0, 200), prefix="B")
    series = list_dicom_series(tmp_path / "gap")
    assert [s.n_slices for s in series] == [20, 20]
    assert sorted(round(s.extent_mm[0]) for s in series) == [0, 200]
    assert series[0].label() != series[1].label(), "the chooser can tell them apart"
    with pytest.raises(SeveralSeriesError):
        load_dicom_series(tmp_path / "gap")
    chosen = next(s for s in series if round(s.extent_mm[0]) == 200)
    volume = load_dicom_series(tmp_path / "gap", chosen.uid).volume
    assert volume.size[2] == 20 and volume.origin[2] == pytest.approx(200.0) and volume.info.uid == chosen.uid
    assert [s.uid for s in list_dicom_series(tmp_path / "gap")] == [s.uid for s in series], "stable UIDs"
    # two reconstructions of one scan (same positions), told apart by their series number
    fx.write_dicom_series(tmp_path / "two", array, series_uid="", series_number=2, prefix="S2")
    fx.write_dicom_series(tmp_path / "two", array, series_uid="", series_number=3, prefix="S3")
    assert [s.n_slices for s in list_dicom_series(tmp_path / "two")] == [20, 20]
    # one series without UID loads as before, under its made-up UID
    fx.write_dicom_series(tmp_path / "one", array, series_uid="")
    assert load_dicom_series(tmp_path / "one").volume.info.uid.startswith("no-uid:")
