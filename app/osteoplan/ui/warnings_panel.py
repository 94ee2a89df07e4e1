"""The Warnings panel: every warning of the plan (severity, object, structure, distance, threshold),
updated live while the user drags; a click centres the views on the warning's place."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from osteoplan.core.safety.warnings import SEVERITY_ORDER, Severity
from osteoplan.core.session import NeedleState, needle_state
from osteoplan.ui.style import NEEDLE_COLORS

COLUMNS = ("", "Object", "Structure", "Distance", "Threshold", "Message")


def _mm(value) -> str:
    return "—" if value is None else f"{value:.1f} mm"


class WarningsPanel(QWidget):
    def __init__(self, window, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self.rows: list = []  # (trajectory id, SafetyWarning) per table row
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("warnings_table")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.setToolTip("Click a warning to centre the views on it")
        self.table.cellClicked.connect(lambda row, _column: self.centre_on_row(row))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table)
        window.controller.plan_edited.connect(self.refresh)

    def refresh(self) -> None:
        session = self.window.session
        rows = []
        if session is not None:
            for trajectory in session.plan.trajectories:
                rows += [(trajectory.id, warning) for warning in session.warnings(trajectory.id)]
        rows.sort(key=lambda row: -SEVERITY_ORDER[row[1].severity])
        # What was not measured, after the stop and warn rows: never a silent (green-looking) gap
        unchecked = session.hazard_coverage().unchecked if session is not None else ()
        at = sum(SEVERITY_ORDER[w.severity] >= SEVERITY_ORDER[Severity.WARN] for _, w in rows)
        rows[at:at] = [(None, (category, reason)) for category, reason in unchecked]
        self.rows = rows
        self.table.setRowCount(len(rows))
        for index, (trajectory_id, warning) in enumerate(rows):
            if trajectory_id is None:
                self._not_checked_row(index, *warning)
                continue
            label = session.plan.trajectory(trajectory_id).label
            obj = label if warning.object == trajectory_id else f"{label} / {warning.object}"
            values = (warning.severity.value.upper(), obj, warning.structure or "—", _mm(warning.distance_mm),
                      _mm(warning.threshold_mm), warning.message)
            for column, text in enumerate(values):
                item = QTableWidgetItem(text)
                if column == 0:
                    color = QColor.fromRgbF(*NEEDLE_COLORS[needle_state(warning.severity)])
                    item.setBackground(QBrush(color if warning.severity is not Severity.INFO else QColor("#dde4ee")))
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setToolTip(warning.message)
                self.table.setItem(index, column, item)

    def _not_checked_row(self, index: int, category: str, reason: str) -> None:
        message = f"Not checked: {category} ({reason})"
        for column, text in enumerate(("NOT CHECKED", "—", category, "—", "—", message)):
            item = QTableWidgetItem(text)
            if column == 0:
                item.setBackground(QBrush(QColor.fromRgbF(*NEEDLE_COLORS[NeedleState.CAUTION])))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            item.setToolTip(message)
            self.table.setItem(index, column, item)

    def centre_on_row(self, row: int) -> None:
        trajectory_id, warning = self.rows[row]
        if trajectory_id is None:  # a category not checked: nowhere to go
            return
        session = self.window.session
        self.window.controller.select(trajectory_id)
        point = warning.closest_lps if warning.closest_lps is not None else session.plan.trajectory(trajectory_id).target
        self.window.viewer.set_cursor(point)
