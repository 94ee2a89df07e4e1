"""The Plan: the single source of truth of a case (image reference, label map, trajectories).

Views observe its events and hold no state of their own. Mutations go through the
undo stack (`core.history` + `core.editing`); the private `_insert/_replace/_remove`
methods are for commands only.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Callable

from psygnal import Signal
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from osteoplan.core.planning.ablation import Ablation, Thermocouple
from osteoplan.core.planning.injection import Injection
from osteoplan.core.planning.trajectory import Trajectory


class ImageRef(BaseModel):
    """Where the plan's CT is: a file or DICOM folder (relative paths resolve against the plan's folder)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    path: str = Field(min_length=1, max_length=4096)
    series_uid: str | None = Field(default=None, max_length=128)
    content_hash: str | None = Field(default=None, max_length=128)  # of the voxels + geometry
    # one-way fingerprints of the CT's patient and study (imaging.identity), never the values themselves
    patient_fingerprint: str | None = Field(default=None, max_length=128)
    study_fingerprint: str | None = Field(default=None, max_length=128)


class LabelsRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    path: str = Field(min_length=1, max_length=4096)
    names: str | None = Field(default=None, max_length=4096)  # labels.json; default: beside the label map


StructureName = Annotated[str, Field(min_length=1, max_length=128)]


class AutoStructures(BaseModel):
    """Which automatic structures to compute from the CT (each only when the labels lack that category)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    skin: bool = True
    bone: bool = True


class StructureOverride(BaseModel):
    """What differs from a structure's defaults (category from its name, category/label colour,
    category thresholds, visible, opacity 1); None = the default."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    category: str | None = Field(default=None, min_length=1, max_length=64)
    color: tuple[Annotated[int, Field(ge=0, le=255)], Annotated[int, Field(ge=0, le=255)],
                 Annotated[int, Field(ge=0, le=255)]] | None = None
    warn_mm: float | None = Field(default=None, ge=0, le=1000, allow_inf_nan=False)
    stop_mm: float | None = Field(default=None, ge=0, le=1000, allow_inf_nan=False)
    visible: bool | None = None
    opacity: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str | None) -> str | None:
        from osteoplan.core.imaging.anatomy import structure_categories

        known = structure_categories().categories
        if value is not None and value not in known:
            raise ValueError(f"unknown structure category {value!r}; known: {', '.join(sorted(known))}")
        return value

    @model_validator(mode="after")
    def _stop_within_warn(self) -> "StructureOverride":
        if self.warn_mm is not None and self.stop_mm is not None and self.stop_mm > self.warn_mm:
            raise ValueError(f"stop_mm ({self.stop_mm:g}) must not exceed warn_mm ({self.warn_mm:g})")
        return self


class MaskLayerRef(BaseModel):
    """A label map on the CT grid holding edited/user structure masks: value (as text) -> structure name."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    path: str = Field(min_length=1, max_length=4096)
    names: dict[Annotated[str, Field(pattern=r"^[1-9][0-9]{0,4}$")], StructureName] = Field(max_length=1000)

    @model_validator(mode="after")
    def _valid_names(self) -> "MaskLayerRef":
        if any(int(v) > 65535 for v in self.names):
            raise ValueError("label values of a mask file lie in 1..65535")
        if len(set(self.names.values())) != len(self.names):
            raise ValueError("a structure name appears twice in one mask file")
        return self


class VertebraLevel(BaseModel):
    """The user's correction of the automatic vertebral levels: the vertebra found on the CT as `vertebra`
    is `level`; the others follow in order along the spine."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    vertebra: StructureName
    level: str = Field(pattern=r"^(C[1-7]|T[1-9]|T1[0-2]|L[1-5])$")


