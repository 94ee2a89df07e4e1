"""What the safety rules read of a planning session (`osteoplan.core.session.PlanSession` is one):
named here so that the rules below the session need not import it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # types only: importing this module loads nothing heavy (the readout engine loads on use)
    from osteoplan.core.imaging.case import Case
    from osteoplan.core.planning.devices import DeviceCatalog
    from osteoplan.core.planning.plan import Plan
    from osteoplan.core.planning.readouts import ReadoutEngine, TrajectoryReadout
    from osteoplan.core.safety.distances import DistanceFields, StructureDistance
    from osteoplan.core.safety.structures import StructureSet


class PlanContext(Protocol):
    plan: Plan
    case: Case
    catalog: DeviceCatalog
    distance_fields: DistanceFields
    structures_revision: int  # +1 on every structure edit: keys the caches that depend on structures

    @property
    def structures(self) -> StructureSet: ...

    @property
    def engine(self) -> ReadoutEngine: ...

    def readout(self, trajectory_id: str) -> TrajectoryReadout: ...

    def structure_distances(self, trajectory_id: str) -> dict[str, list[StructureDistance]]: ...
