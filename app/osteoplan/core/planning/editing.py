"""Every edit of a plan, as undoable commands, behind one facade (`PlanEditor`).

The GUI, the CLI and scripts edit plans only through `PlanEditor`; a drag wraps its
many `move_*` calls in `editor.history.group(...)` so that it undoes in one step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from osteoplan.core.planning.ablation import Ablation, Thermocouple
from osteoplan.core.planning.history import History
from osteoplan.core.planning.injection import Injection
from osteoplan.core.planning.plan import Plan
from osteoplan.core.planning.trajectory import Spindle, Trajectory


@dataclass
class AddTrajectory:
    plan: Plan
    trajectory: Trajectory
    index: int | None = None
    label: str = "Add path"

    def do(self) -> None:
        self.plan._insert(self.trajectory, self.index)

    def undo(self) -> None:
        self.plan._remove(self.trajectory.id)

    def merge(self, later) -> bool:
        return False


@dataclass
class RemoveTrajectory:
    plan: Plan
    trajectory_id: str
    label: str = "Delete path"
    _removed: Trajectory | None = None
    _index: int = 0

    def do(self) -> None:
        self._index = self.plan.index_of(self.trajectory_id)
        self._removed = self.plan._remove(self.trajectory_id)

    def undo(self) -> None:
        self.plan._insert(self._removed, self._index)

    def merge(self, later) -> bool:
        return False


@dataclass
class ReplaceTrajectory:
    """Any change of one trajectory (move an end, device, name, spindles...): old value -> new value."""

    plan: Plan
    old: Trajectory
    new: Trajectory
    label: str

    def do(self) -> None:
        self.plan._replace(self.new)

    def undo(self) -> None:
        self.plan._replace(self.old)

    def merge(self, later) -> bool:
        """Successive moves of the same path in one gesture collapse into one step."""
        if isinstance(later, ReplaceTrajectory) and later.new.id == self.new.id and later.label == self.label:
            self.new = later.new
            return True
        return False


@dataclass
class AddItem:
    """Add an ablation or a thermocouple (`kind`); undo removes it."""

    plan: Plan
    kind: str
    item: object
    label: str
    index: int | None = None

    def do(self) -> None:
        self.plan._insert_item(self.kind, self.item, self.index)

    def undo(self) -> None:
        self.plan._remove_item(self.kind, self.item.id)

    def merge(self, later) -> bool:
        return False


@dataclass
class RemoveItem:
    plan: Plan
    kind: str
    item_id: str
    label: str
    _removed: object = None
    _index: int = 0

    def do(self) -> None:
        self._removed, self._index = self.plan._remove_item(self.kind, self.item_id)

    def undo(self) -> None:
        self.plan._insert_item(self.kind, self._removed, self._index)

    def merge(self, later) -> bool:
        return False


@dataclass
class ReplaceItem:
    plan: Plan
    kind: str
    old: object
    new: object
    label: str

    def do(self) -> None:
        self.plan._replace_item(self.kind, self.new)

    def undo(self) -> None:
        self.plan._replace_item(self.kind, self.old)

    def merge(self, later) -> bool:
        """Successive edits of one item with the same label (a drag) collapse into one step."""
        if (isinstance(later, ReplaceItem) and later.kind == self.kind and later.new.id == self.new.id
                and later.label == self.label):
            self.new = later.new
            return True
        return False


class PlanEditor:
    def __init__(self, plan: Plan, history: History | None = None, catalog=None) -> None:
        self.plan = plan
        self.history = history or History()
        self.catalog = catalog  # when set, ablations are checked against it (probe device, known setting)

    # --- trajectories ----------------------------------------------------------------------
    def add_trajectory(self, trajectory: Trajectory, label: str = "Add path") -> Trajectory:
        self.history.push(AddTrajectory(self.plan, trajectory, label=label))
        return trajectory

    def remove_trajectory(self, trajectory_id: str) -> None:
        """Remove a path, and the ablations attached to it, in one undo step."""
        attached = [("ablation", a.id) for a in self.plan.ablations_of(trajectory_id)]
        attached += [("injection", i.id) for i in self.plan.injections_of(trajectory_id)]
        if not attached:
            self.history.push(RemoveTrajectory(self.plan, trajectory_id))
            return
        with self.history.group("Delete path"):
            for kind, item_id in attached:
                self.history.push(RemoveItem(self.plan, kind, item_id, f"Delete {kind}"))
            self.history.push(RemoveTrajectory(self.plan, trajectory_id))

    def update(self, trajectory_id: str, label: str, **changes) -> Trajectory:
        """Replace fields of a trajectory (validated: a bad value raises and changes nothing)."""
        old = self.plan.trajectory(trajectory_id)
        new = Trajectory.model_validate({**old.model_dump(), **changes})
        if new != old:
            self.history.push(ReplaceTrajectory(self.plan, old, new, label))
        return new

    def move_entry(self, trajectory_id: str, entry_lps) -> Trajectory:
        return self.update(trajectory_id, "Move entry", entry_lps=tuple(np.asarray(entry_lps, dtype=float)))

    def move_target(self, trajectory_id: str, target_lps) -> Trajectory:
        return self.update(trajectory_id, "Move target", target_lps=tuple(np.asarray(target_lps, dtype=float)))

    def translate(self, trajectory_id: str, delta_lps) -> Trajectory:
        """Move the whole needle, keeping its direction and length."""
        old = self.plan.trajectory(trajectory_id)
        delta = np.asarray(delta_lps, dtype=float)
        return self.update(trajectory_id, "Move path", entry_lps=tuple(old.entry + delta),
                           target_lps=tuple(old.target + delta))

    def set_device(self, trajectory_id: str, device_id: str) -> Trajectory:
        return self.update(trajectory_id, "Change device", device=device_id)

    def rename(self, trajectory_id: str, name: str) -> Trajectory:
        return self.update(trajectory_id, "Rename", name=name)

    def set_visible(self, trajectory_id: str, visible: bool) -> Trajectory:
        return self.update(trajectory_id, "Show/hide path", visible=bool(visible))

    # --- spindles --------------------------------------------------------------------------
    def add_spindle(self, trajectory_id: str, spindle: Spindle) -> Trajectory:
        old = self.plan.trajectory(trajectory_id)
        return self.update(trajectory_id, "Add spindle", spindles=(*old.spindles, spindle))

    def remove_spindle(self, trajectory_id: str, spindle_id: str) -> Trajectory:
        old = self.plan.trajectory(trajectory_id)
        old.spindle(spindle_id)
        return self.update(trajectory_id, "Remove spindle",
                           spindles=tuple(s for s in old.spindles if s.id != spindle_id))

    def update_spindle(self, trajectory_id: str, spindle_id: str, label: str = "Edit spindle", **changes) -> Trajectory:
        old = self.plan.trajectory(trajectory_id)
        spindles = tuple(Spindle.model_validate({**s.model_dump(), **changes}) if s.id == spindle_id else s
                         for s in old.spindles)
        old.spindle(spindle_id)
        return self.update(trajectory_id, label, spindles=spindles)

    # --- ablations and thermocouples ---------------------------------------------------------
    def _check_ablation(self, ablation: Ablation) -> None:
        from osteoplan.core.planning.ablation import AblationError, probe_and_setting

        if ablation.trajectory not in self.plan:
            raise AblationError(f"ablation {ablation.id!r}: no trajectory {ablation.trajectory!r} in the plan")
        if self.catalog is not None:
            probe_and_setting(self.catalog, self.plan.trajectory(ablation.trajectory), ablation)

    def add_ablation(self, ablation: Ablation, label: str = "Add ablation") -> Ablation:
        """Add an ablation (its trajectory must be in the plan; with a catalog: a probe with that setting)."""
        self._check_ablation(ablation)
        self.history.push(AddItem(self.plan, "ablation", ablation, label))
        return ablation

    def remove_ablation(self, ablation_id: str) -> None:
        self.plan.ablation(ablation_id)
        self.history.push(RemoveItem(self.plan, "ablation", ablation_id, "Delete ablation"))

    def update_ablation(self, ablation_id: str, label: str = "Edit ablation", **changes) -> Ablation:
        """Replace fields of an ablation (setting, offset_mm, trajectory), validated first."""
        old = self.plan.ablation(ablation_id)
        new = Ablation.model_validate({**old.model_dump(), **changes})
        self._check_ablation(new)
        if new != old:
            self.history.push(ReplaceItem(self.plan, "ablation", old, new, label))
        return new

    def add_thermocouple(self, thermocouple: Thermocouple, label: str = "Add thermocouple") -> Thermocouple:
        self.history.push(AddItem(self.plan, "thermocouple", thermocouple, label))
        return thermocouple

    def remove_thermocouple(self, thermocouple_id: str) -> None:
        self.plan.thermocouple(thermocouple_id)
        self.history.push(RemoveItem(self.plan, "thermocouple", thermocouple_id, "Delete thermocouple"))

    def update_thermocouple(self, thermocouple_id: str, label: str = "Move thermocouple", **changes) -> Thermocouple:
        old = self.plan.thermocouple(thermocouple_id)
        new = Thermocouple.model_validate({**old.model_dump(), **changes})
        if new != old:
            self.history.push(ReplaceItem(self.plan, "thermocouple", old, new, label))
        return new

    def move_thermocouple(self, thermocouple_id: str, position_lps) -> Thermocouple:
        return self.update_thermocouple(thermocouple_id, position_lps=tuple(np.asarray(position_lps, dtype=float)))

    # --- cement injections -----------------------------------------------------------------
    def _check_injection(self, injection: Injection) -> None:
        if injection.trocar not in self.plan:
            from osteoplan.core.planning.injection import CementError

            raise CementError(f"injection {injection.id!r}: no trocar (trajectory) {injection.trocar!r} in the plan")

    def add_injection(self, injection: Injection, label: str = "Add injection") -> Injection:
        self._check_injection(injection)
        self.history.push(AddItem(self.plan, "injection", injection, label))
        return injection

    def remove_injection(self, injection_id: str) -> None:
        self.plan.injection(injection_id)
        self.history.push(RemoveItem(self.plan, "injection", injection_id, "Delete injection"))

    def update_injection(self, injection_id: str, label: str = "Edit injection", **changes) -> Injection:
        """Replace fields of an injection (volume_ml, viscosity, steps_ml, trocar), validated first."""
        old = self.plan.injection(injection_id)
        new = Injection.model_validate({**old.model_dump(), **changes})
        self._check_injection(new)
        if new != old:
            self.history.push(ReplaceItem(self.plan, "injection", old, new, label))
        return new
