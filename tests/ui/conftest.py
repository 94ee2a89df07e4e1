"""Fixtures for GUI tests: a QApplication named like the app, a small synthetic case, the main window."""

from __future__ import annotations

import numpy as np
import pytest

from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.io import LabelMap
from osteoplan.core.imaging.volume import Volume

pytestmark = pytest.mark.gui


@pytest.fixture(scope="session")
def qapp_cls():
    from PySide6.QtWidgets import QApplication

    return QApplication


@pytest.fixture(scope="session", autouse=True)
def _app_identity(qapp, tmp_path_factory):
    """Name the app as in production, and keep its settings in a temporary folder."""
    from PySide6.QtCore import QSettings

    from osteoplan.ui.app import create_application

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path_factory.mktemp("settings")))
    create_application()


def make_synthetic_case() -> Case:
    """A 'body' (40 HU) with a bright 'bone' cylinder along z and a labelled 'lesion' sphere.

    The bone sits anterior-left of centre, so a view that flips left/right or up/down shows it
    in the wrong quadrant.
    """
    shape = (40, 64, 72)  # z, y, x
    z, y, x = np.indices(shape)
    array = np.full(shape, -1000, dtype=np.int16)
    array[((x - 36) / 32.0) ** 2 + ((y - 32) / 28.0) ** 2 < 1] = 40
    bone = (x - 50) ** 2 + (y - 20) ** 2 < 8**2
    array[bone] = 700
    lesion = (x - 24) ** 2 + (y - 40) ** 2 + (z - 20) ** 2 < 6**2
    array[lesion] = 25
    ct = Volume(array, spacing=(1.0, 1.0, 2.0), origin=(-36.0, -32.0, -40.0))
    labels = np.zeros(shape, dtype=np.uint8)
    labels[bone] = 1
    labels[lesion] = 2
    return Case(ct=ct, labels=LabelMap(volume=ct.with_array(labels), names={1: "vertebrae_L2", 2: "lesion"}),
                source="synthetic")


@pytest.fixture
def synthetic_case() -> Case:
    return make_synthetic_case()


@pytest.fixture
def window(qtbot, synthetic_case):
    from osteoplan.ui.main_window import MainWindow

    main = MainWindow()
    main.plan_files.confirm_discard = lambda: True  # never a blocking "save changes?" question in tests
    qtbot.addWidget(main)
    main.resize(1000, 760)
    main.show()
    qtbot.waitExposed(main)
    main.set_case(synthetic_case)
    yield main
    main.close()
