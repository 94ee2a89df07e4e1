"""The hint shown in the views' place while no case is open: how to open a CT, or try the demo.

The views and the hint share a stacked widget: the hint is a plain Qt page (no overlay on the
OpenGL panes, which would hide it on some platforms); it gives way when a case is shown.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from osteoplan.core.imaging.demo import DEMO_DESCRIPTIONS
from osteoplan.core.resources import resource_path

FIRST_RUN_KEY = "first_run_done"  # set once a first case was shown: later hints skip the welcome


class EmptyCaseHint(QFrame):
    def __init__(self, window, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("empty_case_hint")
        # never the reason the window cannot be made small (the card is clipped instead)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setStyleSheet("#empty_case_hint { background: #202020; } "
                           "#empty_case_hint QLabel { color: #d8d8d8; } "
                           "#hint_card { background: #2b2b2b; border: 1px solid #444; border-radius: 10px; }")
        card = QFrame()
        card.setObjectName("hint_card")
        card.setMaximumWidth(560)
        icon = QLabel()
        icon.setPixmap(QIcon(str(resource_path("icons/osteoplan.svg"))).pixmap(72, 72))
        icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = QLabel()
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = QLabel(
            "Open a CT: <b>File &gt; Open DICOM folder…</b> (Ctrl+D) or <b>File &gt; Open image file…</b> "
            "(Ctrl+O), or drag a DICOM folder or an image file here.<br><br>"
            f"Or try the demo case: <b>File &gt; Open demo case &gt; Spine</b> ({DEMO_DESCRIPTIONS['spine']}).")
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.demo_button = QPushButton("Open the spine demo case")
        self.demo_button.setToolTip("A synthetic CT of L1–L3 with a lytic L2 metastasis and its labels")
        self.demo_button.clicked.connect(lambda: window.open_demo("spine"))
        self.demo_button.setDefault(True)
        dicom_button = QPushButton("Open DICOM folder…")
        dicom_button.setToolTip("Choose a folder of DICOM files (every series is listed)")
        dicom_button.clicked.connect(window.open_dicom_folder_dialog)
        image_button = QPushButton("Open image file…")
        image_button.setToolTip("NIfTI, NRRD or MetaImage CT")
        image_button.clicked.connect(window.open_image_file_dialog)
        buttons = QHBoxLayout()
        for button in (self.demo_button, dicom_button, image_button):
            buttons.addWidget(button)
        card_layout = QVBoxLayout(card)
        card_layout.setContentsMargins(28, 24, 28, 24)
        card_layout.setSpacing(14)
        for widget in (icon, self.title, text):
            card_layout.addWidget(widget)
        card_layout.addLayout(buttons)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card, 4)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(1)
        self.refresh_title()

    def refresh_title(self) -> None:
        welcome = not QSettings().value(FIRST_RUN_KEY, False, type=bool)
        self.title.setText("<h2>Welcome to OsteoPlan</h2>" if welcome else "<h2>No image open</h2>")


class ViewsOrHint(QStackedWidget):
    """The views' container, or the hint while the window has no case."""

    def __init__(self, window, views: QWidget) -> None:
        super().__init__()
        self.hint = EmptyCaseHint(window)
        self.views = views
        self.addWidget(self.hint)
        self.addWidget(views)
        window.case_shown.connect(self.show_case)
        self.show_case(window.case)

    @property
    def hint_shown(self) -> bool:
        return self.currentWidget() is self.hint

    def show_case(self, case) -> None:
        if case is not None:
            QSettings().setValue(FIRST_RUN_KEY, True)
        self.hint.refresh_title()
        self.setCurrentWidget(self.views if case is not None else self.hint)


def install(window) -> ViewsOrHint:
    """Put the hint in front of the window's views until a case is shown (call before `show`)."""
    views = window.takeCentralWidget()
    stack = ViewsOrHint(window, views)
    window.setCentralWidget(stack)
    return stack
