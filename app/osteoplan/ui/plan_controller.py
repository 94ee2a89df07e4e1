"""Binds a PlanSession to the views: draws the needles, turns mouse gestures into plan edits.

Gestures in slice views (through `SliceView.pointer_handlers`):
- with the "new path" tool: click the entry, then the target (on any slice); Esc cancels;
- press on a handle (entry, target or spindle tip) and drag: move that end in the view's plane;
- press on a needle's body and drag: move the whole needle, keeping its direction;
- every drag is one undo step.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.planning.trajectory import TrajectoryKind
from osteoplan.core.safety.distances import FIELD_MARGIN_MM
from osteoplan.core.safety.structure_warnings import distance_warning
from osteoplan.core.session import NeedleState, PlanSession, needle_state
from osteoplan.render.needles import (
    DistanceAnnotations,
    DistanceGraphic,
    NeedleGraphic,
    NeedleOverlay2D,
    NeedleTubes3D,
)
from osteoplan.render.polydata import ColoredActor, points_polydata
from osteoplan.render.zones import FilledShape, ZoneLayers2D, ZoneSurfaces3D
from osteoplan.ui.style import NEEDLE_COLORS, PLACEMENT_COLOR, THERMOCOUPLE_COLOR, VIRTUAL_TIP_COLOR
from osteoplan.ui.tasks import busy_cursor

HANDLE_PICK_PX = 9.0
BODY_PICK_PX = 6.0
MIN_SLAB_HALF_MM = 1.5  # part of a needle drawn solid around a slice: at least this, or half a slice


def solid_slab_half_mm(view) -> float:
    """Half-thickness of the slab around a slice view's plane in which needles are drawn solid."""
    return max(MIN_SLAB_HALF_MM, min(view.case.ct.spacing))


def _distance_to_segment_px(p, a, b) -> float:
    p, a, b = (np.asarray(v, dtype=float) for v in (p, a, b))
    ab = b - a
    t = 0.0 if not ab.any() else float(np.clip(np.dot(p - a, ab) / np.dot(ab, ab), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * ab)))


