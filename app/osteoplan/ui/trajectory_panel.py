"""The Paths panel: every trajectory with its readouts, device chooser, visibility, rename and
delete, and the spindles of the selected trocar. It only shows the session and forwards edits."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.planning.devices import ABLATION_KINDS, DeviceKind
from osteoplan.core.planning.trajectory import Spindle
from osteoplan.core.session import PlanSession
from osteoplan.ui.style import NEEDLE_COLORS

ANGLE_CONVENTION = (
    "Transverse angle: in the axial plane, from the antero-posterior axis; positive = towards the midline "
    "(for a left/right path). Sagittal angle: from the axial plane; positive = tip caudal to the entry."
)
PATH_COLUMNS = ("Name", "Kind", "Device", "Length", "In bone", "Skin depth", "Tip in", "Transv.", "Sagitt.", "Breach", "Show")
SPINDLE_COLUMNS = ("Spindle", "Device", "Length", "Anchored", "Anchorage")
NEW_SPINDLE_LENGTH_MM = 40.0


def _mm(value) -> str:
    return "—" if value is None else f"{value:.1f} mm"


class TrajectoryPanel(QWidget):
    trajectory_activated = Signal(str)  # double click: centre the views on it

    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._row_ids: list[str] = []
        self._updating = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.tools = QToolBar()
        self.tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        layout.addWidget(self.tools)

        self.table = QTableWidget(0, len(PATH_COLUMNS))
        self.table.setObjectName("paths_table")
        self.table.setHorizontalHeaderLabels(PATH_COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeaderItem(7).setToolTip(ANGLE_CONVENTION)
        self.table.horizontalHeaderItem(8).setToolTip(ANGLE_CONVENTION)
        self.table.horizontalHeaderItem(9).setToolTip("Gertzbein-Robbins pedicle breach grade, from the needle's outer "
                                                      "surface: A 0, B < 2, C 2-4, D 4-6, E ≥ 6 mm")
        self.table.itemSelectionChanged.connect(self._on_table_selection)
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.cellDoubleClicked.connect(lambda row, _c: self.trajectory_activated.emit(self._row_ids[row]))
        layout.addWidget(self.table, 3)

        self.details = QLabel()
        self.details.setObjectName("path_details")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.details)

        spindle_bar = QHBoxLayout()
        spindle_bar.addWidget(QLabel("<b>Spindles</b> of the selected trocar"))
        self.add_spindle_button = QPushButton("Add spindle")
        self.add_spindle_button.setToolTip("A pin from the trocar's tip along its axis; drag its tip handle to aim it")
        self.remove_spindle_button = QPushButton("Remove")
        self.remove_spindle_button.setToolTip("Remove the selected spindle (undoable)")
        spindle_bar.addStretch(1)
        spindle_bar.addWidget(self.add_spindle_button)
        spindle_bar.addWidget(self.remove_spindle_button)
        layout.addLayout(spindle_bar)
        self.spindles = QTableWidget(0, len(SPINDLE_COLUMNS))
        self.spindles.setObjectName("spindles_table")
        self.spindles.setHorizontalHeaderLabels(SPINDLE_COLUMNS)
        self.spindles.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.spindles.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.spindles.verticalHeader().hide()
        self.spindles.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for table in (self.table, self.spindles):
            table.setMinimumHeight(60)
        layout.addWidget(self.spindles, 1)
        self.add_spindle_button.clicked.connect(self.add_spindle)
        self.remove_spindle_button.clicked.connect(self.remove_selected_spindle)

        controller.plan_edited.connect(self.refresh)
        controller.selection_changed.connect(self._on_controller_selection)
        self.refresh()

    def add_tools(self, actions: list[QAction], short_names: dict) -> None:
        """Buttons for the Plan menu's actions (same actions: same shortcuts and tooltips)."""
        for action in actions:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setText(short_names.get(action, action.text()))
            if action.menu() is not None:
                button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
            self.tools.addWidget(button)

    @property
    def session(self) -> PlanSession | None:
        return self.controller.session

    # --- showing -----------------------------------------------------------------------------
    def refresh(self) -> None:
        self._updating = True
        try:
            trajectories = self.session.plan.trajectories if self.session else ()
            ids = [t.id for t in trajectories]
            if ids != self._row_ids:
                self.table.setRowCount(len(ids))
                self._row_ids = ids
                for row, trajectory in enumerate(trajectories):
                    self.table.setCellWidget(row, 2, self._device_combo(trajectory))
            for row, trajectory in enumerate(trajectories):
                self._fill_row(row, trajectory)
            self._select_row_of(self.controller.selected_id)
            self._refresh_selected()
        finally:
            self._updating = False

    def _device_combo(self, trajectory) -> QComboBox:
        combo = QComboBox()
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(14)
        combo.setToolTip("Device (gauge, length); 'illustrative' entries have unverified numbers")
        kinds = (DeviceKind.TROCAR, DeviceKind.CANNULATED_SCREW, DeviceKind.KWIRE, *ABLATION_KINDS)
        for device in self.session.catalog.of_kind(*kinds):
            combo.addItem(device.name + ("" if device.verified else " (illustrative)"), device.id)
        combo.setCurrentIndex(max(combo.findData(trajectory.device), 0))
        combo.currentIndexChanged.connect(
            lambda _i, tid=trajectory.id, c=combo: self._change_device(tid, c.currentData()))
        return combo

    def _fill_row(self, row: int, trajectory) -> None:
        readout = self.session.readout(trajectory.id)
        state = self.session.state(trajectory.id)
        values = [trajectory.name or trajectory.id, trajectory.kind.value, None, _mm(readout.length_mm),
                  _mm(readout.bone_path_mm), _mm(readout.skin_depth_mm), readout.tip_description,
                  f"{readout.angles_deg['transverse']:+.1f}°", f"{readout.angles_deg['sagittal']:+.1f}°",
                  readout.breach_grade or "—"]
        for column, text in enumerate(values):
            if text is None:
                continue
            item = self.table.item(row, column)
            if item is None:
                item = QTableWidgetItem()
                self.table.setItem(row, column, item)
            item.setText(text)
            flags = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled
            if column == 0:
                flags |= Qt.ItemFlag.ItemIsEditable
                item.setForeground(QBrush(QColor.fromRgbF(*NEEDLE_COLORS[state]).darker(130)))
                item.setToolTip(f"{trajectory.id}: double click to rename; double click elsewhere on the row to "
                                "centre the views on this needle")
            item.setFlags(flags)
        combo = self.table.cellWidget(row, 2)
        if combo is not None and combo.currentData() != trajectory.device:
            combo.blockSignals(True)
            combo.setCurrentIndex(max(combo.findData(trajectory.device), 0))
            combo.blockSignals(False)
        show = self.table.item(row, 10)
        if show is None:
            show = QTableWidgetItem()
            show.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            self.table.setItem(row, 10, show)
        show.setCheckState(Qt.CheckState.Checked if trajectory.visible else Qt.CheckState.Unchecked)

    def _refresh_selected(self) -> None:
        trajectory_id = self.controller.selected_id
        if self.session is None or trajectory_id is None or trajectory_id not in self.session.plan:
            self.details.setText("No path selected. Use <i>Plan > New path</i> or a template.")
            self.spindles.setRowCount(0)
            self.add_spindle_button.setEnabled(False)
            self.remove_spindle_button.setEnabled(False)
            return
        trajectory = self.session.plan.trajectory(trajectory_id)
        readout = self.session.readout(trajectory_id)
        device = self.session.catalog.get(trajectory.device)
        lines = [f"<b>{trajectory.label}</b> — {device.name}"
                 + ("" if device.verified else " <i>(illustrative device numbers)</i>"),
                 f"length {readout.length_mm:.1f} mm, in bone {readout.bone_path_mm:.1f} mm, "
                 f"skin depth {_mm(readout.skin_depth_mm)}, tip in {readout.tip_description}"]
        if readout.device_long_enough is False:
            lines.append(f"<span style='color:#c60'>The device ({_mm(device.length_mm)}) is too short to reach the "
                         "target from the skin.</span>")
        if readout.breach_grade is not None:
            lines.append(f"pedicle breach grade {readout.breach_grade} ({readout.breach_mm:.1f} mm outside the cortex)")
        self.details.setText("<br>".join(lines))
        self.spindles.setRowCount(len(trajectory.spindles))
        by_id = {s.id: s for s in readout.spindles}
        for row, spindle in enumerate(trajectory.spindles):
            spindle_readout = by_id.get(spindle.id)
            values = [spindle.name or spindle.id, self.session.catalog.get(spindle.device).name, _mm(spindle.length_mm),
                      "yes" if spindle_readout and spindle_readout.anchored else "no",
                      _mm(spindle_readout.anchorage_mm if spindle_readout else None)]
            for column, text in enumerate(values):
                self.spindles.setItem(row, column, QTableWidgetItem(text))
        self.add_spindle_button.setEnabled(True)
        self.remove_spindle_button.setEnabled(bool(trajectory.spindles))

    # --- edits ---------------------------------------------------------------------------------
    def _run_edit(self, edit) -> None:
        try:
            edit()
        except (OsteoPlanError, ValueError) as exc:
            self.controller.status_message.emit(f"Not changed: {exc}")
            self.refresh()

    def _change_device(self, trajectory_id: str, device_id: str) -> None:
        if not self._updating and device_id:
            self._run_edit(lambda: self.session.editor.set_device(trajectory_id, device_id))

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._updating or self.session is None:
            return
        trajectory_id = self._row_ids[item.row()]
        if item.column() == 0:
            self._run_edit(lambda: self.session.editor.rename(trajectory_id, item.text().strip()))
        elif item.column() == 10:
            self._run_edit(lambda: self.session.editor.set_visible(trajectory_id, item.checkState() == Qt.CheckState.Checked))

    def add_spindle(self) -> None:
        trajectory_id = self.controller.selected_id
        if self.session is None or trajectory_id is None:
            return
        trajectory = self.session.plan.trajectory(trajectory_id)
        spindle = Spindle(id=self.session.plan.new_id("s"), direction=tuple(trajectory.axis),
                          length_mm=NEW_SPINDLE_LENGTH_MM, device=self.session.default_spindle_device().id)
        self._run_edit(lambda: self.session.editor.add_spindle(trajectory_id, spindle))

    def remove_selected_spindle(self) -> None:
        trajectory_id = self.controller.selected_id
        rows = self.spindles.selectionModel().selectedRows()
        if self.session is None or trajectory_id is None:
            return
        trajectory = self.session.plan.trajectory(trajectory_id)
        if not trajectory.spindles:
            return
        row = rows[0].row() if rows else len(trajectory.spindles) - 1
        self._run_edit(lambda: self.session.editor.remove_spindle(trajectory_id, trajectory.spindles[row].id))

    # --- selection ------------------------------------------------------------------------------
    def _on_table_selection(self) -> None:
        if self._updating:
            return
        rows = self.table.selectionModel().selectedRows()
        self.controller.select(self._row_ids[rows[0].row()] if rows else None)

    def _on_controller_selection(self, trajectory_id) -> None:
        self._updating = True
        try:
            self._select_row_of(trajectory_id)
            self._refresh_selected()
        finally:
            self._updating = False

    def _select_row_of(self, trajectory_id) -> None:
        if trajectory_id in self._row_ids:
            self.table.selectRow(self._row_ids.index(trajectory_id))
        else:
            self.table.clearSelection()

