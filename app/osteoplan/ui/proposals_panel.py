"""The Proposals panel (Plan > Propose paths…): the safest paths to the cursor or a lesion for one
technique, searched in the background with progress; the ranked paths and the best bilateral pairs
in a table, the selected one previewed in every view, the risk map on the skin in 3-D, and
"Accept" adding the selection as ordinary, editable paths in one undo step."""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import Qt
from shiboken6 import isValid as shiboken_valid
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.proposals.propose import (
    Candidate,
    CandidatePair,
    ProposalResult,
    accept_proposals,
    candidate_line,
    lesion_names,
    proposal_settings,
    propose_paths,
    target_at_point,
    target_of_lesion,
)
from osteoplan.render.needles import NeedleGraphic, NeedleOverlay2D, NeedleTubes3D
from osteoplan.render.risk_map import PEDICLE_RGB, STOP_RGB, RiskMapLayer, score_rgb
from osteoplan.ui.plan_controller import solid_slab_half_mm
from osteoplan.ui.plan_item_panel import details_label, row_table

COLUMNS = ("Path", "Score", "Margin", "Closest structure", "Skin→target", "Soft tissue", "Transverse", "Sagittal",
           "Breach")
CURSOR = "Cursor"
PREVIEW_RADIUS_MM = 1.5


def _margin(candidate) -> str:
    return "unknown" if candidate.min_margin_mm is None else f"{candidate.min_margin_mm:.1f} mm"


def _short_label(candidate: Candidate) -> str:
    """The level and side (the technique is the panel's), or the technique for a side-less path."""
    return " ".join(p for p in (candidate.level, candidate.side or candidate.technique) if p)


def _cells(rank: int, candidate: Candidate) -> list[str]:
    return [f"{rank}. {_short_label(candidate)}", f"{candidate.score:.2f}", _margin(candidate),
            candidate.closest_structure or "—", f"{candidate.skin_to_target_mm:.0f} mm",
            f"{candidate.soft_tissue_mm:.0f} mm", f"{candidate.angles_deg['transverse']:+.0f}°",
            f"{candidate.angles_deg['sagittal']:+.0f}°", candidate.breach_grade or "—"]


