"""Edit > Preferences: the user's default safety thresholds and window/level presets.

They persist in QSettings (the GUI's preferences) and are handed to the core as plain data
(`core.structures.set_user_threshold_defaults`): nothing in the core reads QSettings. The
command line (`osteoplan check`...) keeps the built-in values of resources/.
"""

from __future__ import annotations

import json

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QBrush, QColor, QFont, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from osteoplan.core.display.presets import WindowLevelPreset, display_presets
from osteoplan.core.safety.structures import (
    set_user_threshold_defaults,
    structure_categories,
    user_threshold_defaults,
)

THRESHOLDS_KEY = "preferences/threshold_defaults"  # JSON {category: {context: [warn_mm, stop_mm]}}
WINDOW_LEVEL_KEY = "preferences/window_level_presets"  # JSON [{"name", "width", "level"}]
# Cement thresholds are gateway rules (reached / not reached), not distances: not offered here.
EDITABLE_CONTEXTS = ("needle", "ablation")
USER_SOURCE = "your settings (Edit > Preferences)"

Defaults = dict[str, dict[str, tuple[float | None, float | None]]]


# --- settings <-> plain data ----------------------------------------------------------------------
def _read_json(key: str, default):
    text = QSettings().value(key)
    if not text:
        return default
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return default


def saved_threshold_defaults() -> Defaults:
    data = _read_json(THRESHOLDS_KEY, {})
    return {category: {context: (pair[0], pair[1]) for context, pair in contexts.items()}
            for category, contexts in data.items()} if isinstance(data, dict) else {}


def save_threshold_defaults(defaults: Defaults) -> None:
    QSettings().setValue(THRESHOLDS_KEY, json.dumps(
        {category: {context: list(pair) for context, pair in contexts.items()} for category, contexts in defaults.items()}))


def _free_shortcuts() -> list[str]:
    taken = {p.shortcut for p in display_presets().window_level if p.shortcut}
    return [str(n) for n in range(1, 10) if str(n) not in taken]


def user_window_level_presets(entries: list[dict]) -> list[WindowLevelPreset]:
    """Validated presets from plain entries; they take the digit keys the built-in presets leave free."""
    keys = _free_shortcuts()
    return [WindowLevelPreset(id=f"user-{index + 1}", name=entry["name"], width=entry["width"], level=entry["level"],
                              shortcut=keys[index] if index < len(keys) else None, source=USER_SOURCE)
            for index, entry in enumerate(entries)]


def saved_window_level_presets() -> list[WindowLevelPreset]:
    data = _read_json(WINDOW_LEVEL_KEY, [])
    try:
        return user_window_level_presets(data if isinstance(data, list) else [])
    except (KeyError, TypeError, ValueError):
        return []


def save_window_level_presets(presets: list[WindowLevelPreset]) -> None:
    QSettings().setValue(WINDOW_LEVEL_KEY, json.dumps(
        [{"name": p.name, "width": p.width, "level": p.level} for p in presets]))


# --- applying them to the window ------------------------------------------------------------------
def apply_preferences(window) -> None:
    """Hand the saved thresholds to the core and show the saved window/level presets."""
    try:
        set_user_threshold_defaults(saved_threshold_defaults())
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:  # edited by hand, another version
        set_user_threshold_defaults({})
        window.statusBar().showMessage(f"Your default thresholds were ignored: {exc}", 15000)
    session = window.session
    if session is not None:
        # the same structures under new thresholds: caches keyed on them are dropped, views redraw
        session.set_structures(session.structures)
    install_window_level_presets(window, saved_window_level_presets())


def _insert_after(widget: QWidget, anchor: QAction, actions: list[QAction]) -> None:
    existing = widget.actions()
    index = existing.index(anchor) + 1 if anchor in existing else len(existing)
    before = existing[index] if index < len(existing) else None
    widget.insertActions(before, actions)


def _view_menu(window):
    return next((a.menu() for a in window.menuBar().actions() if a.menu() is not None and a.text() == "&View"), None)


