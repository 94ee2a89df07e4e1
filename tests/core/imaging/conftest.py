"""Fixtures of the imaging tests: the real CT as it arrives, with its automatic structures."""

from __future__ import annotations

import pytest

from osteoplan.core.imaging.automatic import with_automatic_anatomy
from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.io import load_image
from osteoplan.core.session import PlanSession
from tests.conftest import shared_data_path


@pytest.fixture(scope="session")
def pelvis() -> PlanSession:
    """The real 3 mm abdomen-pelvis CT as it arrives: no label map."""
    ct = load_image(shared_data_path("ct_abdomen_pelvis_3mm", "ct.nii.gz")).volume
    session = PlanSession(with_automatic_anatomy(Case(ct=ct, source="ct_abdomen_pelvis_3mm")))
    session.prepare()
    return session