class PlanController(QObject):
    selection_changed = Signal(object)  # trajectory id or None
    tool_changed = Signal(object)  # TrajectoryKind of the placement tool, or None
    plan_edited = Signal()  # any change of the plan (for autosave and panels)
    status_message = Signal(str)

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.session: PlanSession | None = None
        self.selected_id: str | None = None
        self.placement_kind: TrajectoryKind | None = None
        self._placement_entry: np.ndarray | None = None
        self._placement_hover: np.ndarray | None = None
        self._drag: dict | None = None
        self._graphics: list[NeedleGraphic] = []
        self.virtual_tip: np.ndarray | None = None  # where the "advance" slider puts the tip
        self._overlays = {}
        for view in window.slice_views():
            self.attach_2d_view(view)
            view.pointer_handlers.append(self)
        self._tubes = NeedleTubes3D(window.views["3d"].renderer)
        self._distances_3d = DistanceAnnotations(window.views["3d"].renderer)
        self._zones_3d = ZoneSurfaces3D(window.views["3d"].renderer)
        self._thermocouples_3d = ColoredActor(window.views["3d"].renderer, point_size=10, spheres=True)
        self._zones: dict[str, tuple[object, str]] = {}
        self.cement_preview_ml: dict[str, float] = {}  # injection id -> volume shown by the preview slider
        self._distance_graphics: list[DistanceGraphic] = []
        window.views["3d"].pointer_handlers.append(self)

    def attach_2d_view(self, view) -> None:
        """Draw the needles in a 2-D view (slice or needle view), following its plane."""
        self._overlays[view] = (NeedleOverlay2D(view.renderer), DistanceAnnotations(view.renderer),
                                ZoneLayers2D(view.renderer))
        view.render_hooks.append(self._update_overlay)

    def set_virtual_tip(self, tip_lps) -> None:
        self.virtual_tip = None if tip_lps is None else np.asarray(tip_lps, dtype=float)
        for view in self._overlays:
            view.request_render()

    # --- session ---------------------------------------------------------------------------
    def set_session(self, session: PlanSession | None) -> None:
        if self.session is not None:
            self.session.plan.changed.disconnect(self._on_plan_changed)
        self.session = session
        self.selected_id = None
        self.cancel_placement()
        if session is not None:
            session.plan.changed.connect(self._on_plan_changed)
        self._on_plan_changed()
        self.selection_changed.emit(None)

    def _on_plan_changed(self) -> None:
        if self.session is not None and self.selected_id is not None and self.selected_id not in self.session.plan:
            self.select(None)
        self.refresh_views()
        self.plan_edited.emit()

    def select(self, trajectory_id: str | None) -> None:
        if trajectory_id != self.selected_id:
            self.selected_id = trajectory_id
            self.refresh_views()
            self.selection_changed.emit(trajectory_id)

    # --- drawing ---------------------------------------------------------------------------
    def needle_graphics(self) -> list[NeedleGraphic]:
        if self.session is None:
            return []
        graphics = []
        for trajectory in self.session.plan.trajectories:
            if not trajectory.visible:
                continue
            device = self.session.catalog.get(trajectory.device)
            state = self.session.state(trajectory.id)
            spindles = tuple((s.start_lps(trajectory), s.tip_lps(trajectory), self.session.catalog.get(s.device).radius_mm)
                             for s in trajectory.spindles)
            graphics.append(NeedleGraphic(trajectory.id, trajectory.entry, trajectory.target, device.radius_mm,
                                          NEEDLE_COLORS[state], trajectory.id == self.selected_id, spindles))
        if self._placement_entry is not None and self._placement_hover is not None:
            graphics.append(NeedleGraphic("placing", self._placement_entry, self._placement_hover, 1.5, PLACEMENT_COLOR))
        return graphics

    def distance_graphics(self) -> list[DistanceGraphic]:
        """The nearest critical structure of the selected needle (within the distance maps' reach),
        and of every needle within a warning distance, as labelled lines (watched while dragging)."""
        if self.session is None:
            return []
        graphics = []
        for trajectory in self.session.plan.trajectories:
            if not trajectory.visible:
                continue
            nearest = self.session.structure_distances(trajectory.id).get(trajectory.id) or []
            if not nearest:
                continue
            found = nearest[0]
            warning = distance_warning(trajectory.id, trajectory.label, found)
            if warning is None and trajectory.id != self.selected_id:
                continue
            rgb = NEEDLE_COLORS[needle_state(warning.severity if warning else None)]
            if found.distance_mm >= FIELD_MARGIN_MM - 1.0:
                continue  # beyond the distance maps' reach: far from everything, and no exact closest point
            text = f"{found.distance_mm:.1f} mm {found.structure.name}"
            graphics.append(DistanceGraphic(np.asarray(found.closest_on_needle_lps),
                                            np.asarray(found.closest_on_structure_lps), text, rgb))
        return graphics

    def ablation_zones(self) -> dict[str, tuple[object, str]]:
        """Ablation id -> (zone, "heat"|"cryo"): the refined (bioheat) zone while it is current, else the
        table model's; an ablation whose path has no probe is skipped."""
        if self.session is None:
            return {}
        from osteoplan.core.planning.ablation import AblationError, probe_and_setting

        zones = {}
        for ablation in self.session.plan.ablations:
            try:
                trajectory = self.session.plan.trajectory(ablation.trajectory)
                if not trajectory.visible:
                    continue
                probe, _ = probe_and_setting(self.session.catalog, trajectory, ablation)
                refined = self.window.ablation_panel.refined_zone(ablation.id) if hasattr(self.window, "ablation_panel") else None
                zones[ablation.id] = (refined or self.session.ablation_zone(ablation.id), "cryo" if probe.is_cryo else "heat")
            except (AblationError, KeyError, OsteoPlanError):
                continue
        return zones

    def cement_shapes(self) -> dict[str, tuple[object, str]]:
        """The cement of every injection at its planned volume, or at the Cement panel's preview volume."""
        if self.session is None or not self.session.plan.injections:
            return {}
        from osteoplan.core.cement.simulation import solve

        try:
            with busy_cursor():  # a new tip, volume or viscosity re-solves (cached otherwise)
                solution = solve(self.session)
            volumes = {i.id: self.cement_preview_ml.get(i.id, i.volume_ml) for i in self.session.plan.injections}
            fill = solution.fill(volumes)
        except (OsteoPlanError, ValueError, KeyError):
            return {}
        return {f"cement:{injection_id}": (FilledShape(self.session.case.ct, fill.start, mask), "cement")
                for injection_id, mask in fill.owner_mask.items()}

    def thermocouple_points(self) -> list[np.ndarray]:
        return [] if self.session is None else [t.position for t in self.session.plan.thermocouples]

    def refresh_views(self) -> None:
        graphics = self.needle_graphics()
        self._graphics = graphics
        self._distance_graphics = self.distance_graphics()
        self._zones = {**self.ablation_zones(), **self.cement_shapes()}
        self._tubes.set_needles(graphics)
        self._distances_3d.update(self._distance_graphics)
        self._zones_3d.set_zones(self._zones)
        points = self.thermocouple_points()
        self._thermocouples_3d.set_data(points_polydata(points, [THERMOCOUPLE_COLOR] * len(points)))
        for view in self._overlays:
            view.request_render()
        self.window.views["3d"].request_render(30)

    def _update_overlay(self, view) -> None:
        if view.case is None:
            return
        slab = solid_slab_half_mm(view)
        markers = [] if self.virtual_tip is None else [(self.virtual_tip, VIRTUAL_TIP_COLOR)]
        markers += [(point, THERMOCOUPLE_COLOR) for point in self.thermocouple_points()]
        needles, distances, zones = self._overlays[view]
        needles.update(self._graphics, view.plane_point, view.frame, slab, markers)
        distances.update(self._distance_graphics, view.plane_point, view.frame)
        zones.set_zones(self._zones)
        zones.update(view.plane_point, view.frame)

    # --- placement tool ----------------------------------------------------------------------
    def start_placement(self, kind: TrajectoryKind) -> None:
        self.placement_kind = TrajectoryKind(kind)
        self._placement_entry = None
        self.tool_changed.emit(self.placement_kind)
        self.status_message.emit(f"New {self.placement_kind.value} path: click the entry point (skin side), "
                                 "then the target, in any slice view. Esc cancels.")

    def cancel_placement(self) -> None:
        was_active = self.placement_kind is not None
        self.placement_kind = None
        self._placement_entry = self._placement_hover = None
        if was_active:
            self.tool_changed.emit(None)
            self.refresh_views()

    # --- PointerHandler protocol (slice views) ---------------------------------------------------
    def press(self, view, world_lps, display_xy) -> bool:
        if self.session is None:
            return False
        if self.placement_kind is not None:  # points are placed in slice views only
            return world_lps is not None and self._place_point(world_lps)
        hit = self._pick(view, display_xy)
        if hit is None:
            return False
        trajectory_id, part = hit
        self.select(trajectory_id)
        trajectory = self.session.plan.trajectory(trajectory_id)
        labels = {"entry": "Move entry", "target": "Move target", "body": "Move path"}
        self.session.history.begin_group(labels.get(part, "Move spindle"))
        grabbed = {"entry": trajectory.entry, "target": trajectory.target}.get(part)
        if grabbed is None:
            grabbed = (trajectory.entry + trajectory.target) / 2 if part == "body" else trajectory.spindle(part).tip_lps(trajectory)
        start = view.world_at_display_near(*display_xy, grabbed)
        self.session.defer_slow_updates = True
        self._drag = {"id": trajectory_id, "part": part, "start_world": start, "grabbed": grabbed, "original": trajectory}
        return True

    def move(self, view, world_lps, display_xy) -> None:
        if self._drag is None:
            return
        # in a slice view the point stays in the view's plane (depth kept); in 3-D, parallel to the screen
        delta = view.world_at_display_near(*display_xy, self._drag["grabbed"]) - self._drag["start_world"]
        original = self._drag["original"]
        editor = self.session.editor
        part = self._drag["part"]
        if part == "entry":
            new_entry = original.entry + delta
            if np.linalg.norm(original.target - new_entry) > 1.0:
                editor.move_entry(original.id, new_entry)
        elif part == "target":
            new_target = original.target + delta
            if np.linalg.norm(new_target - original.entry) > 1.0:
                editor.move_target(original.id, new_target)
        elif part == "body":
            editor.update(original.id, "Move path", entry_lps=tuple(original.entry + delta),
                          target_lps=tuple(original.target + delta))
        else:  # a spindle tip: keep its start, aim and stretch it to the new tip
            spindle = original.spindle(part)
            start = spindle.start_lps(original)
            new_tip = spindle.tip_lps(original) + delta
            length = float(np.linalg.norm(new_tip - start))
            if length > 1.0:
                editor.update_spindle(original.id, part, label="Move spindle", direction=tuple(new_tip - start),
                                      length_mm=length)

    def release(self, view) -> None:
        if self._drag is not None:
            self._drag = None
            self.session.history.end_group()
            self.session.defer_slow_updates = False
            if self.session.plan.injections:
                self._on_plan_changed()  # the cement spread (and its warnings) from the final position

    def hover(self, view, world_lps, display_xy) -> None:
        if self._placement_entry is not None:
            self._placement_hover = np.asarray(world_lps)
            self.refresh_views()

    def _place_point(self, world_lps) -> bool:
        if self._placement_entry is None:
            self._placement_entry = np.asarray(world_lps, dtype=float)
            self.status_message.emit("Now click the target (the tip's position); you may change slice first.")
            return True
        if np.linalg.norm(np.asarray(world_lps) - self._placement_entry) < 1.0:
            return True  # a double click on the same spot: wait for a real target
        trajectory = self.session.new_trajectory(self._placement_entry, world_lps, self.placement_kind)
        self.cancel_placement()
        self.session.editor.add_trajectory(trajectory, label=f"Add {trajectory.kind.value} path")
        self.select(trajectory.id)
        self.status_message.emit(f"Added {trajectory.label}. Drag its ends to adjust; Ctrl+Z undoes.")
        return True

    def _pick(self, view, display_xy) -> tuple[str, str] | None:
        """The handle (or needle body) under the mouse: (trajectory id, "entry"|"target"|"body"|spindle id)."""
        best = None
        for trajectory in reversed(self.session.plan.trajectories):
            if not trajectory.visible:
                continue
            handles = [("entry", trajectory.entry), ("target", trajectory.target)]
            handles += [(s.id, s.tip_lps(trajectory)) for s in trajectory.spindles]
            for part, point in handles:
                distance = float(np.linalg.norm(np.subtract(view.display_of_world(point), display_xy)))
                if distance <= HANDLE_PICK_PX and (best is None or distance < best[0]):
                    best = (distance, trajectory.id, part)
        if best is not None:
            return best[1], best[2]
        for trajectory in reversed(self.session.plan.trajectories):
            if trajectory.visible and _distance_to_segment_px(
                    display_xy, view.display_of_world(trajectory.entry), view.display_of_world(trajectory.target)) <= BODY_PICK_PX:
                return trajectory.id, "body"
        return None

    def state_of(self, trajectory_id: str) -> NeedleState:
        return self.session.state(trajectory_id)

    # --- commands of the Plan menu -------------------------------------------------------------
    def delete_selected(self) -> None:
        if self.session is not None and self.selected_id is not None:
            self.session.editor.remove_trajectory(self.selected_id)

    def _add_proposals(self, proposals: list, label: str) -> None:
        if not proposals:
            self.status_message.emit(f"{label}: no path found at the cursor.")
            return
        with self.session.history.group(label):
            for trajectory in proposals:
                self.session.editor.add_trajectory(trajectory, label=label)
        self.select(proposals[0].id)
        self.status_message.emit(f"{label}: added {', '.join(t.label for t in proposals)}.")

    def _template_at_cursor(self, label: str, kind: TrajectoryKind, template, **options) -> None:
        """Add the paths a template proposes at the cursor, with the technique's default device."""
        session = self.session
        if session is None:
            return
        device = session.default_device(kind)
        try:
            proposals = template(session.case, self.window.viewer.cursor_lps, device.length_mm or 150.0,
                                 new_id=session.plan.id_factory("t"), device_id=device.id,
                                 structures=session.engine.structures, **options)
        except (OsteoPlanError, ValueError) as exc:
            self.status_message.emit(f"{label}: {exc}")
            return
        self._add_proposals(proposals, label)

    def add_bilateral_transpedicular_at_cursor(self) -> None:
        from osteoplan.core.planning.templates import bilateral_transpedicular

        device = self.session.default_device(TrajectoryKind.TRANSPEDICULAR) if self.session else None
        self._template_at_cursor("Bilateral transpedicular", TrajectoryKind.TRANSPEDICULAR, bilateral_transpedicular,
                                 **({"radius_mm": device.radius_mm} if device else {}))

    def add_femoral_neck_at_cursor(self) -> None:
        from osteoplan.core.planning.templates import femoral_neck_paths

        self._template_at_cursor("Femoral neck paths", TrajectoryKind.TRANSCORTICAL, femoral_neck_paths)

    def align_selected(self) -> None:
        from osteoplan.core.planning.pedicle import align_transpedicular

        if self.session is None or self.selected_id is None:
            return
        trajectory = self.session.plan.trajectory(self.selected_id)
        radius = self.session.catalog.get(trajectory.device).radius_mm
        try:
            aligned = align_transpedicular(self.session.case, trajectory, radius, self.session.engine.structures)
        except (OsteoPlanError, ValueError) as exc:
            self.status_message.emit(f"Not aligned: {exc}")
            return
        self.session.editor.update(trajectory.id, "Align with pedicle", entry_lps=aligned.entry_lps,
                                   target_lps=aligned.target_lps)

