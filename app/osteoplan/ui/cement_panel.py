"""The Cement panel: injections through the trocars (volume, portions, viscosity), what they fill,
which leak gateways they reach at which volume (and during which portion), and a preview slider
that re-queries the fill instantly."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.planning.injection import Injection, portions_of
from osteoplan.ui.plan_item_panel import PlanItemPanel, row_table
from osteoplan.ui.tasks import busy_cursor

COLUMNS = ("Injection", "Trocar", "Volume", "Portions", "Viscosity", "Filled", "Lesion", "Bone")
DEFAULT_VOLUME_ML = 4.0  # lumbar vertebroplasty typically 4-6 mL (resources/sources.md, Belkoff 2001)
VISCOSITIES = ("low", "medium", "high")
SLIDER_STEPS_PER_ML = 20


def _percent(value) -> str:
    return "—" if value is None else f"{value:.0f} %"


class CementPanel(PlanItemPanel):
    def __init__(self, window, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self._ids: list[str] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Inject through selected trocar")
        self.add_button.setToolTip(f"A {DEFAULT_VOLUME_ML:g} mL injection from the selected path's tip")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected injection (undoable)")
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        layout.addLayout(buttons)
        self.table = row_table("injections_table", COLUMNS)
        layout.addWidget(self.table, 1)
        slider_row = QHBoxLayout()
        slider_row.addWidget(QLabel("Preview"))
        self.preview = QSlider(Qt.Orientation.Horizontal)
        self.preview.setToolTip("Watch the cement spread as the volume grows (the plan's volume is unchanged)")
        self.preview_label = QLabel()
        slider_row.addWidget(self.preview, 1)
        slider_row.addWidget(self.preview_label)
        layout.addLayout(slider_row)
        self.timeline = QLabel("No injection.")
        self.timeline.setObjectName("cement_timeline")
        self.timeline.setWordWrap(True)
        layout.addWidget(self.timeline)
        self.add_button.clicked.connect(self.add_to_selected_trocar)
        self.remove_button.clicked.connect(self.remove_selected)
        self.table.itemSelectionChanged.connect(self._reset_preview)
        self.preview.valueChanged.connect(self._preview_changed)
        window.controller.plan_edited.connect(self.refresh)

    # --- showing --------------------------------------------------------------------------------
    def report(self) -> dict | None:
        from osteoplan.core.cement.simulation import injection_report

        try:
            with busy_cursor():
                return injection_report(self.session)
        except (OsteoPlanError, ValueError, KeyError) as exc:
            self.timeline.setText(f"Cement not simulated: {exc}")
            return None

    def refresh(self) -> None:
        session = self.session
        injections = session.plan.injections if session is not None else ()
        selected = self.selected_id
        self._ids = [i.id for i in injections]
        report = self.report() if injections else None
        by_id = {item["id"]: item for item in (report or {}).get("injections", [])}
        self.table.blockSignals(True)
        self.table.setRowCount(len(injections))
        for row, injection in enumerate(injections):
            item = by_id.get(injection.id, {})
            values = (injection.id, injection.trocar, None, None, None,
                      f"{item['filled_ml']:.2f} mL" if item else "—", _percent(item.get("lesion_fill")),
                      _percent(item.get("bone_fill")))
            for column, text in enumerate(values):
                if text is not None:
                    self.table.setItem(row, column, QTableWidgetItem(text))
            volume = QDoubleSpinBox(minimum=0.1, maximum=60.0, singleStep=0.5, decimals=1, suffix=" mL",
                                    value=injection.volume_ml)
            volume.setToolTip("Planned injected volume")
            volume.valueChanged.connect(lambda value, i=injection.id: self._edit(
                lambda: self.session.editor.update_injection(i, "Change volume", volume_ml=value,
                                                             steps_ml=portions_of(value, self._portion_of(i)))))
            self.table.setCellWidget(row, 2, volume)
            portion = QDoubleSpinBox(minimum=0.0, maximum=20.0, singleStep=0.5, decimals=1, suffix=" mL",
                                     value=self._portion_of(injection.id))
            portion.setSpecialValueText("all at once")
            portion.setToolTip("Inject in portions of this size with pauses: the cement already placed thickens, "
                               "so each new portion spreads along new paths (all at once: one shot)")
            portion.valueChanged.connect(lambda value, i=injection.id: self._edit(
                lambda: self.session.editor.update_injection(
                    i, "Change portions", steps_ml=portions_of(self.session.plan.injection(i).volume_ml, value))))
            self.table.setCellWidget(row, 3, portion)
            viscosity = QComboBox()
            viscosity.addItems(VISCOSITIES)
            viscosity.setToolTip("The cement's viscosity when injected: a thicker cement spreads less far from the tip")
            viscosity.setCurrentText(injection.viscosity)
            viscosity.currentTextChanged.connect(lambda text, i=injection.id: self._edit(
                lambda: self.session.editor.update_injection(i, "Change viscosity", viscosity=text)))
            self.table.setCellWidget(row, 4, viscosity)
        if selected in self._ids:
            self.table.selectRow(self._ids.index(selected))
        self.table.blockSignals(False)
        self._reset_preview()
        self._show_timeline(report)

    def _show_timeline(self, report) -> None:
        if not self._ids:
            self.timeline.setText("No injection. Select a trocar, then <i>Inject through selected trocar</i>.")
            return
        if report is None:
            return
        from osteoplan.core.cement.simulation import solve

        lines = []
        for injection in self.session.plan.injections:
            reached = solve(self.session).first_reach_ml(injection.id)
            planned = injection.volume_ml
            stepwise = len(injection.steps_ml) > 1
            parts = [f"{g['kind']} → {g['into']} at {g['reached_at']:.2f} mL"
                     + ("" if g["reached_at"] > planned else f" (portion {g['step']}, within the plan)"
                        if stepwise else " (within the plan)")
                     for g in reached[:5]] if reached else ["no leak gateway in reach"]
            doses = f"{planned:g} mL" + (f" in {len(injection.steps_ml)} portions" if stepwise else "")
            lines.append(f"<b>{injection.id}</b> ({doses}): " + "; ".join(parts))
        for warning in report["warnings"]:
            lines.append(f"<span style='color:#c00'>{warning['severity'].upper()}</span> {warning['message']}")
        self.timeline.setText("<br>".join(lines))

    # --- preview ----------------------------------------------------------------------------------
    def _reset_preview(self) -> None:
        injection_id = self.selected_id
        self.window.controller.cement_preview_ml.clear()
        self.preview.blockSignals(True)
        if injection_id is None:
            self.preview.setEnabled(False)
            self.preview_label.setText("")
        else:
            planned = self.session.plan.injection(injection_id).volume_ml
            self.preview.setEnabled(True)
            self.preview.setRange(1, int(round(max(planned * 1.5, 1.0) * SLIDER_STEPS_PER_ML)))
            self.preview.setValue(int(round(planned * SLIDER_STEPS_PER_ML)))
            self.preview_label.setText(f"{planned:.2f} mL")
        self.preview.blockSignals(False)

    def _preview_changed(self, value: int) -> None:
        injection_id = self.selected_id
        if injection_id is None:
            return
        volume = value / SLIDER_STEPS_PER_ML
        self.window.controller.cement_preview_ml[injection_id] = volume
        self.preview_label.setText(f"{volume:.2f} mL")
        self.window.controller.refresh_views()  # a re-query of the solved spread, no new solve

    # --- edits ------------------------------------------------------------------------------------
    def _portion_of(self, injection_id: str) -> float:
        """The portion size of a stepwise injection (its first step), 0 for one shot."""
        steps = self.session.plan.injection(injection_id).steps_ml
        return steps[0] if len(steps) > 1 else 0.0

    def add_to_selected_trocar(self) -> None:
        session, trajectory_id = self.session, self.window.controller.selected_id
        if session is None or trajectory_id is None:
            self.window.statusBar().showMessage("Select the trocar's path first", 8000)
            return
        injection = Injection(id=session.plan.new_id("c"), trocar=trajectory_id, volume_ml=DEFAULT_VOLUME_ML)
        self._edit(lambda: session.editor.add_injection(injection))

    def remove_selected(self) -> None:
        if self.session is not None and self.selected_id is not None:
            self._edit(lambda: self.session.editor.remove_injection(self.selected_id))
