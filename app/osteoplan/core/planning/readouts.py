"""Derived readouts of a needle path: length, depth from the skin, length in bone, tip tissue,
angles, pedicle breach grade, spindle anchorage, and whether the device is long enough.

Angle convention (patient frame = LPS: +x the patient's left, +y posterior, +z superior;
d = the unit vector from the entry to the target):

- **Transverse angle**: the angle, in the axial plane, between the needle's projection
  (d_x, d_y) and the anterior-posterior axis, ``atan2(m, |d_y|)`` in degrees (-90..+90).
  For a path with a side (left/right) m is the needle's lateral component counted
  positive towards the midline: a positive angle means the needle is directed medially
  (converging), as the medial angle of a pedicle. For a midline or side-less path m = d_x:
  positive when the needle is directed towards the patient's left. 0 = straight
  antero-posterior (either way), +-90 = purely lateral.
- **Sagittal angle**: the angle between the needle and the axial plane,
  ``atan2(-d_z, hypot(d_x, d_y))`` in degrees (-90..+90), positive when the tip is caudal
  to the entry (a cranio-caudal tilt), negative when it is cranial.

Masks and distance fields are computed once per case (`ReadoutEngine.prepare`, or lazily
on the first `compute`); `compute` then samples the path every ~0.5 mm, vectorised.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol, runtime_checkable

import numpy as np

from osteoplan.core.imaging.bone_fields import BoneStructures, CaseMasks, CropField
from osteoplan.core.imaging.case import Case
from osteoplan.core.imaging.tissue import TissueLookup, tissue_classes
from osteoplan.core.planning.pedicle import PedicleEstimate, VertebraAnatomy, analyse_vertebra, infer_side
from osteoplan.core.planning.trajectory import Side, Trajectory, TrajectoryKind

# Engineering default, not a published threshold: 10 mm of pin in healthy bone beyond
# the lesion (editable per plan; the UI shows the value in force).
DEFAULT_MIN_ANCHORAGE_MM = 10.0
SAMPLE_STEP_MM = 0.5
SKIN_SEARCH_MM = 300.0  # how far behind the entry the skin is looked for (device length check)
_DESCENT_TOLERANCE_MM = 0.01  # per sample: the needle still goes deeper into the bone at its entry
# HU classes that, inside the bone mask, are osteoporotic cancellous bone (80-150 HU), not soft tissue
LOW_DENSITY_CLASSES = frozenset(tissue_classes().by_id(c).name for c in ("soft_tissue", "fluid"))
CANCELLOUS_NAME = tissue_classes().by_id("cancellous_bone").name
CORTICAL_HU = tissue_classes().by_id("cortical_bone").hu_min
GRADES = (("A", 0.0), ("B", 2.0), ("C", 4.0), ("D", 6.0))  # upper bounds (exclusive); E beyond


@runtime_checkable
class NeedleGeometry(Protocol):
    """What the readouts need of a device (any object with these two attributes)."""

    @property
    def outer_diameter_mm(self) -> float: ...

    @property
    def length_mm(self) -> float | None: ...


@dataclass(frozen=True)
class SpindleReadout:
    id: str
    anchored: bool  # anchorage_mm >= the engine's min_anchorage_mm
    anchorage_mm: float  # last continuous run in healthy bone (not lesion) ending at the tip
    tip_tissue: str


@dataclass(frozen=True)
class TrajectoryReadout:
    length_mm: float
    bone_path_mm: float  # inside bone (lesions in bone count as bone)
    skin_depth_mm: float | None  # from the skin crossing to the target; None if the path never crosses it
    tip_tissue: str
    angles_deg: dict[str, float]  # {"transverse": ..., "sagittal": ...}, see the module docstring
    breach_grade: str | None  # Gertzbein-Robbins A-E, transpedicular paths only
    breach_mm: float | None  # from the needle's outer surface, outside the target bone
    device_long_enough: bool | None  # device length >= skin-to-target distance (None if unknown)
    spindles: tuple[SpindleReadout, ...]
    breach_direction: str | None = None  # "medial", "lateral", "cranial" or "caudal" when breach_mm > 0
    # skin to target along the path's line, also when the entry lies inside the body (what
    # device_long_enough compares the device length with); None if no skin is found
    skin_to_target_mm: float | None = None
    tip_bone: str | None = None  # "cortical" or "cancellous" when the tip is in bone (`ReadoutEngine.bone_compartment_at`)

    @property
    def tip_description(self) -> str:
        """Where the tip is, for people: "vertebrae_L3 (cancellous)"."""
        return describe_tip(self.tip_tissue, self.tip_bone)


def describe_tip(tissue: str, bone: str | None) -> str:
    """The tip's tissue with its bone compartment, unless the tissue's name already says it."""
    return f"{tissue} ({bone})" if bone and bone not in tissue else tissue


def breach_grade(breach_mm: float) -> str:
    """Gertzbein-Robbins grade of a breach (mm outside the cortex): A 0, B < 2, C 2-4, D 4-6, E >= 6."""
    if breach_mm <= 0.0:
        return "A"
    for grade, upper in GRADES[1:]:
        if breach_mm < upper:
            return grade
    return "E"


def trajectory_angles_deg(entry_lps, target_lps, side: Side | str | None = None) -> dict[str, float]:
    """Transverse and sagittal angles of the path entry -> target (convention: module docstring)."""
    d = np.asarray(target_lps, dtype=float) - np.asarray(entry_lps, dtype=float)
    norm = float(np.linalg.norm(d))
    if norm == 0.0:
        raise ValueError("entry and target are the same point")
    dx, dy, dz = d / norm
    side_value = Side(side).value if side is not None else None
    medial = {"left": -dx, "right": dx}.get(side_value or "", dx)
    horizontal = math.hypot(dx, dy)
    transverse = math.degrees(math.atan2(medial, abs(dy))) if horizontal > 1e-9 else 0.0
    sagittal = math.degrees(math.atan2(-dz, horizontal))
    return {"transverse": transverse + 0.0, "sagittal": sagittal + 0.0}  # + 0.0: no "-0.0" in readouts


def _samples(start, end, step_mm: float = SAMPLE_STEP_MM) -> tuple[np.ndarray, np.ndarray]:
    """Depths t (mm from start) and points every <= step_mm from start to end, both included."""
    start, end = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
    length = float(np.linalg.norm(end - start))
    n = max(2, int(math.ceil(length / step_mm)) + 1)
    fraction = np.linspace(0.0, 1.0, n)
    return fraction * length, start + fraction[:, None] * (end - start)


def _crossing(t: np.ndarray, f: np.ndarray, i: int) -> float:
    """Where f crosses 0.5 between samples i and i+1 (linear interpolation)."""
    span = f[i + 1] - f[i]
    c = 0.5 if abs(span) < 1e-12 else float(np.clip((0.5 - f[i]) / span, 0.0, 1.0))
    return float(t[i] + c * (t[i + 1] - t[i]))


def inside_length_mm(t: np.ndarray, f: np.ndarray) -> float:
    """Length of the polyline where the fraction f >= 0.5, with sub-sample crossings."""
    inside = f >= 0.5
    dt = np.diff(t)
    a, b = f[:-1], f[1:]
    span = np.where(np.abs(b - a) < 1e-12, 1.0, b - a)
    c = np.clip((0.5 - a) / span, 0.0, 1.0)
    part = np.where(inside[:-1] & inside[1:], dt, 0.0)
    part += np.where(inside[:-1] & ~inside[1:], c * dt, 0.0)
    part += np.where(~inside[:-1] & inside[1:], (1.0 - c) * dt, 0.0)
    return float(part.sum())


def last_run_start(t: np.ndarray, f: np.ndarray) -> float | None:
    """Start of the last run with f >= 0.5 that reaches the last sample; None if the last sample is out.

    t[0] when the whole polyline is inside (no crossing).
    """
    inside = f >= 0.5
    if not inside[-1]:
        return None
    outside = np.flatnonzero(~inside)
    return float(t[0]) if len(outside) == 0 else _crossing(t, f, int(outside[-1]))


class ReadoutEngine:
    """Readouts of trajectories on one case; the heavy fields are built once and cached."""

    def __init__(self, case: Case, min_anchorage_mm: float = DEFAULT_MIN_ANCHORAGE_MM) -> None:
        self.case = case
        self.min_anchorage_mm = float(min_anchorage_mm)
        self.structures = BoneStructures(case)
        self._anatomies: dict[str, VertebraAnatomy | None] = {}

    @cached_property
    def masks(self) -> CaseMasks:
        return CaseMasks(self.case, self.structures)

    @cached_property
    def tissues(self) -> TissueLookup:
        return TissueLookup(self.case)

    def tissue_at(self, point_lps, *, prepared_only: bool = False) -> str:
        """The tissue under a point: its label, else its HU class, except that a point of the bone mask
        whose HU reads soft tissue or fluid is low-density (osteoporotic) cancellous bone.
        `prepared_only`: do not build the bone mask for this (the UI thread while `prepare` runs)."""
        name = self.tissues.name_at(point_lps)
        if name in LOW_DENSITY_CLASSES and not (prepared_only and "masks" not in self.__dict__):
            if self.masks.fractions(np.asarray(point_lps, float)[None, :])[0, 1] >= 0.5:
                return CANCELLOUS_NAME
        return name

    def bone_compartment_at(self, point_lps, target_structure: str | None = None) -> str | None:
        """"cortical" or "cancellous" for a point in bone, None elsewhere: cortical within the cortical shell's
        depth of the bone's surface (resources/tissue_classes.json) or where the CT reads the cortical class."""
        point = np.asarray(point_lps, dtype=float)
        if self.masks.fractions(point[None, :])[0, 1] < 0.5:
            return None
        field = self.structures.field_near(point, target_structure)
        depth = None if field is None else -float(field.sample(point[None, :])[0])  # > 0 inside the bone
        hu = self.case.ct.value_at_lps(point)
        cortical = (depth is not None and depth < tissue_classes().cortical_shell.depth_mm) or (
            hu is not None and hu >= CORTICAL_HU)
        return "cortical" if cortical else "cancellous"

    def prepare(self) -> None:
        """Build the case-wide masks now (else the first `compute` does)."""
        _ = self.masks, self.tissues, self.structures.boxes

    def compute(self, trajectory: Trajectory, device: NeedleGeometry,
                spindle_devices: Mapping[str, NeedleGeometry] | None = None) -> TrajectoryReadout:
        """All readouts of one trajectory. `spindle_devices` (by spindle id) is accepted for
        symmetry with the plan; anchorage is measured along each pin's axis and needs no device."""
        entry, target = trajectory.entry, trajectory.target
        t, points = _samples(entry, target)
        fractions = self.masks.fractions(points)
        skin_depth = self._skin_depth(t, fractions[:, 0])
        skin_to_target = skin_depth if skin_depth is not None else self.skin_distance_mm(trajectory)
        breach_mm, direction = None, None
        if trajectory.kind == TrajectoryKind.TRANSPEDICULAR:
            breach_mm, direction = self.breach(trajectory, device.outer_diameter_mm / 2.0, points)
        return TrajectoryReadout(
            length_mm=trajectory.length_mm,
            bone_path_mm=inside_length_mm(t, fractions[:, 1]),
            skin_depth_mm=skin_depth,
            tip_tissue=self.tissue_at(target),
            angles_deg=trajectory_angles_deg(entry, target, trajectory.side),
            breach_grade=None if breach_mm is None else breach_grade(breach_mm),
            breach_mm=breach_mm,
            device_long_enough=None if device.length_mm is None or skin_to_target is None else bool(
                float(device.length_mm) >= skin_to_target - 1e-6),
            spindles=tuple(self.spindle(trajectory, s.id) for s in trajectory.spindles),
            breach_direction=direction,
            skin_to_target_mm=skin_to_target,
            tip_bone=self.bone_compartment_at(target, trajectory.target_structure),
        )

    # --- pieces -------------------------------------------------------------------------
    @staticmethod
    def _skin_depth(t: np.ndarray, body: np.ndarray) -> float | None:
        start = last_run_start(t, body)
        if start is None or not (body < 0.5).any():
            return None  # the target is outside the body, or the whole path is inside it
        return float(t[-1] - start)

    def skin_distance_mm(self, trajectory: Trajectory) -> float | None:
        """Skin-to-target distance along the path's line, looking up to SKIN_SEARCH_MM behind the entry."""
        far = trajectory.entry - trajectory.axis * SKIN_SEARCH_MM
        t, points = _samples(far, trajectory.target)
        return self._skin_depth(t, self.masks.fractions(points)[:, 0])

    def breach(self, trajectory: Trajectory, radius_mm: float,
               points: np.ndarray | None = None) -> tuple[float | None, str | None]:
        """(mm of needle surface outside the target bone along its intraosseous course, side of the breach).

        The course starts where the axis enters the bone, once the needle has stopped going
        deeper through the entry cortex (or is wholly inside), and at the latest where the path
        reaches the pedicle's narrow part: a needle that misses the pedicle (e.g. through the
        canal) and enters the body behind it is graded at the pedicle. (None, None) if the
        course is empty.
        """
        field = self.structures.field_near(trajectory.target, trajectory.target_structure)
        if field is None:
            return None, None
        if points is None:
            points = _samples(trajectory.entry, trajectory.target)[1]
        sdf = field.sample(points)
        start = intraosseous_start(sdf, radius_mm)
        pedicle = self.pedicle(field.name, trajectory)
        at_pedicle = None if pedicle is None else pedicle_start(points, pedicle)
        if at_pedicle is not None:
            start = at_pedicle if start is None else min(start, at_pedicle)
        if start is None:
            return None, None
        excess = sdf[start:] + radius_mm
        worst = int(np.argmax(excess))
        breach_mm = max(0.0, float(excess[worst]))
        direction = breach_side(field, points[start + worst], trajectory.axis) if breach_mm > 0 else None
        return breach_mm, direction

    def anatomy(self, structure: str) -> VertebraAnatomy | None:
        """Canal, body and pedicles of a labelled vertebra (cached per vertebra); None if not found."""
        value = self.structures.value_of(structure)
        if value is None or not structure.startswith("vertebrae_"):
            return None
        if structure not in self._anatomies:
            mask, start = self.structures.structure_mask(value)
            try:
                self._anatomies[structure] = analyse_vertebra(mask, start, self.structures.field_of_label(value))
            except ValueError:  # e.g. cut by the scan range: fall back to the bone alone
                self._anatomies[structure] = None
        return self._anatomies[structure]

    def pedicle(self, structure: str, trajectory: Trajectory) -> PedicleEstimate | None:
        """The pedicle of a labelled vertebra on the path's side (analysis cached per vertebra)."""
        anatomy = self.anatomy(structure)
        return None if anatomy is None else anatomy.pedicles.get(infer_side(trajectory, anatomy))

    def spindle(self, trajectory: Trajectory, spindle_id: str) -> SpindleReadout:
        spindle = trajectory.spindle(spindle_id)
        t, points = _samples(spindle.start_lps(trajectory), spindle.tip_lps(trajectory))
        start = last_run_start(t, self.masks.fractions(points)[:, 2])
        anchorage = 0.0 if start is None else float(t[-1] - start)
        return SpindleReadout(spindle.id, anchorage >= self.min_anchorage_mm, anchorage, self.tissue_at(points[-1]))


