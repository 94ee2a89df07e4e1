"""The aorta and IVC found on a contrast-enhanced CT; no vessel guessed without contrast."""

from __future__ import annotations

import json

import numpy as np
import SimpleITK as sitk

from osteoplan.core.imaging.automatic import with_automatic_anatomy
from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.io import load_image
from osteoplan.core.planning.trajectory import TrajectoryKind
from osteoplan.core.safety.warnings import Severity
from osteoplan.core.session import PlanSession
from tests.conftest import shared_data_path


def _crop():
    folder = shared_data_path("ct_abdomen_3mm_labels")
    ct = load_image(folder / "ct.nii.gz").volume
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "labels.nii.gz")))
    names = {n: int(k) for k, n in json.loads((folder / "labels.json").read_text()).items()}
    return ct, labels == names["aorta"], labels == names["inferior_vena_cava"]


def _mask(case, name):
    value = next(v for v, n in case.labels.names.items() if n == name)
    return case.labels.volume.array == value


def test_on_a_contrast_enhanced_ct_the_aorta_and_ivc_are_found_where_the_labels_put_them():
    ct, aorta, ivc = _crop()
    rng = np.random.default_rng(0)
    enhanced = ct.array.copy()  # the real CT with its labelled vessels given an arterial/portal enhancement
    enhanced[aorta] = (280 + rng.normal(0, 20, aorta.sum())).astype(np.int16)
    enhanced[ivc] = (190 + rng.normal(0, 20, ivc.sum())).astype(np.int16)
    case = with_automatic_anatomy(Case(ct=ct.with_array(enhanced)))
    for name, reference in (("aorta", aorta), ("inferior_vena_cava", ivc)):
        found = _mask(case, name)
        assert 2 * (found & reference).sum() / (found.sum() + reference.sum()) >= 0.75, name
    session = PlanSession(case)
    assert "vascular" in session.hazard_coverage().checked
    # a needle through the found aorta stops, naming it
    centre = case.ct.index_to_lps(np.argwhere(aorta[15]).mean(axis=0)[::-1].tolist() + [15])
    path = session.new_trajectory(centre + [-60, 0, 0], centre + [20, 0, 0], TrajectoryKind.FREE,
                                  device_id="trocar-11g-150")
    session.editor.add_trajectory(path)
    found = {w.structure: w for w in session.warnings(path.id) if w.structure}
    assert found["aorta"].severity is Severity.STOP


def test_without_contrast_no_vessel_is_guessed_and_the_verdict_says_why():
    ct, _, _ = _crop()
    case = with_automatic_anatomy(Case(ct=ct))
    assert not {"aorta", "inferior_vena_cava"} & set(case.labels.names.values())
    reason = dict(PlanSession(case).hazard_coverage().unchecked)["vascular"]
    assert "CT not contrast-enhanced" in reason
