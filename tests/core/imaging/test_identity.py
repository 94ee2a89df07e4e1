"""Who a CT belongs to: the banner, the plan's one-way fingerprints, and a plan opened on another patient."""

from __future__ import annotations

import json

from osteoplan.core.imaging.identity import banner, identity_mismatch, patient_fingerprint, study_fingerprint
from osteoplan.core.imaging.volume import SeriesInfo
from tests.fixtures.images import make_ct_series, make_image_file

DOE = SeriesInfo(patient_name="DOE^JOHN", patient_id="PID4471X", birth_date="19610203", study_date="20240131",
                 description="CT Body 3.0", extra={"sex": "M", "series_number": "2", "slice_thickness": "3",
                                                   "study_uid": "1.2.3", "study_description": "CT ABDOMEN"})


def test_the_banner_names_the_patient_study_and_series_or_says_the_file_has_no_identity():
    text = banner(DOE).text()
    for part in ("DOE, JOHN", "ID PID4471X", "born 1961-02-03 (male)", "study 2024-01-31 CT ABDOMEN",
                 "#2 CT Body 3.0", "3 mm"):
        assert part in text
    anonymous = banner(SeriesInfo(description="from a NIfTI"))
    assert not anonymous.identified and "No patient identity in this file" in anonymous.text()


def test_fingerprints_are_one_way_stable_and_tell_patients_apart():
    print_ = patient_fingerprint(DOE)
    assert print_.startswith("sha256:") and "PID4471X" not in print_ and print_ == patient_fingerprint(DOE)
    other = SeriesInfo(patient_name="ROE^RICHARD", patient_id="PID9")
    assert patient_fingerprint(other) != print_
    assert patient_fingerprint(SeriesInfo()) is None and study_fingerprint(SeriesInfo()) is None
    assert "ANOTHER PATIENT" in identity_mismatch(print_, None, other)
    assert identity_mismatch(print_, study_fingerprint(DOE), DOE) is None
    later = SeriesInfo(patient_id="PID4471X", extra={"study_uid": "1.2.4"})
    assert "another study" in identity_mismatch(print_, study_fingerprint(DOE), later)
    assert identity_mismatch(print_, None, SeriesInfo()) is None, "a file without identity cannot be compared"


def test_a_plan_made_for_another_patient_warns_on_opening_and_its_report_stops(tmp_path):
    from osteoplan.core.report.content import build_report
    from osteoplan.core.session import open_plan_session

    make_ct_series(tmp_path / "series", patient_name="ROE^RICHARD", patient_id="PID9")
    plan = {"format": "osteoplan.plan", "version": 1,
            "image": {"path": "series", "patient_fingerprint": patient_fingerprint(DOE)}, "trajectories": []}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    session, warnings = open_plan_session(tmp_path / "plan.json")
    assert any("ANOTHER PATIENT" in w for w in warnings)
    report = build_report(session)
    assert report.verdict.tone == "stop" and "ANOTHER PATIENT" in report.verdict.text
    # the same plan on a NIfTI (no identity): nothing to compare, no warning
    make_image_file(tmp_path, "ct.nii.gz")
    plan["image"]["path"] = "ct.nii.gz"
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    assert not any("PATIENT" in w for w in open_plan_session(tmp_path / "plan.json")[1])