def install_window_level_presets(window, presets: list[WindowLevelPreset]) -> list[QAction]:
    """Replace the user's window/level actions (toolbar, View menu, shortcuts) by `presets`."""
    toolbar = window.presets_toolbar
    menu = _view_menu(window)
    for action in getattr(window, "user_window_level_actions", []):
        toolbar.window_level_actions.removeAction(action)
        for widget in (toolbar, menu):
            if widget is not None:
                widget.removeAction(action)
        action.deleteLater()
    anchor = toolbar.window_level_actions.actions()[-1]  # the last built-in preset
    actions = []
    for preset in presets:
        action = QAction(f"{preset.name} ({preset.width:g}/{preset.level:g})", toolbar, checkable=True)
        action.setData(preset.id)
        action.setProperty("window_level", (preset.width, preset.level))
        if preset.shortcut:
            action.setShortcut(QKeySequence(preset.shortcut))
        tip = f"Your preset: window {preset.width:g}, level {preset.level:g} HU (Edit > Preferences)"
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.triggered.connect(lambda _=False, w=preset.width, lv=preset.level: window.viewer.set_window_level(w, lv))
        toolbar.window_level_actions.addAction(action)
        actions.append(action)
    _insert_after(toolbar, anchor, actions)
    if menu is not None:
        _insert_after(menu, anchor, actions)
    window.user_window_level_actions = actions
    toolbar._sync_window_level(*window.viewer.window_level)
    return actions


