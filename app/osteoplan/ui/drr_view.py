"""The fluoroscopy pane: a DRR of the CT for a virtual C-arm, with the plan drawn through the same
projection (needles black like metal, cement dark, ablation zones tinted), and the C-arm's controls.

The pane can take the place of any of the four views (View > Fluoroscopy in pane). The C-arm is
centred on the selected needle's target (else the cursor) by the AP / Lateral buttons; Bull's-eye
turns it down the selected needle. The DRR is recomputed when the C-arm moves (tens of ms, see
core/fluoro/drr.py); the overlays are repainted live while needles are dragged and the "advance"
slider of the needle views moves the needle's tip here too.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from osteoplan.core.display.view_geometry import orientation_label
from osteoplan.core.fluoro.drr import (
    CArm,
    Drr,
    attenuation_volume,
    bulls_eye_angles,
    cached_attenuation_volume,
    compute_drr,
    drr_display,
    mask_projection,
    project_points,
)
from osteoplan.ui.style import VIRTUAL_TIP_COLOR

PANES = {"axial": "Axial pane", "3d": "3D pane", "sagittal": "Sagittal pane", "coronal": "Coronal pane"}
ZONE_TINTS = {"heat": (255, 140, 40), "cryo": (80, 200, 255)}
CEMENT_MU_PER_MM = 0.15  # opacified PMMA shows near black on fluoroscopy (its look only)
BACKGROUND = QColor("#202020")


def _qcolor(rgb, alpha: int = 255) -> QColor:
    return QColor(int(rgb[0] * 255), int(rgb[1] * 255), int(rgb[2] * 255), alpha)


def _rgba_image(rgba: np.ndarray) -> QImage:
    height, width, _ = rgba.shape
    return QImage(np.ascontiguousarray(rgba).data, width, height, 4 * width, QImage.Format.Format_RGBA8888).copy()


class DrrCanvas(QWidget):
    """Paints the DRR scaled to fit (square pixels, centred) and the overlays through its projection."""

    maximise_requested = Signal()

    def __init__(self, pane: "DrrView") -> None:
        super().__init__(pane)
        self.pane = pane
        self.image: QImage | None = None
        self.message = "Fluoroscopy: open a case"  # shown while there is no image
        self.layers: list[QImage] = []  # zones and cement, detector-sized RGBA
        self.setMinimumSize(160, 120)
        self.setAutoFillBackground(False)

    # detector pixel (col, row) -> widget point
    def _placement(self) -> tuple[float, float, float]:
        cols, rows = self.pane.carm.pixels
        scale = min(self.width() / cols, self.height() / rows)
        return scale, (self.width() - cols * scale) / 2.0, (self.height() - rows * scale) / 2.0

    def to_widget(self, pixels: np.ndarray) -> np.ndarray:
        scale, x0, y0 = self._placement()
        return np.column_stack([x0 + (pixels[:, 0] + 0.5) * scale, y0 + (pixels[:, 1] + 0.5) * scale])

    def paintEvent(self, _event):  # noqa: N802 (Qt naming)
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        if self.image is None:
            painter.setPen(QColor("#a0a0a0"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.message)
            painter.end()
            return
        scale, x0, y0 = self._placement()
        cols, rows = self.pane.carm.pixels
        target = QRectF(x0, y0, cols * scale, rows * scale)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(target, self.image)
        for layer in self.layers:
            painter.drawImage(target, layer)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self._paint_rule(painter)
        self._paint_needles(painter, scale)
        self._paint_text(painter, target)
        painter.end()

    def _paint_needles(self, painter: QPainter, scale: float) -> None:
        pane = self.pane
        projection = pane.drr.projection if pane.drr is not None else pane.carm.projection_matrix()
        magnified_mm = pane.carm.pixel_mm[0] / pane.carm.magnification  # one detector pixel at the isocentre
        for index, graphic in enumerate(pane.needle_graphics()):
            tip = graphic.tip
            if graphic.selected and pane.virtual_tip is not None:
                tip = pane.virtual_tip  # the needle advanced as far as the slider says
            segments = [(graphic.entry, tip, graphic.radius_mm), *graphic.spindles]
            for start, end, radius in segments:
                a, b = self.to_widget(project_points(projection, [start, end]))
                width = max(2.5, 2.0 * radius / magnified_mm * scale)
                if graphic.selected:
                    painter.setPen(QPen(_qcolor(graphic.rgb), width + 4.0, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
                    painter.drawLine(QPointF(*a), QPointF(*b))
                painter.setPen(QPen(QColor(8, 8, 8), width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
                painter.drawLine(QPointF(*a), QPointF(*b))  # metal: black
                if not graphic.selected:
                    painter.setPen(QPen(_qcolor(graphic.rgb), 1.2))
                    painter.drawLine(QPointF(*a), QPointF(*b))
            if graphic.selected and pane.virtual_tip is not None:
                x, y = self.to_widget(project_points(projection, tip))[0]
                painter.setPen(QPen(_qcolor(VIRTUAL_TIP_COLOR), 2.0))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawEllipse(QPointF(x, y), 6.0, 6.0)
            label_at = self.to_widget(project_points(projection, graphic.entry))[0]
            painter.setPen(_qcolor(graphic.rgb))
            painter.drawText(QPointF(label_at[0] + 6, label_at[1] - 6 - 15 * index), pane.label_of(graphic.id))

    def _paint_rule(self, painter: QPainter) -> None:
        """On AP the medial pedicle wall, on lateral the body's posterior wall, of the selected
        transpedicular needle (dashed): the lines its tip is watched against."""
        pane, rule = self.pane, self.pane.rule
        if rule is None or pane.drr is None:
            return
        walls = {"AP": rule.medial_wall_lps, "Lateral": rule.posterior_wall_lps}
        segment = walls.get(pane.view_name)
        if segment is None:
            return
        a, b = self.to_widget(project_points(pane.drr.projection, segment))
        pen = QPen(QColor(120, 220, 255), 1.5, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.drawLine(QPointF(*a), QPointF(*b))

    def _paint_text(self, painter: QPainter, image_rect: QRectF) -> None:
        pane = self.pane
        font = QFont(painter.font())
        font.setPointSizeF(max(8.0, font.pointSizeF()))
        painter.setFont(font)
        painter.setPen(QColor(120, 220, 255))
        painter.drawText(QPointF(8, 18), f"Fluoroscopy — {pane.view_name}")
        painter.setPen(QColor(230, 230, 230))
        painter.drawText(QPointF(8, self.height() - 8), pane.angles_text())
        rule_text = pane.rule_text()
        if rule_text:
            painter.setPen(QColor(255, 120, 90) if pane.rule.violated else QColor(150, 230, 150))
            painter.drawText(QPointF(8, self.height() - 26), rule_text)
        carm = pane.carm
        letters = {"left": orientation_label(-carm.detector_right), "right": orientation_label(carm.detector_right),
                   "top": orientation_label(carm.detector_up), "bottom": orientation_label(-carm.detector_up)}
        painter.setPen(QColor(255, 210, 90))
        middle = image_rect.center()
        painter.drawText(QPointF(image_rect.left() + 6, middle.y()), letters["left"])
        painter.drawText(QPointF(image_rect.right() - 22, middle.y()), letters["right"])
        painter.drawText(QPointF(middle.x() - 6, image_rect.top() + 16), letters["top"])  # (the bottom: the readouts)

    def mouseDoubleClickEvent(self, event):  # noqa: N802 (Qt naming)
        self.maximise_requested.emit()
        event.accept()

    def contextMenuEvent(self, event):  # noqa: N802 (Qt naming)
        """Right click: move the fluoroscopy to another pane, or close it."""
        menu = QMenu(self)
        self.pane.window.fluoro.fill_menu(menu)
        menu.exec(event.globalPos())


class DrrView(QWidget):
    """The fluoroscopy pane: control bar over the canvas."""

    maximise_requested = Signal()

    def __init__(self, window) -> None:
        super().__init__()
        self.window = window
        self.setObjectName("drr_view")
        self.carm = CArm()
        self.view_name = "AP"
        self.drr: Drr | None = None
        self.virtual_tip: np.ndarray | None = None
        self.rule = None  # fluoro_rule.FluoroRuleResult of the selected transpedicular needle
        self._preparing = None  # the CT whose attenuation volume is being built in the background
        self.canvas = DrrCanvas(self)
        self.canvas.maximise_requested.connect(self.maximise_requested)
        self.rotation = self._spin(-180.0, 180.0, "Rotation about the patient's long axis (°): + swings the X-ray source "
                                   "towards the patient's left (+90 = lateral, source on the left), − towards the right")
        self.angulation = self._spin(-60.0, 60.0, "Angulation (°): + cranial (the source towards the head, the beam "
                                     "running caudally), − caudal")
        buttons = QHBoxLayout()
        buttons.setContentsMargins(4, 2, 4, 2)
        for text, tip, slot in (("AP", "Anteroposterior view centred on the selected needle's target (else the cursor)", self.show_ap),
                                ("Lateral", "Lateral view (source on the patient's left) centred like AP", self.show_lateral),
                                ("Bull's-eye", "Down the selected needle: entry and target on one point", self.show_bulls_eye)):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.addSpacing(8)
        buttons.addWidget(QLabel("Rot"))
        buttons.addWidget(self.rotation)
        buttons.addWidget(QLabel("Ang"))
        buttons.addWidget(self.angulation)
        buttons.addStretch(1)
        bar = QWidget()
        bar.setLayout(buttons)
        bar.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)  # a narrow pane clips it
        bar.setStyleSheet("background: #303030; color: #e0e0e0;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(bar)
        layout.addWidget(self.canvas, 1)
        self.rotation.valueChanged.connect(self._angles_edited)
        self.angulation.valueChanged.connect(self._angles_edited)
        self._recompute_timer = QTimer(self)
        self._recompute_timer.setSingleShot(True)
        self._recompute_timer.timeout.connect(self.recompute)
        controller = window.controller
        controller.plan_edited.connect(self.refresh_overlays)
        controller.selection_changed.connect(lambda _id: self.refresh_overlays())
        window.needle_panel.advance_changed.connect(self.set_virtual_tip)
        window.case_shown.connect(lambda _case: self.show_ap())

    def _spin(self, low: float, high: float, tip: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(low, high)
        spin.setDecimals(1)
        spin.setSingleStep(5.0)
        spin.setSuffix("°")
        spin.setToolTip(tip)
        spin.setKeyboardTracking(False)
        return spin

    # --- the C-arm ---------------------------------------------------------------------------
    def _centre(self) -> np.ndarray:
        session, selected = self.window.session, self.window.controller.selected_id
        if session is not None and selected is not None and selected in session.plan:
            return session.plan.trajectory(selected).target
        return self.window.viewer.cursor_lps

    def set_carm(self, carm: CArm, view_name: str) -> None:
        self.carm, self.view_name = carm, view_name
        for spin, value in ((self.rotation, carm.rotation_deg), (self.angulation, carm.angulation_deg)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)
        self.recompute()

    def show_ap(self) -> None:
        self.set_carm(self.carm.centred(self._centre()).turned(0.0, 0.0), "AP")

    def show_lateral(self) -> None:
        self.set_carm(self.carm.centred(self._centre()).turned(90.0, 0.0), "Lateral")

    def show_bulls_eye(self, trajectory_id: str | None = None) -> bool:
        session = self.window.session
        trajectory_id = trajectory_id or self.window.controller.selected_id
        if session is None or trajectory_id is None or trajectory_id not in session.plan:
            self.window.statusBar().showMessage("Bull's-eye: select a needle first", 8000)
            return False
        trajectory = session.plan.trajectory(trajectory_id)
        rotation, angulation = bulls_eye_angles(trajectory.entry, trajectory.target)
        self.set_carm(self.carm.centred(trajectory.target).turned(rotation, angulation),
                      f"Bull's-eye {trajectory.label}")
        return True

    def _angles_edited(self) -> None:
        self.carm = self.carm.turned(self.rotation.value(), self.angulation.value())
        self.view_name = {(0.0, 0.0): "AP", (90.0, 0.0): "Lateral"}.get(
            (self.carm.rotation_deg, self.carm.angulation_deg), "Oblique")
        self._recompute_timer.start(0)  # many steps of a spin box in one burst cost one DRR

    def angles_text(self) -> str:
        rotation, angulation = self.carm.rotation_deg, self.carm.angulation_deg
        towards = "" if rotation == 0 else (" source L" if rotation > 0 else " source R")
        tilt = "" if angulation == 0 else (" cranial" if angulation > 0 else " caudal")
        return (f"rot {rotation:.1f}°{towards} · ang {abs(angulation):.1f}°{tilt} · "
                f"SID {self.carm.sid_mm:.0f} / SOD {self.carm.sod_mm:.0f} mm")

    # --- image and overlays --------------------------------------------------------------------
    def recompute(self) -> None:
        case = self.window.case
        if case is None or not self.isVisible():  # hidden: computed when shown (showEvent)
            self.drr, self.canvas.image, self.canvas.layers = None, None, []
            self.canvas.update()
            return
        attenuation = cached_attenuation_volume(case.ct)
        if attenuation is None:  # once per case (~1 s for 512x512x400): off the UI thread
            self.drr, self.canvas.image, self.canvas.message = None, None, "Preparing the fluoroscopy…"
            self.canvas.update()
            if self._preparing is not case.ct:
                self._preparing = case.ct
                self.window.run_task("Preparing the fluoroscopy", lambda _progress, ct=case.ct: attenuation_volume(ct),
                                     lambda _result: self._prepared(), quiet=True)
            return
        self.drr = compute_drr(attenuation, self.carm)
        grey = drr_display(self.drr)
        self.canvas.image = QImage(grey.data, grey.shape[1], grey.shape[0], grey.shape[1],
                                   QImage.Format.Format_Grayscale8).copy()
        self.refresh_overlays()

    def wait_until_ready(self, timeout_s: float = 120.0) -> bool:
        """Process events until the DRR is shown (headless screenshots); False on timeout."""
        import time

        from PySide6.QtWidgets import QApplication

        deadline = time.monotonic() + timeout_s
        while self.drr is None and self.window.case is not None and self.isVisible() and time.monotonic() < deadline:
            QApplication.processEvents()
            time.sleep(0.01)
        return self.drr is not None

    def _prepared(self) -> None:
        self._preparing = None
        self.recompute()

    def refresh_overlays(self) -> None:
        """Zones and cement projected again (after a plan edit); needles are drawn at each paint."""
        layers = []
        if self.drr is not None and self.isVisible():
            controller = self.window.controller
            shapes = {**controller.ablation_zones(), **controller.cement_shapes()}
            for shape, kind in shapes.values():
                counts = mask_projection(self.drr.projection, shape.grid, shape.start_kji, shape.outer, self.carm.pixels)
                rgba = np.zeros((*counts.shape, 4), dtype=np.uint8)
                if kind == "cement":
                    voxel_mm = float(np.cbrt(np.prod(shape.grid.spacing)))
                    pixel_at_iso = self.carm.pixel_mm[0] / self.carm.magnification
                    thickness = counts * voxel_mm ** 3 / pixel_at_iso ** 2
                    rgba[..., 3] = (235 * (1 - np.exp(-CEMENT_MU_PER_MM * thickness))).astype(np.uint8)
                else:
                    rgba[..., :3] = ZONE_TINTS.get(kind, (255, 140, 40))
                    rgba[..., 3] = np.where(counts > 0.25, 70, 0)  # (counts are spread over the voxels' footprint)
                layers.append(_rgba_image(rgba))
        self.canvas.layers = layers
        self.rule = self._selected_rule()
        self.canvas.update()

    def _selected_rule(self):
        """The lateral/AP rule of the selected transpedicular needle (None if it does not apply)."""
        session, selected = self.window.session, self.window.controller.selected_id
        if self.drr is None or session is None or selected is None or selected not in session.plan:
            return None
        from osteoplan.core.fluoro.rule import check_fluoro_rule

        try:
            return check_fluoro_rule(session.engine, session.plan.trajectory(selected))
        except (ValueError, KeyError):
            return None

    def rule_text(self) -> str:
        """Where the (virtual) tip is against the rule's two depths, for the rehearsal."""
        rule = self.rule
        if rule is None:
            return ""
        trajectory = self.window.session.plan.trajectory(rule.trajectory_id)
        tip = trajectory.length_mm if self.virtual_tip is None else float(
            np.dot(self.virtual_tip - trajectory.entry, trajectory.axis))

        def depth(value, never: str) -> str:
            return never if value is None else f"at {value:.1f} mm"

        verdict = "Rule BROKEN" if rule.violated else "Rule kept"
        return (f"{verdict}: medial wall (AP) {depth(rule.medial_wall_depth_mm, 'not crossed')}, body (lateral) "
                f"{depth(rule.posterior_wall_depth_mm, 'not reached')}; tip at {tip:.1f} mm")

    def needle_graphics(self):
        return self.window.controller.needle_graphics()

    def label_of(self, trajectory_id: str) -> str:
        session = self.window.session
        if session is not None and trajectory_id in session.plan:
            return session.plan.trajectory(trajectory_id).label
        return ""

    def set_virtual_tip(self, tip_lps) -> None:
        self.virtual_tip = None if tip_lps is None else np.asarray(tip_lps, dtype=float)
        self.canvas.update()

    def projected_tip(self) -> np.ndarray | None:
        """Widget position of the selected needle's (virtual) tip, or None."""
        if self.virtual_tip is None:
            return None
        return self.canvas.to_widget(project_points(self.carm.projection_matrix(), self.virtual_tip))[0]

    def showEvent(self, event):  # noqa: N802 (Qt naming)
        super().showEvent(event)
        if self.drr is None:
            self.recompute()
        else:
            self.refresh_overlays()


