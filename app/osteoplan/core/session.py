"""A planning session: one case, its plan, the device catalog and the derived readouts.

The GUI, `osteoplan check` and scripts all go through a session, so the numbers the user
sees while dragging are the numbers the command line prints.
"""

from __future__ import annotations

import threading
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from psygnal import Signal

from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.demo import DEMO_IMAGE_PREFIX, is_builtin_image, load_demo_case
from osteoplan.core.planning.devices import Device, DeviceCatalog, DeviceKind, default_trocar, device_catalog
from osteoplan.core.planning.editing import PlanEditor
from osteoplan.core.planning.history import History
from osteoplan.core.planning.plan import ImageRef, Plan
from osteoplan.core.planning.trajectory import Side, Trajectory, TrajectoryKind
from osteoplan.core.safety.distances import DistanceFields, StructureDistance
from osteoplan.core.safety.structure_editing import StructureEditor
from osteoplan.core.safety.structures import StructureSet, case_structures

if TYPE_CHECKING:  # the readout engine (scipy.optimize, pedicle analysis) loads with the first readout
    from osteoplan.core.planning.readouts import ReadoutEngine, TrajectoryReadout
    from osteoplan.core.safety.coverage import HazardCoverage
    from osteoplan.core.safety.warnings import SafetyWarning

class NeedleState(str, Enum):
    """How a needle should look; the UI maps these to colours."""

    OK = "ok"
    CAUTION = "caution"  # e.g. breach grade B-C, device too short
    PROBLEM = "problem"  # e.g. breach grade D-E


def needle_state(worst_severity) -> NeedleState:
    """A needle looks like its worst warning: stop -> problem, warn -> caution."""
    from osteoplan.core.safety.warnings import Severity

    return {Severity.STOP: NeedleState.PROBLEM, Severity.WARN: NeedleState.CAUTION}.get(worst_severity, NeedleState.OK)


