"""Virtual fluoroscopy: the C-arm geometry and the DRR (core, no Qt)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from osteoplan.core.fluoro.drr import (
    CArm,
    attenuation_volume,
    bulls_eye_angles,
    compute_drr,
    drr_display,
    mask_projection,
    project_points,
)
from osteoplan.core.imaging.volume import Volume

SPACING = 1.5  # the attenuation grid's own voxel size: no block averaging blurs the bead
BEAD_INDEX = (40, 22, 27)  # (i, j, k) of the bead's first voxel; 2x2x2 voxels


def bead_phantom() -> tuple[Volume, np.ndarray]:
    """Water in a 64^3 box with a 2x2x2 metal bead off-centre in all three axes; the bead's centre (LPS)."""
    array = np.zeros((64, 64, 64), dtype=np.int16)
    i, j, k = BEAD_INDEX
    array[k:k + 2, j:j + 2, i:i + 2] = 8000
    ct = Volume(array, (SPACING,) * 3, (-47.25, -47.25, -47.25))
    centre = ct.index_to_lps(np.array(BEAD_INDEX, dtype=float) + 0.5)
    return ct, centre


def pinhole_pixel(point, iso, rotation_deg, angulation_deg, sid, sod, pixel_mm, pixels) -> tuple[float, float]:
    """Hand-written pinhole camera of the documented C-arm convention: AP looks along +y with the
    patient's left (+x) on screen right and superior up; the C-arm turns about z (rotation, source
    towards +x for positive angles), then tilts about its own left-right axis (angulation, source
    towards +z)."""
    a, b = math.radians(rotation_deg), math.radians(angulation_deg)
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, math.cos(-b), -math.sin(-b)], [0, math.sin(-b), math.cos(-b)]])
    turn = rz @ rx
    beam, right, up = turn @ [0, 1, 0], turn @ [1, 0, 0], turn @ [0, 0, 1]
    source = np.asarray(iso) - sod * beam
    ray = np.asarray(point) - source
    depth = ray @ beam
    u_mm, v_mm = sid * (ray @ right) / depth, sid * (ray @ up) / depth
    return (pixels[0] - 1) / 2 + u_mm / pixel_mm, (pixels[1] - 1) / 2 - v_mm / pixel_mm


@pytest.mark.parametrize("rotation, angulation", [(0.0, 0.0), (90.0, 0.0), (-90.0, 0.0), (30.0, 20.0), (-35.0, -25.0)])
def test_a_metal_bead_projects_to_the_pinhole_pixel(rotation, angulation):
    ct, bead = bead_phantom()
    iso = (3.0, -4.0, 2.0)
    carm = CArm(isocentre_lps=iso, rotation_deg=rotation, angulation_deg=angulation, sid_mm=1000.0, sod_mm=600.0,
                detector_mm=(300.0, 225.0), pixels=(256, 192))
    drr = compute_drr(attenuation_volume(ct), carm)
    assert drr.line_integral.shape == (192, 256)
    expected_col, expected_row = pinhole_pixel(bead, iso, rotation, angulation, 1000.0, 600.0, 300.0 / 256, (256, 192))
    # the bead is the darkest spot: the largest line integral (water alone is smooth)
    row, col = np.unravel_index(np.argmax(drr.line_integral), drr.line_integral.shape)
    assert abs(col - expected_col) <= 1.0 and abs(row - expected_row) <= 1.0, (col, row, expected_col, expected_row)
    assert drr_display(drr)[row, col] < 60  # metal is black in the clinical display
    # and the projection matrix the overlays use agrees with the hand-written pinhole
    projected = project_points(drr.projection, bead)[0]
    assert np.allclose(projected, (expected_col, expected_row), atol=1e-6)


def test_the_line_integral_is_mu_times_the_path_length():
    ct = Volume(np.zeros((40, 40, 40), dtype=np.int16), (1.5, 1.5, 1.5), (-29.25, -29.25, -29.25))  # water cube 60 mm
    carm = CArm(rotation_deg=0.0, sid_mm=1000.0, sod_mm=700.0, detector_mm=(200.0, 200.0), pixels=(64, 64))
    drr = compute_drr(attenuation_volume(ct), carm)
    centre = drr.line_integral[31:33, 31:33].mean()
    assert centre == pytest.approx(0.02 * 60.0, rel=0.03)  # mu_water 0.02/mm across 60 mm
    assert not drr.covered[0, 0] and drr.line_integral[0, 0] == 0.0  # this corner's ray misses the cube


def test_air_does_not_attenuate():
    ct = Volume(np.full((20, 20, 20), -1000, dtype=np.int16), (1.5,) * 3, (-15.0, -15.0, -15.0))
    drr = compute_drr(attenuation_volume(ct), CArm(pixels=(32, 32)))
    assert np.abs(drr.line_integral).max() < 1e-6


def test_bulls_eye_angles_put_entry_and_target_on_one_pixel():
    entry, target = np.array([29.1, 98.5, 12.3]), np.array([11.1, -5.7, 2.9])
    rotation, angulation = bulls_eye_angles(entry, target)
    carm = CArm(isocentre_lps=tuple(target), rotation_deg=rotation, angulation_deg=angulation)
    entry_px, target_px = project_points(carm.projection_matrix(), [entry, target])
    assert np.linalg.norm(entry_px - target_px) < 1e-6
    assert np.allclose(target_px, (np.array(carm.pixels) - 1) / 2)  # on the central ray
    assert abs(rotation) < 20 and abs(angulation) < 10  # an ipsilateral AP oblique, source anterior
    # a point off the needle's line does not fall there
    assert np.linalg.norm(project_points(carm.projection_matrix(), entry + [5.0, 0, 0])[0] - entry_px) > 3


def test_mask_projection_counts_voxels_on_their_pixels():
    ct, bead = bead_phantom()
    mask = np.zeros((4, 4, 4), dtype=bool)
    mask[1:3, 1:3, 1:3] = True
    start_kji = tuple(np.array(BEAD_INDEX[::-1]) - 1)  # the bead's voxels
    carm = CArm(pixels=(512, 512))  # a voxel is ~4 pixels wide on the detector
    image = mask_projection(carm.projection_matrix(), ct, start_kji, mask, carm.pixels)
    assert image.sum() == pytest.approx(8.0, rel=1e-3)  # spread over the magnified voxels, not lost
    rows, cols = np.indices(image.shape)
    col, row = project_points(carm.projection_matrix(), bead)[0]
    centroid = np.array([(image * cols).sum(), (image * rows).sum()]) / image.sum()
    assert np.allclose(centroid, (col, row), atol=0.5)
    # a solid block projects as a solid patch: no dotted grid between the voxel centres
    core = image[int(round(row)) - 1:int(round(row)) + 2, int(round(col)) - 1:int(round(col)) + 2]
    assert core.min() > 0.2 * core.max()