def intraosseous_start(sdf: np.ndarray, radius_mm: float) -> int | None:
    """First sample of the intraosseous course along a path's signed distances (entry -> tip)."""
    inside = np.flatnonzero(sdf <= 0.0)
    if len(inside) == 0:
        return None
    first = int(inside[0])
    descending = (sdf[:-1] + radius_mm > 0.0) & (np.diff(sdf) < -_DESCENT_TOLERANCE_MM)
    stops = np.flatnonzero(~descending[first:])
    return first + int(stops[0]) if len(stops) else len(sdf) - 1


def pedicle_start(points: np.ndarray, pedicle: PedicleEstimate, reach_mm: float = 20.0) -> int | None:
    """First sample (entry -> tip) at or in front of the posterior end of the pedicle's narrow part."""
    near = np.linalg.norm(points - pedicle.center_lps, axis=1) < reach_mm
    hits = np.flatnonzero(near & (points[:, 1] <= pedicle.band_y_mm[1]))
    return int(hits[0]) if len(hits) else None


def breach_side(field: CropField, point_lps: np.ndarray, axis: np.ndarray) -> str:
    """Which wall the needle leaves through at `point_lps`: medial/lateral (towards/away from the
    bone's mid-sagittal plane through its centroid) or cranial/caudal."""
    normal = field.gradient(point_lps)  # outward
    across = np.cross(axis, (0.0, 0.0, 1.0))
    across = across / np.linalg.norm(across) if np.linalg.norm(across) > 1e-6 else np.array([1.0, 0.0, 0.0])
    if abs(normal[2]) > abs(float(normal @ across)):
        return "cranial" if normal[2] > 0 else "caudal"
    towards_centroid = float((field.centroid_lps - point_lps) @ across) > 0
    return "medial" if (float(normal @ across) > 0) == towards_centroid else "lateral"