class StructuresRef(BaseModel):
    """The plan's structure settings (see `io.plan_file` for the file form)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    auto: AutoStructures = Field(default_factory=AutoStructures)
    overrides: dict[StructureName, StructureOverride] = Field(default_factory=dict, max_length=1000)
    renamed: dict[StructureName, StructureName] = Field(default_factory=dict, max_length=1000)  # new: base name
    deleted: list[StructureName] = Field(default_factory=list, max_length=1000)  # base names
    masks: list[MaskLayerRef] = Field(default_factory=list, max_length=16)
    level: VertebraLevel | None = None  # "this vertebra is L3" (automatic vertebrae only)

    @model_validator(mode="after")
    def _consistent(self) -> "StructuresRef":
        in_masks = [n for layer in self.masks for n in layer.names.values()]
        if len(in_masks) != len(set(in_masks)):
            raise ValueError("a structure name appears in two mask files")
        if len(set(self.renamed.values())) != len(self.renamed):
            raise ValueError("two structures are renamed from the same name")
        if set(self.deleted) & set(self.renamed.values()):
            raise ValueError("a structure is both deleted and renamed")
        return self

    @property
    def is_default(self) -> bool:
        return self == StructuresRef()


class Plan:
    trajectory_added = Signal(str)  # id
    trajectory_changed = Signal(str)  # id
    trajectory_removed = Signal(str)  # id
    ablation_added = Signal(str)  # id
    ablation_changed = Signal(str)
    ablation_removed = Signal(str)
    thermocouple_added = Signal(str)  # id
    thermocouple_changed = Signal(str)
    thermocouple_removed = Signal(str)
    injection_added = Signal(str)  # id
    injection_changed = Signal(str)
    injection_removed = Signal(str)
    changed = Signal()  # after any of the above, and after a reference changes

    def __init__(self, image: ImageRef, labels: LabelsRef | None = None,
                 trajectories: list[Trajectory] | tuple[Trajectory, ...] = (),
                 structures: StructuresRef | None = None,
                 ablations: list[Ablation] | tuple[Ablation, ...] = (),
                 thermocouples: list[Thermocouple] | tuple[Thermocouple, ...] = (),
                 injections: list[Injection] | tuple[Injection, ...] = ()) -> None:
        self.image = image
        self.labels = labels
        self.structures = structures or StructuresRef()  # set by the session after every structure edit
        # The masks of edited/user structures in memory (`structure_state.EditedMasks`): None until
        # loaded (then `structures.masks` names the files that hold them); saving writes them out.
        self.structure_masks: Any = None
        self._trajectories: dict[str, Trajectory] = {}
        for trajectory in trajectories:
            if trajectory.id in self._trajectories:
                raise ValueError(f"two trajectories share the id {trajectory.id!r}")
            self._trajectories[trajectory.id] = trajectory
        self._ablations: dict[str, Ablation] = {}
        self._thermocouples: dict[str, Thermocouple] = {}
        self._injections: dict[str, Injection] = {}
        for store, items, what in ((self._ablations, ablations, "ablations"),
                                   (self._thermocouples, thermocouples, "thermocouples"),
                                   (self._injections, injections, "injections")):
            for item in items:
                if item.id in store:
                    raise ValueError(f"two {what} share the id {item.id!r}")
                store[item.id] = item

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

    @property
    def ablations(self) -> tuple[Ablation, ...]:
        return tuple(self._ablations.values())

    def ablation(self, ablation_id: str) -> Ablation:
        try:
            return self._ablations[ablation_id]
        except KeyError:
            raise KeyError(f"no ablation with id {ablation_id!r}") from None

    def ablations_of(self, trajectory_id: str) -> tuple[Ablation, ...]:
        return tuple(a for a in self._ablations.values() if a.trajectory == trajectory_id)

    @property
    def thermocouples(self) -> tuple[Thermocouple, ...]:
        return tuple(self._thermocouples.values())

    def thermocouple(self, thermocouple_id: str) -> Thermocouple:
        try:
            return self._thermocouples[thermocouple_id]
        except KeyError:
            raise KeyError(f"no thermocouple with id {thermocouple_id!r}") from None

    @property
    def injections(self) -> tuple[Injection, ...]:
        return tuple(self._injections.values())

    def injection(self, injection_id: str) -> Injection:
        try:
            return self._injections[injection_id]
        except KeyError:
            raise KeyError(f"no injection with id {injection_id!r}") from None

    def injections_of(self, trajectory_id: str) -> tuple[Injection, ...]:
        return tuple(i for i in self._injections.values() if i.trocar == trajectory_id)

    def index_of(self, trajectory_id: str) -> int:
        return list(self._trajectories).index(trajectory_id)

    def new_id(self, prefix: str = "t") -> str:
        return self.id_factory(prefix)()

    def id_factory(self, prefix: str = "t") -> Callable[[], str]:
        """Hands out ids unused in the plan and not handed out before by this factory
        (for several new paths built before any is added)."""
        issued: set[str] = set()

        def next_id() -> str:
            taken = (issued | set(self._trajectories) | set(self._ablations) | set(self._thermocouples) | set(self._injections)
                     | {s.id for t in self._trajectories.values() for s in t.spindles})
            new = next(f"{prefix}{n}" for n in itertools.count(1) if f"{prefix}{n}" not in taken)
            issued.add(new)
            return new

        return next_id

    def same_content(self, other: "Plan") -> bool:
        mine, theirs = self.structure_masks, other.structure_masks
        return (self.image == other.image and self.labels == other.labels
                and self.trajectories == other.trajectories
                and self.ablations == other.ablations and self.thermocouples == other.thermocouples
                and self.injections == other.injections
                and self.structures.model_copy(update={"masks": []}) == other.structures.model_copy(update={"masks": []})
                and (mine.digest if mine else None) == (theirs.digest if theirs else None))

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

    # Ablations, thermocouples, injections: `kind` is "ablation", "thermocouple" or "injection" (for commands only).
    def _store(self, kind: str) -> dict:
        return {"ablation": self._ablations, "thermocouple": self._thermocouples, "injection": self._injections}[kind]

    def _emit(self, kind: str, event: str, item_id: str) -> None:
        getattr(self, f"{kind}_{event}").emit(item_id)
        self.changed.emit()

    def _insert_item(self, kind: str, item, index: int | None = None) -> None:
        store = self._store(kind)
        if item.id in store:
            raise ValueError(f"a {kind} with id {item.id!r} exists already")
        items = list(store.items())
        items.insert(len(items) if index is None else index, (item.id, item))
        store.clear()
        store.update(items)
        self._emit(kind, "added", item.id)

    def _replace_item(self, kind: str, item) -> None:
        store = self._store(kind)
        if item.id not in store:
            raise KeyError(f"no {kind} with id {item.id!r}")
        store[item.id] = item
        self._emit(kind, "changed", item.id)

    def _remove_item(self, kind: str, item_id: str) -> tuple[object, int]:
        store = self._store(kind)
        index = list(store).index(item_id)
        item = store.pop(item_id)
        self._emit(kind, "removed", item_id)
        return item, index