# --- the dialog -----------------------------------------------------------------------------------
def _number_text(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _parse_mm(text: str, what: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a number of millimetres (leave it empty for none)") from None
    if value < 0:
        raise ValueError(f"{what}: {value:g} mm is negative")
    return value


class PreferencesDialog(QDialog):
    """Two tabs: default safety thresholds per structure category, and window/level presets."""

    THRESHOLD_COLUMNS = [(context, side) for context in EDITABLE_CONTEXTS for side in ("warn", "stop")]

    def __init__(self, window, parent: QWidget | None = None) -> None:
        super().__init__(parent or window)
        self.window = window
        self.setWindowTitle("Preferences")
        layout = QVBoxLayout(self)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._thresholds_tab(), "Safety thresholds")
        self.tabs.addTab(self._window_level_tab(), "Window/level presets")
        layout.addWidget(self.tabs)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c0392b;")
        self.error.setWordWrap(True)
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(760, 460)

    # thresholds ---------------------------------------------------------------------------------
    def _thresholds_tab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        note = QLabel("Default distances (mm) from a needle's surface, or an ablation zone's 45 °C line, to each "
                      "category of structure: <b>warn</b> below the first, <b>stop</b> below the second (0 = when "
                      "crossed; empty = not evaluated). A structure's own values (Structures panel) still win. "
                      "Values that differ from the built-in ones are <b>bold</b>; they apply in this application "
                      "on this computer (the <code>osteoplan</code> command keeps the built-in values).")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.categories = list(structure_categories().categories)
        self.thresholds_table = QTableWidget(len(self.categories), len(self.THRESHOLD_COLUMNS))
        self.thresholds_table.setHorizontalHeaderLabels(
            [f"{context.capitalize()} {side} mm" for context, side in self.THRESHOLD_COLUMNS])
        self.thresholds_table.setVerticalHeaderLabels([c.capitalize() for c in self.categories])
        self.thresholds_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.thresholds_table.setToolTip("Double click a value to change it; empty = not evaluated")
        self._fill_thresholds(user_threshold_defaults())
        self.thresholds_table.itemChanged.connect(self._mark_threshold)
        layout.addWidget(self.thresholds_table)
        restore = QPushButton("Restore built-in values")
        restore.setToolTip("Put back the defaults of resources/structure_categories.json (resources/sources.md)")
        restore.clicked.connect(lambda: self._fill_thresholds({}))
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(restore)
        layout.addLayout(row)
        return page

    def _builtin(self, category: str, context: str):
        return structure_categories().categories[category].thresholds[context]

    def _fill_thresholds(self, user: Defaults) -> None:
        self.thresholds_table.blockSignals(True)
        for row, category in enumerate(self.categories):
            self.thresholds_table.verticalHeaderItem(row).setToolTip(structure_categories().categories[category].label)
            for column, (context, side) in enumerate(self.THRESHOLD_COLUMNS):
                builtin = self._builtin(category, context)
                pair = user.get(category, {}).get(context, (builtin.warn_mm, builtin.stop_mm))
                self.thresholds_table.setItem(row, column, QTableWidgetItem(_number_text(pair[side == "stop"])))
                self._mark_threshold(self.thresholds_table.item(row, column))
        self.thresholds_table.blockSignals(False)

    def _mark_threshold(self, item: QTableWidgetItem) -> None:
        category = self.categories[item.row()]
        context, side = self.THRESHOLD_COLUMNS[item.column()]
        builtin = self._builtin(category, context)
        builtin_value = builtin.stop_mm if side == "stop" else builtin.warn_mm
        differs = item.text().strip() != _number_text(builtin_value)
        font = QFont(item.font())
        font.setBold(differs)
        item.setFont(font)
        item.setToolTip(f"{'Your setting; ' if differs else ''}built-in: {_number_text(builtin_value) or 'none'} "
                        f"({builtin.source})")

    def threshold_defaults(self) -> Defaults:
        """The table's values that differ from the built-in ones (both sides of a context kept together)."""
        result: Defaults = {}
        for row, category in enumerate(self.categories):
            for context in EDITABLE_CONTEXTS:
                pair = tuple(_parse_mm(self.thresholds_table.item(row, self.THRESHOLD_COLUMNS.index((context, side))).text(),
                                       f"{category} {context} {side}") for side in ("warn", "stop"))
                builtin = self._builtin(category, context)
                if pair != (builtin.warn_mm, builtin.stop_mm):
                    result.setdefault(category, {})[context] = pair
        return result

    # window/level -------------------------------------------------------------------------------
    def _window_level_tab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        note = QLabel("Your window/level presets come after the built-in ones, on the toolbar and in the View menu, "
                      "with the next free digit key. Built-in presets (grey) are read-only.")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.presets_table = QTableWidget(0, 4)
        self.presets_table.setHorizontalHeaderLabels(("Name", "Width HU", "Level HU", "Key"))
        self.presets_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.presets_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.presets_table.setToolTip("Double click a name, width or level of your preset to change it")
        for preset in display_presets().window_level:
            self._add_preset_row(preset.name, preset.width, preset.level, builtin=True, key=preset.shortcut or "")
        for preset in saved_window_level_presets():
            self._add_preset_row(preset.name, preset.width, preset.level)
        layout.addWidget(self.presets_table)
        add_current = QPushButton("Add the current window")
        add_current.setToolTip("A new preset with the window and level now on screen")
        add_current.clicked.connect(self.add_current_window)
        remove = QPushButton("Remove")
        remove.setToolTip("Remove the selected preset of yours")
        remove.clicked.connect(self.remove_selected_preset)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(add_current)
        row.addWidget(remove)
        layout.addLayout(row)
        return page

    def _add_preset_row(self, name: str, width: float, level: float, builtin: bool = False, key: str = "") -> None:
        row = self.presets_table.rowCount()
        self.presets_table.insertRow(row)
        for column, text in enumerate((name, f"{width:g}", f"{level:g}", key)):
            item = QTableWidgetItem(text)
            if builtin or column == 3:
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            if builtin:
                item.setForeground(QBrush(QColor("#808080")))
                item.setToolTip("Built-in preset (resources/display_presets.json)")
            self.presets_table.setItem(row, column, item)
        self._number_keys()

    def _number_keys(self) -> None:
        keys = iter(_free_shortcuts())
        for row in range(self.builtin_count, self.presets_table.rowCount()):
            self.presets_table.item(row, 3).setText(next(keys, ""))

    @property
    def builtin_count(self) -> int:
        return len(display_presets().window_level)

    def add_current_window(self) -> None:
        width, level = self.window.viewer.window_level
        self._add_preset_row(f"Custom {self.presets_table.rowCount() - self.builtin_count + 1}", width, level)
        self.presets_table.selectRow(self.presets_table.rowCount() - 1)

    def remove_selected_preset(self) -> None:
        rows = sorted({index.row() for index in self.presets_table.selectionModel().selectedRows()}, reverse=True)
        for row in rows:
            if row >= self.builtin_count:
                self.presets_table.removeRow(row)
        self._number_keys()

    def window_level_presets(self) -> list[WindowLevelPreset]:
        entries = []
        for row in range(self.builtin_count, self.presets_table.rowCount()):
            name = self.presets_table.item(row, 0).text().strip()
            if not name:
                raise ValueError(f"window/level preset {row - self.builtin_count + 1}: give it a name")
            try:
                width, level = (float(self.presets_table.item(row, c).text()) for c in (1, 2))
            except ValueError:
                raise ValueError(f"window/level preset {name!r}: width and level must be numbers (HU)") from None
            if width <= 0:
                raise ValueError(f"window/level preset {name!r}: the width must be above 0 HU")
            entries.append({"name": name, "width": width, "level": level})
        return user_window_level_presets(entries)

    # --- OK ------------------------------------------------------------------------------------------
    def accept(self) -> None:
        try:
            presets = self.window_level_presets()
            thresholds = self.threshold_defaults()
            set_user_threshold_defaults(thresholds)  # validates (stop <= warn) before anything is saved
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        save_threshold_defaults(thresholds)
        save_window_level_presets(presets)
        apply_preferences(self.window)
        super().accept()


def show_preferences(window) -> None:
    dialog = PreferencesDialog(window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
