"""Who a CT belongs to: the patient banner's lines, and one-way fingerprints a plan keeps of its patient.

The banner shows what the DICOM header says (name, ID, birth date, sex, study date and description,
series, modality, slice thickness), or that the file carries no identity (NIfTI, NRRD, MHA), so that
the radiologist checks the patient before planning. A plan records, instead of the values, a salted
SHA-256 fingerprint of the patient (its ID, else its name and birth date) and of the study UID: the
plan file then names nobody, yet opening it on another patient's CT is noticed (`identity_mismatch`).
The salt is fixed: the fingerprint must be the same on every computer. It stops a casual reader, not a
determined one who guesses IDs; the plan is still confidential data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from osteoplan.core.imaging.volume import SeriesInfo

FINGERPRINT_SALT = "osteoplan-identity-v1:"
FINGERPRINT_PREFIX = "sha256:"


def dicom_date(text: str) -> str:
    """DICOM's YYYYMMDD as YYYY-MM-DD (anything else as it is)."""
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) >= 8 and text[:8].isdigit() else text


def person_name(text: str) -> str:
    """A DICOM person name (Family^Given^Middle^Prefix^Suffix) as 'FAMILY, Given Middle'."""
    parts = [p.strip() for p in text.split("^")]
    given = " ".join(p for p in parts[1:3] if p)
    return f"{parts[0]}, {given}" if parts[0] and given else (parts[0] or given)


@dataclass(frozen=True)
class Banner:
    """The patient banner: `fields` (label, value) when the file names a patient, else a `missing` sentence."""

    fields: tuple[tuple[str, str], ...]
    missing: str = ""

    @property
    def identified(self) -> bool:
        return bool(self.fields)

    def text(self) -> str:
        return "  ·  ".join(f"{label} {value}" if label else value for label, value in self.fields) or self.missing


def banner(info: SeriesInfo) -> Banner:
    """The banner of a CT from its header (DICOM); for a file without identity, says so."""
    if not (info.patient_name or info.patient_id or info.birth_date):
        return Banner((), "No patient identity in this file (NIfTI, NRRD, MetaImage carry none): check by other "
                          "means that this is your patient's CT.")
    extra = info.extra
    sex = {"M": "male", "F": "female", "O": "other"}.get(extra.get("sex", "").upper(), "")
    fields = [("", person_name(info.patient_name) or "(no name)"), ("ID", info.patient_id or "(none)")]
    if info.birth_date:
        fields.append(("born", dicom_date(info.birth_date) + (f" ({sex})" if sex else "")))
    elif sex:
        fields.append(("sex", sex))
    study = " ".join(filter(None, (dicom_date(info.study_date), extra.get("study_description", ""))))
    if study:
        fields.append(("study", study))
    series = " ".join(filter(None, (f"#{extra['series_number']}" if extra.get("series_number") else "",
                                    info.description)))
    thickness = extra.get("slice_thickness", "")
    fields.append(("series", " ".join(filter(None, (series, info.modality, thickness and f"{thickness} mm")))))
    return Banner(tuple(fields))


def _fingerprint(kind: str, value: str) -> str | None:
    if not value.strip():
        return None
    digest = hashlib.sha256(f"{FINGERPRINT_SALT}{kind}:{value.strip().upper()}".encode()).hexdigest()
    return FINGERPRINT_PREFIX + digest[:24]


def patient_fingerprint(info: SeriesInfo) -> str | None:
    """The patient's fingerprint: of the ID, else of name + birth date; None for a file without identity."""
    if info.patient_id.strip():
        return _fingerprint("id", info.patient_id)
    return _fingerprint("name", f"{info.patient_name}|{info.birth_date}") if info.patient_name.strip() else None


def study_fingerprint(info: SeriesInfo) -> str | None:
    return _fingerprint("study", info.extra.get("study_uid", ""))


def identity_mismatch(recorded_patient: str | None, recorded_study: str | None, info: SeriesInfo) -> str | None:
    """A warning when the CT's patient (or study) is not the one the plan recorded; None when they match or
    one side records nothing."""
    patient = patient_fingerprint(info)
    if recorded_patient and patient and patient != recorded_patient:
        return ("this CT belongs to ANOTHER PATIENT than the one the plan was made for (their patient "
                "fingerprints differ): do not use this plan on it unless you are sure")
    study = study_fingerprint(info)
    if recorded_study and study and study != recorded_study:
        return ("this CT is from another study of the patient than the one the plan was made on: the anatomy "
                "may have changed; check every path on these images")
    return None
