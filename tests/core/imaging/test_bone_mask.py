"""Bone without labels adapts to osteoporotic patients: cancellous bone of 80-150 HU counts as bone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from osteoplan.core.imaging.automatic import with_automatic_anatomy
from osteoplan.core.imaging.bone_fields import hu_bone_mask
from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.io import load_image
from osteoplan.core.imaging.spine import find_canal
from osteoplan.core.planning.templates import bilateral_transpedicular
from osteoplan.core.planning.trajectory import TrajectoryKind
from osteoplan.core.session import PlanSession
from tests.conftest import shared_data_path


def _osteoporotic_vertebra(marrow_hu: float) -> np.ndarray:
    """Axial slices of a round body (cortex 2 mm at 400 HU, marrow `marrow_hu`) with a canal (15 HU) behind it,
    in muscle (40 HU), at 1 mm voxels, with noise."""
    rng = np.random.default_rng(3)
    k, j, i = np.mgrid[:20, :80, :80]
    array = np.full((20, 80, 80), 40.0) + rng.normal(0, 15, (20, 80, 80))
    body = (i - 40) ** 2 + (j - 30) ** 2
    array[body <= 18 ** 2] = 400
    array[body <= 16 ** 2] = marrow_hu + rng.normal(0, 15, (body <= 16 ** 2).sum())
    ring = (i - 40) ** 2 + (j - 58) ** 2
    array[(ring <= 12 ** 2) & (body > 18 ** 2)] = 400  # the arch around the canal
    array[ring <= 9 ** 2] = 15
    return array.astype(np.int16)


@pytest.mark.parametrize("marrow_hu", [85, 110, 140])
def test_osteoporotic_marrow_is_bone_and_the_canal_is_not(marrow_hu):
    array = _osteoporotic_vertebra(marrow_hu)
    mask = hu_bone_mask(array, (1.0, 1.0, 1.0))
    k, j, i = np.mgrid[:20, :80, :80]
    marrow = (i - 40) ** 2 + (j - 30) ** 2 <= 14 ** 2
    canal = (i - 40) ** 2 + (j - 58) ** 2 <= 7 ** 2
    assert mask[marrow].mean() > 0.97
    assert mask[canal].mean() < 0.02
    muscle = ((i - 40) ** 2 + (j - 30) ** 2 >= 24 ** 2) & ((i - 40) ** 2 + (j - 58) ** 2 >= 16 ** 2)
    assert mask[muscle].mean() < 0.02  # the muscle around it


def test_muscle_and_fat_stay_out():
    array = _osteoporotic_vertebra(60)  # "marrow" at muscle density: not bone
    mask = hu_bone_mask(array, (1.0, 1.0, 1.0))
    k, j, i = np.mgrid[:20, :80, :80]
    assert mask[(i - 40) ** 2 + (j - 30) ** 2 <= 12 ** 2].mean() < 0.05


def test_the_automatic_bone_finds_the_labelled_vertebrae_of_a_real_ct():
    folder = shared_data_path("ct_abdomen_3mm_labels")
    ct = load_image(folder / "ct.nii.gz").volume
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "labels.nii.gz")))
    names = {int(k): v for k, v in json.loads((folder / "labels.json").read_text()).items()}
    vertebrae = np.isin(labels, [v for v, n in names.items() if n.startswith("vertebrae_")])
    cord = labels == next(v for v, n in names.items() if n == "spinal_cord")
    mask = hu_bone_mask(ct.array, ct.spacing[::-1], find_canal(ct).mask)
    plain = ct.array >= 150
    assert (mask & vertebrae).sum() / vertebrae.sum() >= 0.95  # the goal of the issue; 150 HU alone: ~0.5
    assert (plain & vertebrae).sum() / vertebrae.sum() < 0.6
    assert (mask & cord).sum() <= 0.01 * cord.sum()


def test_pedicle_templates_on_the_real_pelvis_ct_reach_the_body_through_bone():
    ct = load_image(shared_data_path("ct_abdomen_pelvis_3mm", "ct.nii.gz")).volume
    session = PlanSession(with_automatic_anatomy(Case(ct=ct, source="ct_abdomen_pelvis_3mm")))
    canal = session.structures["spinal_canal"].mask
    device = session.default_device(TrajectoryKind.TRANSPEDICULAR)
    grades, bone_mm, tips = [], [], []
    for k in (72, 76):  # L3, at its pedicles
        centre = ct.index_to_lps(np.array([*np.argwhere(canal[k]).mean(axis=0)[::-1], k], dtype=float))
        paths = bilateral_transpedicular(session.case, centre + [0, -25, 0], device.length_mm,
                                         new_id=session.plan.id_factory("t"), device_id=device.id,
                                         radius_mm=device.radius_mm, structures=session.engine.structures)
        assert {p.side.value for p in paths} == {"left", "right"}
        for path in paths:
            readout = session.engine.compute(path, device)
            grades.append(readout.breach_grade)
            bone_mm.append(readout.bone_path_mm)
            tips.append(readout.tip_description)
            # the same path stopped short, its tip at the posterior cortex it entered by: cortex
            entry = np.asarray(path.entry_lps)
            along = entry + np.linspace(0.0, 1.0, 400)[:, None] * (np.asarray(path.target_lps) - entry)
            first_in_bone = along[np.argmax(session.engine.masks.fractions(along)[:, 1] >= 0.5)]
            assert session.engine.bone_compartment_at(first_in_bone + 0.5 * path.axis) == "cortical"
            assert session.engine.bone_compartment_at(path.entry_lps) is None, "the entry is not in bone"
    assert set(grades) <= {"A", "B"}
    assert min(bone_mm) >= 40.0  # was 22-31 mm when marrow read as soft tissue
    # in the named (automatic) vertebra, in its cancellous body
    assert set(tips) <= {"vertebrae_L3 (cancellous)", "cancellous bone"}


def test_automatic_vertebrae_leave_the_femoral_neck_template_its_ct_bone():
    """Automatic vertebrae are bone labels; a femoral-neck template without a femur label still plans on the CT."""
    from osteoplan.core.planning.templates import femoral_neck_paths

    ct = load_image(shared_data_path("ct_abdomen_pelvis_3mm", "ct.nii.gz")).volume
    session = PlanSession(with_automatic_anatomy(Case(ct=ct, source="ct_abdomen_pelvis_3mm")))
    assert any(n.startswith("vertebrae_L") for n in session.case.labels.names.values())
    device = session.default_device(TrajectoryKind.TRANSCORTICAL)
    paths = femoral_neck_paths(session.case, np.array([-75.0, -120.0, 125.0]), device.length_mm,
                               new_id=session.plan.id_factory("t"), device_id=device.id,
                               structures=session.engine.structures)
    assert len(paths) == 2


def test_the_fast_closing_gives_itk_s_voxels_also_at_the_image_edge():
    import SimpleITK as sitk

    from osteoplan.core.imaging.bone_fields import _closed_in_its_box

    rng = np.random.default_rng(1)
    for shape in [(20, 30, 40), (5, 64, 64)]:
        mask = rng.random(shape) > 0.7
        mask[:, :, 0] = True  # touching the edge: ITK's safe border keeps it
        itk = sitk.BinaryMorphologicalClosing(sitk.GetImageFromArray(mask.astype(np.uint8)), (1, 1, 1))
        assert np.array_equal(sitk.GetArrayFromImage(itk).astype(bool), _closed_in_its_box(mask))
    assert not _closed_in_its_box(np.zeros((4, 4, 4), bool)).any()