class FluoroPane:
    """Puts the fluoroscopy pane in place of one of the four views, and back."""

    def __init__(self, window) -> None:
        self.window = window
        self.view = DrrView(window)
        self.replaces: str | None = None  # the view the pane stands in for
        self.view.hide()
        self.view.maximise_requested.connect(lambda: self.replaces and window.toggle_maximised(self.replaces))

    def show_in(self, name: str | None) -> None:
        """Show the DRR in the place of view `name` (axial, sagittal, coronal, 3d); None: no DRR."""
        window = self.window
        if self.replaces is not None:
            window.views[self.replaces].setVisible(True)
        self.replaces = name
        if name is not None:
            grid = window.views[name].parentWidget().layout()
            row, column, _, _ = grid.getItemPosition(grid.indexOf(window.views[name]))
            grid.addWidget(self.view, row, column)
        self.apply_layout(window.layout_name)

    def apply_layout(self, layout_name: str) -> None:
        """After the window's layout changed: the DRR shows where its view would."""
        if self.replaces is None:
            self.view.hide()
            return
        shown = layout_name in ("four-up", self.replaces)
        self.window.views[self.replaces].setVisible(False)
        self.view.setVisible(shown)

    def add_menu(self, menu) -> None:
        """View > Fluoroscopy in pane: one entry per pane, and Off (also the pane's right-click menu)."""
        self.fill_menu(menu.addMenu("&Fluoroscopy in pane"))

    def fill_menu(self, menu) -> None:
        menu.setToolTipsVisible(True)
        for name, label in PANES.items():
            action = menu.addAction(label, lambda name=name: self.show_in(name))
            action.setCheckable(True)
            action.setChecked(self.replaces == name)
            action.setToolTip(f"Show a virtual fluoroscopy (DRR) in place of the {label.lower()}")
        menu.addSeparator()
        menu.addAction("Off", lambda: self.show_in(None)).setToolTip(
            "Put the usual view back in place of the fluoroscopy")
        menu.aboutToShow.connect(lambda: [a.setChecked(a.text() == PANES.get(self.replaces)) for a in menu.actions()
                                          if a.isCheckable()])
