"""The femurs and hip bones found on a real pelvis CT without labels, and a synthetic hip joint."""

from __future__ import annotations

import numpy as np

from osteoplan.core.imaging.pelvis import femur_mask, find_femoral_heads, hip_mask
from osteoplan.core.planning.trajectory import TrajectoryKind


def _synthetic_hip(spacing: float = 2.0):
    """A femoral head (sphere of 22 mm, cancellous 250 HU in a 700 HU shell) in an acetabular cup (700 HU)
    across a 2 mm cartilage joint (100 HU), a neck leaving it downwards and laterally, in muscle (40 HU)."""
    shape = (70, 80, 110)
    zz, yy, xx = np.mgrid[:shape[0], :shape[1], :shape[2]].astype(float) * spacing
    centre = np.array([80.0, 80.0, 150.0])  # mm (z, y, x): 75 mm left of the "canal" at x = 75 mm
    r = np.sqrt((zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2)
    hu = np.full(shape, 40.0)
    hu[r <= 22] = 250
    hu[(r > 20) & (r <= 22)] = 700
    cup = (r > 24) & (r <= 30) & (zz > centre[0] - 5)
    hu[cup] = 700
    axis = np.array([-0.6, -0.25, 0.75]) / np.linalg.norm([-0.6, -0.25, 0.75])
    offset = np.stack([zz - centre[0], yy - centre[1], xx - centre[2]], -1)
    along = offset @ axis
    across = np.linalg.norm(offset - along[..., None] * axis, axis=-1)
    hu[(along > 0) & (along < 70) & (across <= 14) & (r > 22)] = 400
    bone = hu >= 150
    return hu.astype(np.int16), bone, centre / spacing, spacing


def test_the_fitted_head_follows_a_synthetic_hip_joint_and_its_femur_leaves_the_cup_out():
    hu, bone, centre, spacing = _synthetic_hip()
    heads = find_femoral_heads(hu, bone, sacrum_top=hu.shape[0] - 1, canal_x=75.0 / spacing, spacing=spacing)
    assert [h.side for h in heads] == ["left"], "one head, on the patient's left (+x)"
    head = heads[0]
    assert np.linalg.norm((head.centre - centre) * spacing) <= 2.5 and abs(head.radius_mm - 23.0) <= 2.0
    assert head.metal_hu is None
    femur = femur_mask(bone, head, spacing)
    cup = bone & ~femur
    assert (femur & (hu == 400)).sum() >= 0.9 * (hu == 400).sum(), "the neck is the femur's"
    assert (cup & (hu == 700)).sum() >= 0.8 * ((hu == 700) & ~femur).sum() and not (femur & ~bone & ~(hu > 0)).any()
    # the cup is not the femur: its voxels beyond the head's sphere stay out
    zz, yy, xx = np.mgrid[:hu.shape[0], :hu.shape[1], :hu.shape[2]]
    r = np.sqrt(((zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2)) * spacing
    assert not (femur & (r > 25) & (zz * spacing > centre[0] * spacing)).any()
    hip = hip_mask(bone, femur, "left", hu.shape[0] - 1, 75.0 / spacing, spacing)
    assert hip is not None and (hip & (r > 24) & (r <= 30)).sum() > 0.8 * (cup & (r > 24) & (r <= 30)).sum()


def test_the_real_pelvis_ct_has_both_femurs_in_their_acetabula_and_both_hip_bones(pelvis):
    structures, ct = pelvis.structures, pelvis.case.ct
    for side, sign in (("left", 1), ("right", -1)):
        femur, hip = structures[f"femur_{side}"].mask, structures[f"hip_{side}"].mask
        assert structures[f"femur_{side}"].category == "bone" and structures[f"hip_{side}"].source == "auto"
        assert not (femur & hip).any()
        # on its own side of the body, lateral of the sacrum
        centre = ct.index_to_lps(np.argwhere(femur).mean(axis=0)[::-1])
        sacrum = ct.index_to_lps(np.argwhere(structures["sacrum"].mask).mean(axis=0)[::-1])
        assert sign * (centre[0] - sacrum[0]) > 60
        # the head sits in the acetabulum: the hip bone's roof is right above the femur's top
        top = np.flatnonzero(femur.any(axis=(1, 2))).max()
        j, i = np.argwhere(femur[top]).mean(axis=0).round().astype(int)
        above = np.flatnonzero(hip[top:top + 5, j - 2:j + 3, i - 2:i + 3].any(axis=(1, 2)))
        assert len(above), f"{side}: no acetabular roof within 15 mm above the head"
        # volumes of an adult's femoral head and neck (part of the shaft scanned) and of a hip bone
        assert 50 < femur.sum() * 27 / 1000 < 250 and 250 < hip.sum() * 27 / 1000 < 900
    notes = " ".join(pelvis.case.automatic.notes)
    assert "Metal in the left femoral head" in notes, "the left hip prosthesis is reported"


def test_a_needle_tip_in_the_real_right_femoral_head_reads_femur(pelvis):
    femur = pelvis.structures["femur_right"].mask
    ct = pelvis.case.ct
    top = np.flatnonzero(femur.any(axis=(1, 2))).max()
    k = top - 5  # 15 mm under the head's top: inside it
    tip = ct.index_to_lps(np.array([*np.argwhere(femur[k]).mean(axis=0)[::-1], k]))
    path = pelvis.new_trajectory(tip + [-80, 0, -40], tip, TrajectoryKind.FREE, device_id="trocar-11g-150")
    pelvis.editor.add_trajectory(path)
    assert pelvis.engine.compute(path, pelvis.device(path.device)).tip_tissue == "femur_right"
