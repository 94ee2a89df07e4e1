"""Help > Keyboard shortcuts: a table made from the window's actual QActions (so it never goes
stale), plus the keys that work inside a view; menus that show their actions' tooltips."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

# Keys handled by the views themselves (slice_view.py, volume_view.py), not by window actions:
# a window action must never take them (tests/ui/test_everyday.py checks).
VIEW_KEYS = (
    ("Up / Down", "next / previous slice (slice views)"),
    ("Page Up / Page Down", "5 slices at a time (slice views)"),
    ("R", "reset the view under the mouse"),
)
VIEW_KEY_SEQUENCES = ("Up", "Down", "PgUp", "PgDown", "R")


@dataclass(frozen=True)
class ShortcutRow:
    where: str  # "File", "Plan > New path", "Toolbar"...
    action: str  # the action's text, without mnemonics
    keys: str  # the shortcut(s), native text
    tip: str


def plain_text(action: QAction) -> str:
    """The action's text as shown, without '&' mnemonics and trailing ellipsis."""
    return action.text().replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("….").strip()


def _keys(action: QAction) -> str:
    return ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts() if not s.isEmpty())


def _menu_actions(menu: QMenu, path: str):
    for action in menu.actions():
        if action.isSeparator():
            continue
        if action.menu() is not None:
            yield from _menu_actions(action.menu(), f"{path} > {plain_text(action)}")
        else:
            yield path, action


def window_actions(window: QMainWindow) -> list[tuple[str, QAction]]:
    """Every action of the menus (with its menu path), then toolbar-only actions, each once."""
    found: list[tuple[str, QAction]] = []
    seen: set[int] = set()
    for top in window.menuBar().actions():
        if top.menu() is not None:
            for where, action in _menu_actions(top.menu(), plain_text(top)):
                if id(action) not in seen:
                    seen.add(id(action))
                    found.append((where, action))
    for toolbar in window.findChildren(QToolBar):
        for action in toolbar.actions():
            if not action.isSeparator() and id(action) not in seen and action.text():
                seen.add(id(action))
                found.append((toolbar.windowTitle() or "Toolbar", action))
    return found


def shortcut_rows(window: QMainWindow) -> list[ShortcutRow]:
    """The window's actions that have a shortcut, in menu order."""
    return [ShortcutRow(where, plain_text(action), _keys(action), action.toolTip())
            for where, action in window_actions(window) if _keys(action)]


def show_menu_tooltips(window: QMainWindow) -> None:
    """Menus show their actions' tooltips while hovered (the actions themselves are left as they
    are: changing one re-labels the tool buttons that show it)."""
    for menu in window.menuBar().findChildren(QMenu):
        menu.setToolTipsVisible(True)


class ShortcutsDialog(QDialog):
    def __init__(self, window: QMainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent or window)
        self.setWindowTitle("Keyboard shortcuts")
        self.rows = shortcut_rows(window)
        layout = QVBoxLayout(self)
        self.table = QTableWidget(len(self.rows) + len(VIEW_KEYS), 3)
        self.table.setHorizontalHeaderLabels(("Keys", "Action", "Where"))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        entries = [(r.keys, r.action, r.where, r.tip) for r in self.rows]
        entries += [(keys, text, "In a view", "") for keys, text in VIEW_KEYS]
        for row, (keys, text, where, tip) in enumerate(entries):
            for column, value in enumerate((keys, text, where)):
                item = QTableWidgetItem(value)
                if tip and tip != text:
                    item.setToolTip(tip)
                self.table.setItem(row, column, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        layout.addWidget(self.table)
        layout.addWidget(QLabel("Mouse gestures: Help > Mouse and keyboard. Single-letter keys do not act while "
                                "you type in a field."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(680, 620)


def show_shortcuts(window: QMainWindow) -> None:
    dialog = ShortcutsDialog(window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
