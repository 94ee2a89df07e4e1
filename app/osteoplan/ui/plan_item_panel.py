"""What the panels listing plan items (ablations, injections) share: the session, the selected
item, and edits that report a refusal in the status bar instead of raising."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QWidget

from osteoplan.core.errors import OsteoPlanError


class PlanItemPanel(QWidget):
    """Subclasses set `self.window`, `self.table` and `self._ids` (item id per row) and define `refresh`."""

    @property
    def session(self):
        return self.window.session

    @property
    def selected_id(self) -> str | None:
        """The selected row's item, else the first one."""
        rows = self.table.selectionModel().selectedRows()
        return self._ids[rows[0].row()] if rows else (self._ids[0] if self._ids else None)

    def _edit(self, edit) -> None:
        try:
            edit()
        except (OsteoPlanError, ValueError, KeyError) as exc:
            self.window.statusBar().showMessage(f"Not changed: {exc}", 10000)
            self.refresh()


def row_table(object_name: str, columns: list[str] | tuple[str, ...]) -> QTableWidget:
    """A read-only table of items, one row each, selected whole and singly."""
    table = QTableWidget(0, len(columns))
    table.setObjectName(object_name)
    table.setHorizontalHeaderLabels(list(columns))
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    return table


def details_label(object_name: str, text: str) -> QLabel:
    """The selected item's details under a table: wraps (never widens the dock), selectable."""
    label = QLabel(text)
    label.setObjectName(object_name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label
