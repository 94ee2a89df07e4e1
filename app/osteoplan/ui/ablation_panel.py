"""The Ablation panel: the plan's ablations (device, setting, zone size, lesion coverage and margin,
peak temperatures at thermocouples and structures), thermocouples, and the bioheat "refine"."""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from osteoplan.core.errors import OsteoPlanError
from osteoplan.ui.plan_item_panel import PlanItemPanel, details_label, row_table

COLUMNS = ("Ablation", "Path", "Setting", "Offset", "Lethal zone", "Coverage", "Margin", "Model")


class AblationPanel(PlanItemPanel):
    def __init__(self, window, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self._ids: list[str] = []
        self.refined: dict[str, dict] = {}  # ablation id -> bioheat summary (until the ablation changes)
        self.refined_zones: dict[str, object] = {}  # ablation id -> bioheat zone on the CT grid
        self._refined_keys: dict[str, object] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add to selected path")
        self.add_button.setToolTip("An ablation on the selected path (its device must be an RF, microwave or cryo probe)")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected ablation (undoable)")
        self.thermocouple_button = QPushButton("Thermocouple at cursor")
        self.thermocouple_button.setToolTip("A thermocouple at the cursor; its peak temperature is predicted")
        self.refine_button = QPushButton("Refine (bioheat)")
        self.refine_button.setToolTip("A 3-D Pennes bioheat solve around the selected ablation, in the background")
        for button in (self.add_button, self.remove_button, self.thermocouple_button, self.refine_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.table = row_table("ablations_table", COLUMNS)
        layout.addWidget(self.table, 1)
        self.details = details_label("ablation_details", "No ablation. Choose a probe as a path's device, then <i>Add to selected path</i>.")
        layout.addWidget(self.details)
        self.add_button.clicked.connect(self.add_to_selected_path)
        self.remove_button.clicked.connect(self.remove_selected)
        self.thermocouple_button.clicked.connect(self.add_thermocouple_at_cursor)
        self.refine_button.clicked.connect(self.refine_selected)
        self.table.itemSelectionChanged.connect(self._show_details)
        window.controller.plan_edited.connect(self.refresh)

    # --- showing --------------------------------------------------------------------------------
    def _key(self, ablation_id: str):
        """What a refine depends on: the ablation, its path and the thermocouples."""
        ablation = self.session.plan.ablation(ablation_id)
        path = self.session.plan.trajectory(ablation.trajectory) if ablation.trajectory in self.session.plan else None
        return (ablation, path, self.session.plan.thermocouples)

    def refined_zone(self, ablation_id: str):
        """The bioheat zone while the ablation is unchanged since its refine, else None."""
        if ablation_id in self.refined_zones and self._refined_keys.get(ablation_id) == self._key(ablation_id):
            return self.refined_zones[ablation_id]
        return None

    def summary(self, ablation_id: str) -> dict | None:
        """The refined summary while the ablation is unchanged since its refine, else the table model's."""
        from osteoplan.core.ablation.warnings import ablation_summary

        if ablation_id in self.refined and self._refined_keys.get(ablation_id) == self._key(ablation_id):
            return self.refined[ablation_id]
        try:
            return ablation_summary(self.session, ablation_id)
        except (OsteoPlanError, ValueError, KeyError):
            return None

    def refresh(self) -> None:
        session = self.session
        ablations = session.plan.ablations if session is not None else ()
        selected = self.selected_id
        self._ids = [a.id for a in ablations]
        self.table.blockSignals(True)
        self.table.setRowCount(len(ablations))
        for row, ablation in enumerate(ablations):
            summary = self.summary(ablation.id)
            zone = summary["lethal_zone"] if summary else None
            values = (ablation.id, ablation.trajectory, None, None,
                      f"{zone['length_mm']:.0f} × {zone['width_mm']:.0f} mm, {zone['volume_ml']:.1f} mL" if zone else "—",
                      "—" if not summary or summary["lesion_coverage"] is None else f"{summary['lesion_coverage']:.0f} %",
                      "—" if not summary or summary["min_margin_mm"] is None else f"{summary['min_margin_mm']:+.1f} mm",
                      (summary["model"] + ("" if summary["verified"] else " (illustrative)")) if summary else "—")
            for column, text in enumerate(values):
                if text is not None:
                    self.table.setItem(row, column, QTableWidgetItem(text))
            self.table.setCellWidget(row, 2, self._setting_combo(ablation))
            offset = QDoubleSpinBox(minimum=0.0, maximum=50.0, singleStep=1.0, decimals=1, suffix=" mm",
                                    value=ablation.offset_mm)
            offset.setToolTip("Pull the zone back along the probe from the tip")
            offset.valueChanged.connect(lambda value, a=ablation.id: self._edit(
                lambda: self.session.editor.update_ablation(a, "Move zone along probe", offset_mm=value)))
            self.table.setCellWidget(row, 3, offset)
        if selected in self._ids:
            self.table.selectRow(self._ids.index(selected))
        self.table.blockSignals(False)
        self._show_details()

    def _setting_combo(self, ablation) -> QComboBox:
        combo = QComboBox()
        combo.setToolTip("The probe's setting (power, time) from its catalog entry: it sets the zone's size")
        try:
            probe = self.session.catalog.get(self.session.plan.trajectory(ablation.trajectory).device)
            for setting in probe.settings:
                combo.addItem(setting.label, setting.id)
        except (OsteoPlanError, KeyError, AttributeError):
            return combo
        combo.setCurrentIndex(max(combo.findData(ablation.setting), 0))
        combo.currentIndexChanged.connect(
            lambda _i, a=ablation.id, c=combo: self._edit(lambda: self.session.editor.update_ablation(
                a, "Change setting", setting=c.currentData())))
        return combo

    def _show_details(self) -> None:
        ablation_id = self.selected_id
        if self.session is None or ablation_id is None:
            self.details.setText("No ablation. Choose a probe as a path's device, then <i>Add to selected path</i>.")
            return
        summary = self.summary(ablation_id)
        if summary is None:
            self.details.setText(f"{ablation_id}: its path has no ablation probe or the setting is unknown.")
            return
        lines = [f"<b>{ablation_id}</b> on {summary['trajectory']} — {summary['device']} ({summary['model']} model"
                 + ("" if summary["verified"] else ", <i>illustrative numbers</i>") + ")"]
        for item in summary["thermocouples"]:
            lines.append(f"thermocouple {item['id']}: peak {item['peak_c']:.1f} °C")
        near = [s for s in summary["structures"] if s["distance_mm"] < 15]
        for item in sorted(near, key=lambda s: s["distance_mm"])[:6]:
            peak = "" if item["peak_c"] is None else f", peak {item['peak_c']:.1f} °C"
            lines.append(f"{item['name']}: {item['distance_mm']:.1f} mm from the zone{peak}")
        self.details.setText("<br>".join(lines))

    # --- edits ----------------------------------------------------------------------------------
    def add_to_selected_path(self) -> None:
        from osteoplan.core.planning.ablation import Ablation

        session, trajectory_id = self.session, self.window.controller.selected_id
        if session is None or trajectory_id is None:
            self.window.statusBar().showMessage("Select the probe's path first", 8000)
            return
        device = session.catalog.get(session.plan.trajectory(trajectory_id).device)
        settings = getattr(device, "settings", None)
        if not settings:
            self.window.statusBar().showMessage(
                f"{device.name} is not an ablation probe: choose an RF, microwave or cryo probe as the path's device", 10000)
            return
        ablation = Ablation(id=session.plan.new_id("a"), trajectory=trajectory_id, setting=settings[0].id)
        self._edit(lambda: session.editor.add_ablation(ablation))

    def remove_selected(self) -> None:
        if self.session is not None and self.selected_id is not None:
            self._edit(lambda: self.session.editor.remove_ablation(self.selected_id))

    def add_thermocouple_at_cursor(self) -> None:
        from osteoplan.core.planning.ablation import Thermocouple

        if self.session is None:
            return
        thermocouple = Thermocouple(id=self.session.plan.new_id("tc"),
                                    position_lps=tuple(np.asarray(self.window.viewer.cursor_lps, dtype=float)))
        self._edit(lambda: self.session.editor.add_thermocouple(thermocouple))

    def refine_selected(self):
        from osteoplan.core.ablation.refine import bioheat_available, refine_ablation
        from osteoplan.core.ablation.warnings import ablation_summary

        session, ablation_id = self.session, self.selected_id
        if session is None or ablation_id is None or not bioheat_available():
            return
        key = self._key(ablation_id)
        self.cancel_refine = threading.Event()

        def work(progress):
            zone, temperature, _result = refine_ablation(session, ablation_id, progress, self.cancel_refine.is_set)
            summary = ablation_summary(session, ablation_id, "bioheat", zones={ablation_id: zone}, temperature=temperature)
            return zone, summary

        def done(result) -> None:
            self.refined_zones[ablation_id], self.refined[ablation_id] = result
            self._refined_keys[ablation_id] = key
            self.refresh()
            self.window.controller.refresh_views()  # the views now draw the refined zone

        return self.window.run_task(f"Refining {ablation_id} (bioheat)…", work, done, cancel=self.cancel_refine)
