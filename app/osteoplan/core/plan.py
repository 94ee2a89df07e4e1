"""The Plan: the single source of truth of a case (image reference, label map, trajectories).

Views observe its events and hold no state of their own. Mutations go through the
undo stack (`core.history` + `core.editing`); the private `_insert/_replace/_remove`
methods are for commands only.
"""

from __future__ import annotations

import itertools
from typing import Callable

from psygnal import Signal
from pydantic import BaseModel, ConfigDict, Field

from osteoplan.core.trajectory import Trajectory


class ImageRef(BaseModel):
    """Where the plan's CT is: a file or DICOM folder (relative paths resolve against the plan's folder)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    path: str = Field(min_length=1, max_length=4096)
    series_uid: str | None = Field(default=None, max_length=128)
    content_hash: str | None = Field(default=None, max_length=128)  # of the voxels + geometry


class LabelsRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    path: str = Field(min_length=1, max_length=4096)
    names: str | None = Field(default=None, max_length=4096)  # labels.json; default: beside the label map


class Plan:
    trajectory_added = Signal(str)  # id
    trajectory_changed = Signal(str)  # id
    trajectory_removed = Signal(str)  # id
    changed = Signal()  # after any of the above, and after a reference changes

    def __init__(self, image: ImageRef, labels: LabelsRef | None = None,
                 trajectories: list[Trajectory] | tuple[Trajectory, ...] = ()) -> None:
        self.image = image
        self.labels = labels
        self._trajectories: dict[str, Trajectory] = {}
        for trajectory in trajectories:
            if trajectory.id in self._trajectories:
                raise ValueError(f"two trajectories share the id {trajectory.id!r}")
            self._trajectories[trajectory.id] = trajectory

    # --- reading ---------------------------------------------------------------------------
    @property
    def trajectories(self) -> tuple[Trajectory, ...]:
        return tuple(self._trajectories.values())

    def trajectory(self, trajectory_id: str) -> Trajectory:
        try:
            return self._trajectories[trajectory_id]
        except KeyError:
            raise KeyError(f"no trajectory with id {trajectory_id!r}") from None

    def __contains__(self, trajectory_id: str) -> bool:
        return trajectory_id in self._trajectories

    def index_of(self, trajectory_id: str) -> int:
        return list(self._trajectories).index(trajectory_id)

    def new_id(self, prefix: str = "t") -> str:
        return self.id_factory(prefix)()

    def id_factory(self, prefix: str = "t") -> Callable[[], str]:
        """Hands out ids unused in the plan and not handed out before by this factory
        (for several new paths built before any is added)."""
        issued: set[str] = set()

        def next_id() -> str:
            taken = issued | set(self._trajectories) | {s.id for t in self._trajectories.values() for s in t.spindles}
            new = next(f"{prefix}{n}" for n in itertools.count(1) if f"{prefix}{n}" not in taken)
            issued.add(new)
            return new

        return next_id

    def same_content(self, other: "Plan") -> bool:
        return (self.image == other.image and self.labels == other.labels
                and self.trajectories == other.trajectories)

    # --- mutation, for commands only ---------------------------------------------------------
    def _insert(self, trajectory: Trajectory, index: int | None = None) -> None:
        if trajectory.id in self._trajectories:
            raise ValueError(f"a trajectory with id {trajectory.id!r} exists already")
        items = list(self._trajectories.items())
        items.insert(len(items) if index is None else index, (trajectory.id, trajectory))
        self._trajectories = dict(items)
        self.trajectory_added.emit(trajectory.id)
        self.changed.emit()

    def _replace(self, trajectory: Trajectory) -> None:
        self.trajectory(trajectory.id)
        self._trajectories[trajectory.id] = trajectory
        self.trajectory_changed.emit(trajectory.id)
        self.changed.emit()

    def _remove(self, trajectory_id: str) -> Trajectory:
        trajectory = self._trajectories.pop(trajectory_id)
        self.trajectory_removed.emit(trajectory_id)
        self.changed.emit()
        return trajectory
