"""The patient banner above the views: who this CT belongs to (or that the file does not say), always in sight."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy

from osteoplan.core.imaging.identity import banner
from osteoplan.core.imaging.volume import SeriesInfo

IDENTIFIED_STYLE = "background: #1d2b3a; color: #e8eef5; padding: 3px 8px; font-size: 10.5pt;"
MISSING_STYLE = "background: #3a2d12; color: #ffd27a; padding: 3px 8px; font-size: 10.5pt;"


class PatientBanner(QLabel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        # a long banner is clipped at the right, never widens the window (full text in the tooltip)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setWordWrap(False)
        self.setTextFormat(Qt.TextFormat.RichText)  # the values are escaped
        self.set_info(None)

    def set_info(self, info: SeriesInfo | None, demo: bool = False) -> None:
        """Show the CT's identity (None: no CT open, the banner hides; `demo`: a built-in synthetic case)."""
        self.setVisible(info is not None)
        if info is None:
            self.setText("")
            return
        if demo:
            self.setText("Built-in synthetic demo case: no patient")
            self.setStyleSheet(IDENTIFIED_STYLE)
            self.setToolTip(self.text())
            return
        shown = banner(info)
        if shown.identified:
            name, *rest = shown.fields
            parts = [f"<b>{escape(name[1])}</b>"] + [
                f"<span style='color:#9fb3c8'>{escape(label)}</span> {escape(value)}" for label, value in rest]
            self.setText("&nbsp;&nbsp;·&nbsp;&nbsp;".join(parts))
            self.setStyleSheet(IDENTIFIED_STYLE)
        else:
            self.setText(escape(shown.missing))
            self.setStyleSheet(MISSING_STYLE)
        self.setToolTip(shown.text())
