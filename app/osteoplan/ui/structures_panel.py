"""The Structures panel: each critical structure's visibility, colour, opacity, category and the
needle thresholds in force (and where they come from), plus the editing tools (brush, eraser,
threshold fill, add, delete). It shows the session and forwards edits; every edit is undoable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.imaging.case import Case
from osteoplan.core.planning.plan import VertebraLevel
from osteoplan.core.imaging.anatomy import structure_categories

COLUMNS = ("Show", "", "Name", "Category", "Warn mm", "Stop mm", "In force", "Opacity")
DEFAULT_BRUSH_MM = 3.0


def _threshold_text(value) -> str:
    return "" if value is None else f"{value:g}"



@dataclass
class LevelCorrection:
    """An undoable "this vertebra is L3": `apply(case, correction)` installs the case named one way or the other."""

    label: str
    apply: Callable[[Case, VertebraLevel | None], None]
    before: tuple[Case, VertebraLevel | None]
    after: tuple[Case, VertebraLevel | None]

    def do(self) -> None:
        self.apply(*self.after)

    def undo(self) -> None:
        self.apply(*self.before)

    def merge(self, later) -> bool:
        return False

class StructuresPanel(QWidget):
    def __init__(self, window, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self._names: list[str] = []
        self._updating = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("structures_table")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeaderItem(4).setToolTip("Needle warning distance (mm); empty = the category's default")
        self.table.horizontalHeaderItem(5).setToolTip("Needle stop distance (mm); 0 = stop when crossed; empty = default")
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.cellDoubleClicked.connect(self._on_double_click)
        layout.addWidget(self.table, 1)

        tools = QGridLayout()
        self.brush_button = QPushButton("Brush")
        self.brush_button.setCheckable(True)
        self.brush_button.setToolTip("Paint the selected structure in a slice view (left drag); one stroke = one undo step")
        self.eraser_button = QPushButton("Eraser")
        self.eraser_button.setCheckable(True)
        self.eraser_button.setToolTip("Erase the selected structure in a slice view (left drag)")
        self.fill_button = QPushButton("Threshold fill")
        self.fill_button.setCheckable(True)
        self.fill_button.setToolTip("Click in a slice view: add the voxels within the radius whose HU lies in the range")
        self.size = QDoubleSpinBox(suffix=" mm", minimum=0.5, maximum=50.0, value=DEFAULT_BRUSH_MM, singleStep=0.5)
        self.size.setToolTip("Brush / eraser radius, and the threshold fill's radius")
        self.low_hu = QDoubleSpinBox(minimum=-1024, maximum=4000, value=200, suffix=" HU")
        self.high_hu = QDoubleSpinBox(minimum=-1024, maximum=4000, value=3000, suffix=" HU")
        self.low_hu.setToolTip("Threshold fill: lowest HU added")
        self.high_hu.setToolTip("Threshold fill: highest HU added")
        add_button = QPushButton("Add…")
        add_button.setToolTip("A new, empty structure to paint")
        delete_button = QPushButton("Delete")
        delete_button.setToolTip("Delete the selected structure (undoable)")
        level_button = QPushButton("Level…")
        level_button.setToolTip("This vertebra is…: name the level of the selected automatic vertebra; the "
                                "others are renamed in order along the spine (saved with the plan)")
        for column, widget in enumerate((self.brush_button, self.eraser_button, self.fill_button, add_button,
                                         delete_button, level_button)):
            tools.addWidget(widget, 0, column)
        size_row = QHBoxLayout()
        for widget in (QLabel("Radius"), self.size, QLabel("HU"), self.low_hu, QLabel("to"), self.high_hu):
            size_row.addWidget(widget)
        layout.addLayout(tools)
        layout.addLayout(size_row)
        for button, tool in ((self.brush_button, "brush"), (self.eraser_button, "eraser"), (self.fill_button, "fill")):
            button.toggled.connect(lambda checked, tool=tool: self._set_tool(tool if checked else None))
        add_button.clicked.connect(self.add_structure)
        delete_button.clicked.connect(self.delete_selected)
        level_button.clicked.connect(self.set_level_of_selected)

    # --- showing ------------------------------------------------------------------------------
    def refresh(self) -> None:
        session = self.window.session
        structures = list(session.structures) if session is not None else []
        self._updating = True
        try:
            self.table.setRowCount(len(structures))
            self._names = [s.name for s in structures]
            categories = list(structure_categories().categories)
            for row, structure in enumerate(structures):
                show = QTableWidgetItem()
                show.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                show.setCheckState(Qt.CheckState.Checked if structure.visible else Qt.CheckState.Unchecked)
                self.table.setItem(row, 0, show)
                swatch = QTableWidgetItem()
                swatch.setBackground(QBrush(QColor.fromRgbF(*structure.color)))
                swatch.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                swatch.setToolTip("Double click to change the colour")
                self.table.setItem(row, 1, swatch)
                name = QTableWidgetItem(structure.name)
                name.setToolTip(f"{structure.source}; double click to rename")
                self.table.setItem(row, 2, name)
                combo = QComboBox()
                combo.addItems(categories)
                combo.setCurrentText(structure.category)
                combo.setToolTip("The category gives the default colour and safety thresholds")
                combo.currentTextChanged.connect(lambda text, n=structure.name: self._edit("set_category", n, text))
                self.table.setCellWidget(row, 3, combo)
                self.table.setItem(row, 4, QTableWidgetItem(_threshold_text(structure.warn_mm)))
                self.table.setItem(row, 5, QTableWidgetItem(_threshold_text(structure.stop_mm)))
                rule = structure.needle_thresholds()
                if rule.evaluated:
                    force = f"warn {_threshold_text(rule.warn_mm) or '—'} / stop {_threshold_text(rule.stop_mm) or '—'} mm"
                else:
                    force = "not a needle hazard"
                in_force = QTableWidgetItem(force)
                in_force.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                in_force.setToolTip(rule.origin)
                self.table.setItem(row, 6, in_force)
                opacity = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.1, decimals=2, value=structure.opacity)
                opacity.setToolTip("Display opacity of this structure (a factor on its style)")
                opacity.valueChanged.connect(lambda value, n=structure.name: self._edit("set_opacity", n, value))
                self.table.setCellWidget(row, 7, opacity)
        finally:
            self._updating = False

    @property
    def selected_name(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self._names[rows[0].row()] if rows else None

    # --- edits ---------------------------------------------------------------------------------
    def _edit(self, method: str, *args) -> None:
        if self._updating or self.window.session is None:
            return
        try:
            getattr(self.window.session.structure_editor, method)(*args)
        except (OsteoPlanError, ValueError) as exc:
            self.window.statusBar().showMessage(f"Not changed: {exc}", 10000)
            self.refresh()

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._updating:
            return
        name = self._names[item.row()]
        if item.column() == 0:
            self._edit("set_visible", name, item.checkState() == Qt.CheckState.Checked)
        elif item.column() == 2 and item.text().strip() != name:
            self._edit("rename", name, item.text().strip())
        elif item.column() in (4, 5):
            texts = [self.table.item(item.row(), c).text().strip() for c in (4, 5)]
            try:
                warn, stop = (float(t) if t else None for t in texts)
            except ValueError:
                self.window.statusBar().showMessage("Thresholds are numbers in mm (empty = the category's default)", 8000)
                self.refresh()
                return
            self._edit("set_thresholds", name, warn, stop)

    def _on_double_click(self, row: int, column: int) -> None:
        if column == 1:
            structure = self.window.session.structures[self._names[row]]
            color = QColorDialog.getColor(QColor.fromRgbF(*structure.color), self, f"Colour of {structure.name}")
            if color.isValid():
                self._edit("recolour", structure.name, (color.red(), color.green(), color.blue()))

    def add_structure(self) -> None:
        name, ok = QInputDialog.getText(self, "New structure", "Name (e.g. nerve_root_L3_left):")
        if ok and name.strip():
            from osteoplan.core.imaging.anatomy import category_of

            self._edit("add_structure", name.strip(), category_of(name.strip()))

    def set_level_of_selected(self, level: str | None = None) -> None:
        """"This vertebra is L3" for the selected automatic vertebra (`level`: asked when None)."""
        from osteoplan.core.imaging.automatic import relevel
        from osteoplan.core.imaging.vertebrae import SPINE_LEVELS
        from osteoplan.core.session import PlanSession

        session = self.window.session
        structure = session.structures.get(self.selected_name) if session is not None else None
        found = session.case.automatic if session is not None else None
        original = found.found_as.get(structure.label_value) if structure is not None and found is not None else None
        if original is None or not original.startswith("vertebrae_"):
            self.window.statusBar().showMessage("Select an automatic vertebra (vertebrae_…) first", 8000)
            return
        if level is None:
            current = structure.name.removeprefix("vertebrae_")
            choices = list(SPINE_LEVELS)
            level, ok = QInputDialog.getItem(self, "This vertebra is…", f"Level of {structure.name}:", choices,
                                             choices.index(current) if current in choices else len(choices) - 1, False)
            if not ok:
                return
        before = (session.case, session.plan.structures.level)
        after = (relevel(session.case, original, level), VertebraLevel(vertebra=original, level=level))

        def apply(case, correction) -> None:  # the case's names change: a new session on the same plan and history
            current = self.window.session
            plan = current.plan
            plan.structures = plan.structures.model_copy(update={"level": correction})
            self.window.set_case(case, PlanSession(case, plan, current.catalog, current.history, current.plan_path))
            self.window.plan_files.mark_changed()

        session.history.push(LevelCorrection(f"{original} is {level}", apply, before, after))
        self.window.statusBar().showMessage(f"{original} is {level}: the other vertebrae renamed in order "
                                            "(Edit > Undo takes it back)", 8000)

    def delete_selected(self) -> None:
        if self.selected_name is not None:
            self._edit("delete", self.selected_name)

    # --- tools ---------------------------------------------------------------------------------
    def _set_tool(self, tool: str | None) -> None:
        for button, name in ((self.brush_button, "brush"), (self.eraser_button, "eraser"), (self.fill_button, "fill")):
            button.blockSignals(True)
            button.setChecked(name == tool)
            button.blockSignals(False)
        self.window.structure_tool.activate(tool)
        if tool is not None and self.selected_name is None:
            self.window.statusBar().showMessage("Select the structure to edit in the Structures panel first", 8000)


class StructureTool:
    """The brush, eraser and threshold fill in slice views (a pointer handler of the slice views)."""

    def __init__(self, window) -> None:
        self.window = window
        self.tool: str | None = None
        self._stroke = False

    def activate(self, tool: str | None) -> None:
        self.tool = tool

    def _target(self) -> str | None:
        return self.window.structures_panel.selected_name

    def press(self, view, world_lps, display_xy) -> bool:
        if self.tool is None or world_lps is None or self.window.session is None or self._target() is None:
            return False
        panel = self.window.structures_panel
        if self.tool == "fill":
            panel._edit("threshold_fill", self._target(), np.asarray(world_lps), panel.size.value(),
                        panel.low_hu.value(), panel.high_hu.value())
            return True
        self.window.session.history.begin_group("Paint" if self.tool == "brush" else "Erase")
        self._stroke = True
        self._paint(view, world_lps)
        return True

    def move(self, view, world_lps, display_xy) -> None:
        if self._stroke:
            self._paint(view, world_lps)

    def release(self, view) -> None:
        if self._stroke:
            self._stroke = False
            self.window.session.history.end_group()

    def hover(self, view, world_lps, display_xy) -> None:
        pass

    def _paint(self, view, world_lps) -> None:
        panel = self.window.structures_panel
        panel._edit("paint", self._target(), np.asarray(world_lps), panel.size.value(), view.frame.normal,
                    self.tool == "eraser")