class PlanSession:
    readouts_changed = Signal(str)  # trajectory id whose readouts are new
    structures_changed = Signal(str)  # the one structure name changed, or "" for several / all

    def __init__(self, case: Case, plan: Plan | None = None, catalog: DeviceCatalog | None = None,
                 history: History | None = None, plan_path: Path | None = None) -> None:
        self.case = case
        self.plan = plan if plan is not None else Plan(ImageRef(path=case.source or "image"))
        self.catalog = catalog or device_catalog()
        self.editor = PlanEditor(self.plan, history, self.catalog)
        self.plan_path = plan_path
        self._engine: ReadoutEngine | None = None
        # True during a drag: slow derived results (the cement spread) may lag until it ends
        self.defer_slow_updates = False
        self._engine_lock = threading.Lock()  # prepare() may run in a worker while the UI asks
        self._readouts: dict[str, tuple[Trajectory, TrajectoryReadout]] = {}
        self._structures: StructureSet | None = None
        self._bases: dict = {}  # AutoStructures -> labels + automatic structures, before the plan's edits
        self._structures_lock = threading.RLock()
        self.structures_revision = 0  # +1 on every set_structures; keys the caches that depend on structures
        self.structure_notes: list[str] = []  # what could not be restored from the plan
        self.distance_fields = DistanceFields(case.ct)
        self._distances: dict[str, tuple[Trajectory, int, dict[str, list[StructureDistance]]]] = {}
        self._zones: dict[str, tuple[object, object]] = {}  # ablation id -> ((trajectory, ablation), zone)
        self.structure_editor = StructureEditor(self)  # undoable structure edits, on `history`
        self.plan.trajectory_changed.connect(self._forget)
        self.plan.trajectory_removed.connect(self._forget)

    @property
    def history(self) -> History:
        return self.editor.history

    # --- readouts --------------------------------------------------------------------------
    def prepare(self, progress=None) -> None:
        """Build the readout engine's masks, the structures and their distance fields now (slow
        once; call off the UI thread). `progress(fraction, message)` hears about the fields."""
        self.engine.prepare()
        hazards = self.structures.needle_hazards()
        if self.plan.ablations:  # the zones are measured against skin too
            from osteoplan.core.ablation.warnings import ablation_hazards

            hazards += [s for s in ablation_hazards(self.structures) if s not in hazards]
        self.distance_fields.prepare(hazards, progress)

    # --- critical structures ---------------------------------------------------------------
    @property
    def structures(self) -> StructureSet:
        """The case's structures: its labels, plus automatic skin/bone where the labels lack them
        (and the plan asks for them), with the plan's structure edits applied."""
        with self._structures_lock:
            if self._structures is None:
                from osteoplan.core.safety.structure_state import apply_edits

                ref = self.plan.structures
                self._ensure_plan_masks()
                masks = self.plan.structure_masks.by_name() if self.plan.structure_masks is not None else None
                self._structures, notes = apply_edits(self.base_structures, ref, masks)
                self.structure_notes += notes
            return self._structures

    @property
    def base_structures(self) -> StructureSet:
        """The labels and automatic structures the plan's `auto` switches ask for, unedited."""
        return self.base_structures_for(self.plan.structures.auto)

    def base_structures_for(self, auto) -> StructureSet:
        with self._structures_lock:
            if auto not in self._bases:
                self._bases[auto] = case_structures(self.case, skin=auto.skin, bone=auto.bone, body=self._body_mask)
            return self._bases[auto]

    def _ensure_plan_masks(self) -> None:
        """Read the plan's mask files if nobody has yet (`load_case_for_plan` normally does)."""
        if self.plan.structure_masks is None and self.plan.structures.masks:
            from osteoplan.core.errors import LoadError
            from osteoplan.core.files.structure_masks import read_structure_masks

            try:
                self.plan.structure_masks = read_structure_masks(self.plan.structures.masks, self.case.ct)
            except LoadError as exc:
                self.structure_notes.append(f"Edited structures not restored: {exc}")

    def _body_mask(self) -> np.ndarray:
        from osteoplan.core.imaging.bone_fields import BODY_BIT

        return (self.engine.masks.bits & BODY_BIT) > 0  # the readouts' body: computed once for both

    def set_structures(self, structures: StructureSet, auto=None) -> None:
        """Replace the structure set (edits and their undo go through `StructureEditor`); `auto`
        (an `AutoStructures`) switches the automatic structures, which changes the base set.

        Records the edits in the plan (`plan.structures`, `plan.structure_masks`), drops every
        cache that depends on structures (fields of unchanged masks are kept), then emits
        `structures_changed` and `readouts_changed` for every path."""
        from osteoplan.core.safety.structure_state import EditedMasks, record_edits

        with self._structures_lock:
            old = self.structures
            if auto is not None and auto != self.plan.structures.auto:
                self.plan.structures = self.plan.structures.model_copy(update={"auto": auto})
            ref, masks = record_edits(self.base_structures, structures, self.plan.structures.auto)
            ref = ref.model_copy(update={"level": self.plan.structures.level})  # not a structure edit: kept
            self.plan.structures = ref  # the masks are in memory now; saving writes them and their refs
            self.plan.structure_masks = EditedMasks(self.case.ct, masks)
            self._structures = structures
            self.structures_revision += 1
            self._distances.clear()
        self.distance_fields.forget_except(structures)
        changed = {s.name for s in old if not (s.name in structures and structures[s.name].same_as(s))}
        changed |= {s.name for s in structures if s.name not in old}
        self.structures_changed.emit(next(iter(changed)) if len(changed) == 1 else "")
        for trajectory in self.plan.trajectories:  # readouts of the needle alone stay valid
            self.readouts_changed.emit(trajectory.id)

    def structure_distances(self, trajectory_id: str) -> dict[str, list[StructureDistance]]:
        """Whole-needle distances of a trajectory and its spindles (by object id) to each hazard."""
        from osteoplan.core.safety.structure_warnings import trajectory_distances

        trajectory = self.plan.trajectory(trajectory_id)
        with self._structures_lock:
            structures, revision = self.structures, self.structures_revision
            cached = self._distances.get(trajectory_id)
        if cached is not None and cached[0] == trajectory and cached[1] == revision:
            return cached[2]
        distances = trajectory_distances(self, trajectory, structures)
        with self._structures_lock:
            if revision == self.structures_revision:  # not stale: no edit while computing
                self._distances[trajectory_id] = (trajectory, revision, distances)
        return distances

    @property
    def engine(self) -> ReadoutEngine:
        with self._engine_lock:
            if self._engine is None:
                from osteoplan.core.planning.readouts import ReadoutEngine

                self._engine = ReadoutEngine(self.case)
            return self._engine

    def readout(self, trajectory_id: str) -> TrajectoryReadout:
        trajectory = self.plan.trajectory(trajectory_id)
        cached = self._readouts.get(trajectory_id)
        if cached is not None and cached[0] == trajectory:
            return cached[1]
        spindle_devices = {s.id: self.catalog.get(s.device) for s in trajectory.spindles}
        readout = self.engine.compute(trajectory, self.catalog.get(trajectory.device), spindle_devices)
        self._readouts[trajectory_id] = (trajectory, readout)
        return readout

    def warnings(self, trajectory_id: str) -> list[SafetyWarning]:
        """The typed warnings of one trajectory, in this order: its pedicle breach (thresholds in
        resources/check_rules.json), the fluoroscopy rule of a transpedicular path (also there), its
        devices (length, spindle anchorage, illustrative numbers), its whole-needle distances to the
        critical structures (resources/structure_categories.json), the zones of its ablations
        (resources/ablation_model.json; object = the ablation id) and its cement (object = the injection id)."""
        from osteoplan.core.fluoro.rule import fluoro_rule_warnings
        from osteoplan.core.safety.check_rules import device_warnings, pedicle_breach_warnings
        from osteoplan.core.safety.structure_warnings import structure_warnings

        trajectory = self.plan.trajectory(trajectory_id)
        found = pedicle_breach_warnings(self, trajectory)
        found += fluoro_rule_warnings(self, trajectory)
        found += device_warnings(self, trajectory)
        found += structure_warnings(self, trajectory_id)
        for ablation in self.plan.ablations_of(trajectory_id):
            found += self.ablation_warnings(ablation.id)
        if self.plan.injections_of(trajectory_id):
            from osteoplan.core.cement.simulation import cement_warnings

            found += cement_warnings(self, trajectory_id)
        return found

    # --- ablations -------------------------------------------------------------------------
    def ablation_zone(self, ablation_id: str):
        """The zone of an ablation (`ablation.AblationZone`) by its probe's zone model (the table model unless
        a plugin's), cached until its path or it changes.
        Raises `AblationError` when the ablation's path has no probe or the setting is unknown."""
        from osteoplan.core.ablation.models import ZoneRequest, model_zone
        from osteoplan.core.planning.ablation import probe_and_setting

        ablation = self.plan.ablation(ablation_id)
        if ablation.trajectory not in self.plan:
            from osteoplan.core.planning.ablation import AblationError

            raise AblationError(f"ablation {ablation.id!r}: no trajectory {ablation.trajectory!r} in the plan")
        trajectory = self.plan.trajectory(ablation.trajectory)
        key = (trajectory, ablation)
        cached = self._zones.get(ablation_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        probe, setting = probe_and_setting(self.catalog, trajectory, ablation)
        zone = model_zone(ZoneRequest(self.case, trajectory, probe, setting, ablation.offset_mm))
        self._zones[ablation_id] = (key, zone)
        return zone

    def ablation_warnings(self, ablation_id: str) -> list:
        from osteoplan.core.ablation.warnings import ablation_warnings

        return ablation_warnings(self, ablation_id)

    def hazard_coverage(self) -> HazardCoverage:
        """Which hazard categories the warnings measure (neural, vascular, visceral; the skin too when the
        plan has an ablation), and why the others are not checked."""
        from osteoplan.core.safety.coverage import ABLATION_HAZARDS, NEEDLE_HAZARDS, hazard_coverage

        return hazard_coverage(self.structures, NEEDLE_HAZARDS + (ABLATION_HAZARDS if self.plan.ablations else ()))

    def state(self, trajectory_id: str) -> NeedleState:
        from osteoplan.core.safety.warnings import worst

        return needle_state(worst(self.warnings(trajectory_id)))

    def _forget(self, trajectory_id: str) -> None:
        self._readouts.pop(trajectory_id, None)
        self._distances.pop(trajectory_id, None)
        self.readouts_changed.emit(trajectory_id)

    # --- devices ---------------------------------------------------------------------------
    def device(self, device_id: str) -> Device:
        return self.catalog.get(device_id)

    def default_device(self, kind: TrajectoryKind) -> Device:
        return default_trocar(self.catalog, kind)

    def default_spindle_device(self) -> Device:
        return self.catalog.of_kind(DeviceKind.SPINDLE, DeviceKind.KWIRE)[0]

    # --- new paths -------------------------------------------------------------------------
    def new_trajectory(self, entry_lps, target_lps, kind: TrajectoryKind = TrajectoryKind.FREE,
                       device_id: str | None = None, side: Side | None = None, name: str | None = None) -> Trajectory:
        """A trajectory with a fresh id and a readable default name (not yet in the plan)."""
        trajectory_id = self.plan.new_id("t")
        entry = np.asarray(entry_lps, dtype=float)
        if side is None and kind in (TrajectoryKind.TRANSPEDICULAR, TrajectoryKind.PARAPEDICULAR):
            side = Side.LEFT if entry[0] > float(np.asarray(target_lps, dtype=float)[0]) else Side.RIGHT
        return Trajectory(
            id=trajectory_id,
            name=name or f"Path {trajectory_id[1:]}",
            kind=kind,
            side=side,
            entry_lps=tuple(entry),
            target_lps=tuple(np.asarray(target_lps, dtype=float)),
            device=device_id or self.default_device(kind).id,
        )



def load_case_for_plan(loaded, progress=None) -> tuple[Case, list[str]]:
    """The CT (and label map) a loaded plan refers to, with what the user should be told.

    Raises `LoadError` when the image cannot be loaded.
    """
    from osteoplan.core.files.plan_file import check_image_hash
    from osteoplan.core.imaging.identity import identity_mismatch
    from osteoplan.core.imaging.automatic import with_automatic_anatomy
    from osteoplan.core.imaging.io import load_image, load_label_map

    image = loaded.plan.image
    warnings: list[str] = []
    if is_builtin_image(image.path):
        case = load_demo_case(image.path[len(DEMO_IMAGE_PREFIX):])
    else:
        result = load_image(loaded.image_path, image.series_uid, progress)
        case = Case(ct=result.volume, source=str(loaded.image_path), warnings=tuple(result.warnings))
        warnings += result.warnings
        if loaded.labels_path is not None:
            names = loaded.plan.labels.names if loaded.plan.labels else None
            case = case.with_labels(load_label_map(loaded.labels_path, names, reference=case.ct))
        level = loaded.plan.structures.level  # the user's correction of the automatic levels
        case = with_automatic_anatomy(case, (level.vertebra, level.level) if level else None, progress)
    if loaded.plan.structures.masks and loaded.plan.structure_masks is None:
        from osteoplan.core.errors import LoadError
        from osteoplan.core.files.structure_masks import read_structure_masks

        try:
            loaded.plan.structure_masks = read_structure_masks(loaded.plan.structures.masks, case.ct)
        except LoadError as exc:
            warnings.append(f"The plan's edited structures could not be restored: {exc}")
    mismatch = check_image_hash(loaded, case.ct)
    if mismatch:
        warnings.append(mismatch)
    other = identity_mismatch(image.patient_fingerprint, image.study_fingerprint, case.ct.info)
    if other:
        warnings.append(f"The plan {other}.")
    return case, warnings


def open_plan_session(path, progress=None) -> tuple[PlanSession, list[str]]:
    """Load a plan file and its image into a session (what `osteoplan check` and the GUI do)."""
    from osteoplan.core.files.plan_file import load_plan

    loaded = load_plan(path)
    case, warnings = load_case_for_plan(loaded, progress)
    return PlanSession(case, loaded.plan, plan_path=Path(path)), [*loaded.warnings, *warnings]