class ProposalsPanel(QWidget):
    def __init__(self, window, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self.result: ProposalResult | None = None
        self.rows: list[Candidate | CandidatePair] = []
        self._cancel: threading.Event | None = None
        self.running = False
        self.shown = True  # False while the panel's dock is closed: no risk map, no preview then
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        form = QFormLayout()
        self.target_combo = QComboBox()
        self.target_combo.setObjectName("proposal_target")
        self.target_combo.setToolTip("Where the needle's tip should go: the cursor, or a lesion label "
                                     "(tips are then tried through the whole lesion)")
        self.technique_combo = QComboBox()
        self.technique_combo.setObjectName("proposal_technique")
        self.technique_combo.setToolTip("The approach to search: its cone of allowed angles and its rules")
        for name, rule in proposal_settings().techniques.items():
            self.technique_combo.addItem(rule.label, name)
            self.technique_combo.setItemData(self.technique_combo.count() - 1, rule.source, Qt.ItemDataRole.ToolTipRole)
        form.addRow("Target", self.target_combo)
        form.addRow("Technique", self.technique_combo)
        layout.addLayout(form)
        buttons = QHBoxLayout()
        self.propose_button = QPushButton("Propose")
        self.propose_button.setToolTip("Search the straight paths from the skin to the target (a second or two)")
        self.accept_button = QPushButton("Accept")
        self.accept_button.setToolTip("Add the selected path (or pair) to the plan as ordinary, editable paths")
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove the proposals, the preview and the risk map")
        self.risk_check = QCheckBox("Risk map")
        self.risk_check.setChecked(True)
        self.risk_check.setToolTip("Every searched entry point on the skin in 3-D: green safe, amber closer to "
                                   "a structure, red a stop structure on the path, violet misses the pedicle")
        for widget in (self.propose_button, self.accept_button, self.clear_button, self.risk_check):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.legend = QLabel()
        self.legend.setObjectName("risk_legend")
        self.legend.setWordWrap(True)  # never widens the dock
        self.legend.setToolTip(self.risk_check.toolTip())
        layout.addWidget(self.legend)
        self.technique_combo.currentIndexChanged.connect(self._show_legend)
        self._show_legend()
        self.table = row_table("proposals_table", COLUMNS)
        layout.addWidget(self.table, 1)
        self.details = details_label("proposal_details", "Choose a target and a technique, then <i>Propose</i>.")
        layout.addWidget(self.details)

        renderer_3d = window.views["3d"].renderer
        self.risk_layer = RiskMapLayer(renderer_3d)
        self._tubes = NeedleTubes3D(renderer_3d)
        self._overlays = {}
        for view in window.slice_views():
            self._overlays[view] = NeedleOverlay2D(view.renderer)
            view.render_hooks.append(self._update_overlay)
        self.preview: list[NeedleGraphic] = []
        self.propose_button.clicked.connect(self.propose)
        self.accept_button.clicked.connect(self.accept_selected)
        self.clear_button.clicked.connect(self.clear)
        self.risk_check.toggled.connect(lambda _on: self._show_risk_map())
        self.table.itemSelectionChanged.connect(self._on_selection)
        window.case_shown.connect(lambda _case: self.clear())
        self.refresh_targets()
        self._update_buttons()

    @property
    def session(self):
        return self.window.session

    def open_panel(self) -> None:
        """Plan > Propose paths…: show the panel's dock in front."""
        dock = self.parentWidget()
        while dock is not None and not hasattr(dock, "toggleViewAction"):
            dock = dock.parentWidget()
        if dock is not None:
            dock.show()
            dock.raise_()
        self.refresh_targets()
        self.set_shown(True)

    # --- inputs -------------------------------------------------------------------------------
    def refresh_targets(self) -> None:
        """Cursor, then the case's lesion labels (the current choice kept when it is still there)."""
        if self.running:
            return
        current = self.target_combo.currentText()
        self.target_combo.clear()
        self.target_combo.addItem(CURSOR)
        if self.session is not None:
            for name in lesion_names(self.session):
                self.target_combo.addItem(name)
        index = self.target_combo.findText(current)
        self.target_combo.setCurrentIndex(index if index >= 0 else min(1, self.target_combo.count() - 1))

    def set_inputs(self, target: str | None = None, technique: str | None = None) -> None:
        if target is not None:
            self.target_combo.setCurrentIndex(max(0, self.target_combo.findText(target)))
        if technique is not None:
            self.technique_combo.setCurrentIndex(max(0, self.technique_combo.findData(technique)))

    # --- search ----------------------------------------------------------------------------------
    def propose(self) -> None:
        session = self.session
        if session is None or self.running:
            return
        technique = self.technique_combo.currentData()
        choice = self.target_combo.currentText()
        try:
            if choice == CURSOR:
                target = target_at_point(session, self.window.viewer.cursor_lps)
            else:
                target = target_of_lesion(session, choice, proposal_settings().techniques[technique].lesion_tips)
        except OsteoPlanError as exc:
            self.details.setText(str(exc))
            return
        self._cancel = threading.Event()
        self.running = True
        self._update_buttons()
        self.details.setText("Searching…")
        cancel = self._cancel

        def finished(result: ProposalResult) -> None:
            self.running = False
            if session is self.session:
                self.show_result(result)
            self._update_buttons()

        task = self.window.run_task("Proposing paths…", lambda progress: propose_paths(
            session, target, technique, progress=progress, cancel=cancel), finished, cancel=cancel)
        task.signals.failed.connect(lambda _error: self._stopped())

    def _stopped(self) -> None:
        self.running = False
        self.details.setText("Search stopped." if self._cancel is not None and self._cancel.is_set()
                             else "The search failed (see the message).")
        self._update_buttons()

    def show_result(self, result: ProposalResult) -> None:
        self.result = result
        self.rows = [*result.candidates, *result.pairs]
        self.table.setRowCount(len(self.rows))
        for row, item in enumerate(self.rows):
            if isinstance(item, CandidatePair):
                worse = min((item.left, item.right), key=lambda c: -1e9 if c.min_margin_mm is None else c.min_margin_mm)
                pair_rank = row - len(result.candidates) + 1
                level = f" {item.left.level}" if item.left.level else ""
                cells = [f"Pair {pair_rank}:{level} left + right", f"{item.score:.2f}",
                         _margin(worse), worse.closest_structure or "—",
                         f"{item.left.skin_to_target_mm:.0f} / {item.right.skin_to_target_mm:.0f} mm",
                         f"{item.left.soft_tissue_mm:.0f} / {item.right.soft_tissue_mm:.0f} mm",
                         f"{item.left.angles_deg['transverse']:+.0f}° / {item.right.angles_deg['transverse']:+.0f}°",
                         f"{item.left.angles_deg['sagittal']:+.0f}° / {item.right.angles_deg['sagittal']:+.0f}°",
                         f"{item.left.breach_grade or '—'} / {item.right.breach_grade or '—'}"]
                score = item.score
            else:
                cells, score = _cells(row + 1, item), item.score
            for column, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                if column == 1:
                    r, g, b = score_rgb([score])[0]
                    cell.setForeground(Qt.GlobalColor.black)
                    cell.setBackground(_qcolor(r, g, b))
                self.table.setItem(row, column, cell)
        self.details.setText(f"{result.message} ({result.seconds:.1f} s)")
        self._show_risk_map()
        self.face_entries()
        if self.rows:
            self.table.selectRow(0)
        else:
            self.set_preview([])
        self._update_buttons()

    # --- selection, preview --------------------------------------------------------------------
    def selected(self) -> list[Candidate]:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.rows):
            return []
        item = self.rows[rows[0].row()]
        return [item.left, item.right] if isinstance(item, CandidatePair) else [item]

    def _on_selection(self) -> None:
        chosen = self.selected()
        self.set_preview(chosen)
        if chosen:
            text = "<br>".join(candidate_line(c) for c in chosen)
            notes = [w for c in chosen for w in c.warnings]
            if notes:
                text += "<br><span style='color:#e0a030'>" + "<br>".join(notes) + "</span>"
            self.details.setText(text)
            self.window.viewer.set_cursor(np.asarray(chosen[0].target_lps))  # slices through the tip
        self._update_buttons()

    def _show_legend(self) -> None:
        rule = proposal_settings().techniques[self.technique_combo.currentData()]
        self.legend.setText(_legend_html(rule.through_pedicle))

    def set_preview(self, candidates: list[Candidate]) -> None:
        """Draw the candidates as needles in every view (coloured by score), not in the plan."""
        self.preview = [NeedleGraphic(f"proposal{i}", np.asarray(c.entry_lps), np.asarray(c.target_lps),
                                      PREVIEW_RADIUS_MM, tuple(score_rgb([c.score])[0]), True)
                        for i, c in enumerate(candidates if self.shown else [])]
        self._tubes.set_needles(self.preview)
        for view in self._overlays:
            view.request_render()
        self.window.views["3d"].request_render(30)

    def _update_overlay(self, view) -> None:
        if view.case is None:
            return
        self._overlays[view].update(self.preview, view.plane_point, view.frame, solid_slab_half_mm(view))

    def set_shown(self, shown: bool) -> None:
        """The panel opened or closed: the risk map and the preview show only while it is open."""
        if not shiboken_valid(self.risk_check):  # the dock reports its hiding while the window is torn down
            return
        self.shown = bool(shown)
        if self.shown:
            self.refresh_targets()
        self._show_risk_map()
        self.set_preview(self.selected() if self.shown else [])

    def face_entries(self) -> None:
        """Turn the 3-D view to look at the target from the side of the searched entries (the risk map in front)."""
        if self.result is None or len(self.result.risk_map.entries_lps) == 0:
            return
        view = self.window.views["3d"]
        target = np.asarray(self.result.target.points[0], dtype=float)
        entries = self.result.risk_map.entries_lps
        outward = (entries - target).mean(axis=0)
        if np.linalg.norm(outward) < 1e-6:
            return
        outward /= np.linalg.norm(outward)
        camera = view.renderer.GetActiveCamera()
        camera.SetFocalPoint(*target)
        camera.SetPosition(*(target + outward * 600.0 + np.array([0.0, 0.0, 150.0])))
        camera.SetViewUp(*((0.0, -1.0, 0.0) if abs(outward[2]) > 0.9 else (0.0, 0.0, 1.0)))
        camera.OrthogonalizeViewUp()
        low = np.minimum(entries.min(axis=0), target) - 15.0
        high = np.maximum(entries.max(axis=0), target) + 15.0
        view.renderer.ResetCamera(*np.ravel(np.column_stack([low, high])))
        view.render()

    def _show_risk_map(self) -> None:
        wanted = self.result is not None and self.risk_check.isChecked() and self.shown
        shown = self.result.risk_map if wanted else None
        self.risk_layer.set_map(shown)
        self.window.views["3d"].request_render(30)

    # --- actions -----------------------------------------------------------------------------------
    def accept_selected(self) -> list:
        chosen = self.selected()
        if not chosen or self.session is None:
            return []
        added = accept_proposals(self.session, chosen)
        self.window.controller.select(added[-1].id)
        self.window.statusBar().showMessage(
            f"Added {', '.join(t.label for t in added)} (one undo step); edit them as any path", 10000)
        return added

    def clear(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
        self.result = None
        self.rows = []
        self.table.setRowCount(0)
        self.set_preview([])
        self.risk_layer.clear()
        self.refresh_targets()
        self.details.setText("Choose a target and a technique, then <i>Propose</i>.")
        self.window.views["3d"].request_render(30)
        self._update_buttons()

    def _update_buttons(self) -> None:
        has_session = self.session is not None
        self.propose_button.setEnabled(has_session and not self.running)
        self.accept_button.setEnabled(bool(self.selected()) and not self.running)
        self.clear_button.setEnabled(self.result is not None or bool(self.preview))


def _legend_html(through_pedicle: bool) -> str:
    """The risk map's colours, as dots in the panel (the pedicle's only for a technique through it)."""
    def dot(rgb) -> str:
        return "<span style='color:#%02x%02x%02x'>&#9679;</span>" % tuple(int(255 * c) for c in rgb)

    safe, closer = score_rgb([1.0])[0], score_rgb([0.45])[0]
    pedicle = f" {dot(PEDICLE_RGB)} misses the pedicle" if through_pedicle else ""
    return (f"Risk map (3-D, on the skin): {dot(safe)} safest {dot(closer)} closer to a structure "
            f"{dot(STOP_RGB)} stop structure on the path{pedicle}")


def _qcolor(r: float, g: float, b: float):
    from PySide6.QtGui import QColor

    return QColor.fromRgbF(r, g, b)
