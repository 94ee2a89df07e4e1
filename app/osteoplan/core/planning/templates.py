"""Path templates: a bilateral transpedicular pair for a vertebra, and two transcortical trocars
for a femoral-neck lesion. Everything is estimated from the case (label map, else CT
thresholds); nothing reads the demo phantom's constants.

Ids come from the caller (`new_id`, the Plan hands out unique ones) and so does the device.
Entries are placed on the skin side, just outside the skin where the device is long
enough for that, so the readouts show the whole intracorporeal path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
from scipy import ndimage

from osteoplan.core.imaging.bone_fields import BODY_THRESHOLD_HU, BoneStructures, bone_hu_threshold, signed_distance_mm
from osteoplan.core.imaging.case import Case
from osteoplan.core.planning.pedicle import aligned_entry, analyse_vertebra, vertebra_at
from osteoplan.core.planning.trajectory import Side, Trajectory, TrajectoryKind

DEFAULT_NEEDLE_RADIUS_MM = 3.048 / 2  # 11G outer diameter (sources.md device table)
DEFAULT_CONVERGENCE_DEG = 10.0  # level unknown: engineering default
TARGET_DEPTH_FRACTION = 0.3  # from the anterior cortex: the front of the middle third of the body
TARGET_DEPTH_IN_BONE_MM = 3.0  # a template's tip at least this deep in the vertebral body
MIN_MIDLINE_OFFSET_MM = 3.0  # the two tips stay apart, each on its own side
SKIN_MARGIN_MM = 5.0  # entries this far outside the skin when the device allows
AIR_RUN_MM = 20.0  # the skin is where the ray leaves the body for at least this much air
SKIN_SEARCH_MM = 400.0
NECK_SHELL_MM = (4.0, 16.0)  # beyond the head's radius: the femoral-neck slab that gives the axis
TIP_SEPARATION_MM = 6.0


def pedicle_convergence_deg(level: str | None) -> float:
    """Medial angle of the pedicle for a level name ("L2", "T7"...).

    Lumbar: 5 deg x level (sources.md). Thoracic: linear from 35 deg at T1 to -10 deg at
    T12 (Kaur 2016 end points; the linear interpolation between them is ours). Cervical
    45 deg and sacral 25 deg are unverified engineering defaults; unknown: 10 deg.
    """
    match = re.fullmatch(r"([CTLS])(\d+)", level or "")
    if not match:
        return DEFAULT_CONVERGENCE_DEG
    region, number = match.group(1), int(match.group(2))
    if region == "L":
        return 5.0 * number
    if region == "T":
        return 35.0 - 45.0 * (min(max(number, 1), 12) - 1) / 11.0
    return 45.0 if region == "C" else 25.0


def skin_distance_mm(case: Case, target_lps, outward) -> float | None:
    """Distance from the target to the skin along a ray (the first body -> air exit followed by
    AIR_RUN_MM of air or the image's edge); None if the ray never leaves the body."""
    step = 0.5
    s = np.arange(0.0, SKIN_SEARCH_MM, step)
    points = np.asarray(target_lps, dtype=float) + s[:, None] * np.asarray(outward, dtype=float)
    ijk = case.ct.lps_to_index(points)
    hu = ndimage.map_coordinates(case.ct.array, ijk[:, ::-1].T, order=1, mode="constant", cval=-1000.0)
    body = hu > BODY_THRESHOLD_HU
    run = int(AIR_RUN_MM / step)
    for i in np.flatnonzero(body[:-1] & ~body[1:]):
        if not body[i + 1:i + 1 + run].any():
            t = (hu[i] - BODY_THRESHOLD_HU) / max(hu[i] - hu[i + 1], 1e-6)
            return float(s[i] + t * step)
    return None


def entry_on_skin(case: Case, target: np.ndarray, outward: np.ndarray, device_length_mm: float) -> np.ndarray:
    """Entry just outside the skin (up to SKIN_MARGIN_MM, within the device length where it can)."""
    skin = skin_distance_mm(case, target, outward)
    if skin is None:
        return target + outward * device_length_mm
    margin = min(SKIN_MARGIN_MM, max(0.5, device_length_mm - skin))
    return target + outward * (skin + margin)


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def _tuple(v) -> tuple[float, float, float]:
    return tuple(float(x) for x in v)  # type: ignore[return-value]


# --- spine ------------------------------------------------------------------------------
def bilateral_transpedicular(case: Case, point_lps, device_length_mm: float, *, new_id: Callable[[], str],
                             device_id: str, radius_mm: float = DEFAULT_NEEDLE_RADIUS_MM,
                             structures: BoneStructures | None = None) -> list[Trajectory]:
    """Two transpedicular paths (left, right) into the vertebral body clicked at `point_lps`.

    Each target lies in the anterior third of the body on its side, on the line through the
    pedicle's centre at the level's convergence angle; each path is then aligned with its
    pedicle (`pedicle.aligned_entry`) and its entry put on the skin. A side whose pedicle
    is not found is left out. Pass a `ReadoutEngine.structures` to reuse its cached fields.
    """
    structures = structures or BoneStructures(case)
    mask, start, field = vertebra_at(structures, point_lps)
    anatomy = analyse_vertebra(mask, start, field)
    structure = field.name if field.name.startswith("vertebrae_") else None
    level = structure.removeprefix("vertebrae_") if structure else None
    convergence = math.radians(pedicle_convergence_deg(level))
    canal_x = float(anatomy.canal_center_lps[0])
    body_front, body_back = anatomy.body_anterior_y_mm, anatomy.canal_y_mm[0]
    target_y = body_front + TARGET_DEPTH_FRACTION * (body_back - body_front)
    paths = []
    for side, pedicle in anatomy.pedicles.items():
        sign = 1.0 if side == "left" else -1.0
        centre = pedicle.center_lps
        target_x = centre[0] - sign * math.tan(convergence) * (centre[1] - target_y)
        target_x = canal_x + sign * max(MIN_MIDLINE_OFFSET_MM, sign * (target_x - canal_x))
        target = _inside_body(field, np.array([target_x, target_y, centre[2]]), canal_x)
        outward = _unit(centre - target)
        guess_entry = entry_on_skin(case, target, outward, device_length_mm)
        entry = aligned_entry(field, pedicle, target, outward, float(np.linalg.norm(guess_entry - target)), radius_mm)
        direction = _unit(entry - target)
        entry = entry_on_skin(case, target, direction, device_length_mm)
        name = f"{level} {side}" if level else f"transpedicular {side}"
        paths.append(Trajectory(id=new_id(), name=name, kind=TrajectoryKind.TRANSPEDICULAR, side=Side(side),
                                level=level, target_structure=structure, entry_lps=_tuple(entry),
                                target_lps=_tuple(target), device=device_id))
    if not paths:
        raise ValueError("no pedicle found on this vertebra")
    return paths


def _inside_body(field, target: np.ndarray, canal_x: float) -> np.ndarray:
    """The target, moved towards the midline until it lies TARGET_DEPTH_IN_BONE_MM inside the bone
    (a divergent level angle, e.g. -10 deg at T12, can put it beside a narrow body)."""
    best, best_depth = target, float(field.sample(target[None])[0])
    offsets = np.arange(0.0, abs(target[0] - canal_x) + 0.5, 0.5)
    candidates = target + np.outer(offsets, [np.sign(canal_x - target[0]), 0.0, 0.0])
    depths = field.sample(candidates)
    deep_enough = np.flatnonzero(depths <= -TARGET_DEPTH_IN_BONE_MM)
    if len(deep_enough):
        return candidates[deep_enough[0]]
    return candidates[int(np.argmin(depths))] if depths.min() < best_depth else best


# --- femoral neck -----------------------------------------------------------------------
def _femur(structures: BoneStructures, point: np.ndarray | None):
    """(mask, box start, femur label name or None, lesion centre or None)."""
    femurs = [v for v in structures.bone_values if structures.names[v].startswith("femur")]
    if structures.has_bone_labels and not femurs and point is None:
        raise ValueError("the label map has no femur (femur_* label): click in the femoral neck lesion")
    if femurs:  # without a femur label (e.g. only vertebrae, found automatically): the CT's bone, below
        lesion_centre = None
        if point is None:
            for lesion in structures.lesion_values:
                box = structures.box(lesion)
                if box is not None:
                    kji = np.argwhere(structures.labels[box] == lesion) + [s.start for s in box]
                    lesion_centre = structures.grid.index_to_lps(kji.mean(axis=0)[::-1])
                    break
        probe = point if point is not None else lesion_centre
        value = structures.nearest_label(probe, femurs, radius_mm=40.0) if probe is not None else femurs[0]
        if value is None:
            raise ValueError("no femur within 40 mm of the point")
        mask, start = structures.structure_mask(value, margin_mm=2.0)
        return mask, start, structures.names[value], lesion_centre
    if point is None:
        raise ValueError("without a label map, click in the femoral neck lesion")
    grid = structures.grid
    corners = grid.lps_to_index(np.array([point - 90.0, point + 90.0]))
    crop = tuple(slice(max(0, int(a)), min(n, int(np.ceil(b)) + 1))
                 for a, b, n in zip(corners.min(axis=0)[::-1], corners.max(axis=0)[::-1], grid.array.shape))
    # Components first, holes after: filling before would close the hip joint's space (the
    # cup surrounds the head) and weld the femur to the acetabulum.
    bone = grid.array[crop] >= bone_hu_threshold()
    components, _ = ndimage.label(bone)
    start = tuple(s.start for s in crop)
    seed = np.clip(np.floor(grid.lps_to_index(point) + 0.5).astype(int)[::-1] - start, 0, np.asarray(bone.shape) - 1)
    kji = np.argwhere(bone)
    if len(kji) == 0:
        raise ValueError("no bone near the point")
    label = components[tuple(kji[np.argmin(np.linalg.norm((kji - seed) * grid.spacing[::-1], axis=1))])]
    in_slice = np.zeros((3, 3, 3), dtype=bool)
    in_slice[1] = ndimage.generate_binary_structure(2, 1)
    femur = ndimage.binary_fill_holes(ndimage.binary_fill_holes(components == label, structure=in_slice))
    return femur, start, None, None


def femoral_neck_axes(case: Case, mask: np.ndarray, start) -> tuple[np.ndarray, float, np.ndarray]:
    """(head centre, head radius, unit neck axis pointing to the head) of a proximal-femur mask.

    The head is the largest ball inside the top 70 mm of the bone. The neck axis is the line
    from the head's centre through the centre of the narrowest cross-section of the neck
    (the usual definition): starting from the centroid of a shell just outside the head,
    it is refined a few times by re-slicing perpendicular to the current axis.
    """
    grid = case.ct
    depth = -signed_distance_mm(mask, grid.spacing)
    kji = np.argwhere(mask)
    points = grid.index_to_lps((kji + start)[:, ::-1].astype(float))
    proximal = points[:, 2] >= points[:, 2].max() - 70.0
    best = np.flatnonzero(proximal)[np.argmax(depth[tuple(kji[proximal].T)])]
    head, radius = points[best], float(depth[tuple(kji[best])])
    relative = points[proximal] - head
    distance = np.linalg.norm(relative, axis=1)
    shell = (distance >= radius + NECK_SHELL_MM[0]) & (distance <= radius + NECK_SHELL_MM[1])
    if not shell.any():
        raise ValueError("no femoral neck found below the head")
    axis = _unit(-relative[shell].mean(axis=0))
    bin_mm = max(1.0, float(max(grid.spacing)))
    for _ in range(6):
        along = -(relative @ axis)  # mm from the head's centre towards the trochanters
        across = np.linalg.norm(relative + along[:, None] * axis, axis=1)
        near = (across < 1.3 * radius) & (along >= 0.5 * radius) & (along <= radius + 25.0)
        if not near.any():
            break
        edges = 0.5 * radius + bin_mm * np.arange(int((0.5 * radius + 25.0) / bin_mm) + 1)  # whole bins only
        area = np.histogram(along[near], bins=edges)[0]
        waist = int(np.argmin(np.where(area > 0, area, area.max() + 1)))
        section = near & (along >= edges[waist]) & (along < edges[waist + 1])
        axis = _unit(-relative[section].mean(axis=0))
    return head, radius, axis


def femoral_neck_paths(case: Case, point_lps, device_length_mm: float, *, new_id: Callable[[], str],
                       device_id: str, structures: BoneStructures | None = None) -> list[Trajectory]:
    """Two transcortical trocars into a femoral-neck lesion: along the neck axis (entry lateral,
    below the greater trochanter, tip towards the head) and through the greater trochanter.

    `point_lps` is a point in the lesion; None takes the centre of the lesion label.
    """
    structures = structures or BoneStructures(case)
    point = None if point_lps is None else np.asarray(point_lps, dtype=float)
    mask, start, femur_name, lesion_centre = _femur(structures, point)
    head, radius, neck = femoral_neck_axes(case, mask, start)
    lesion = point if point is not None else lesion_centre
    if lesion is None:
        lesion = head - neck * (radius + 10.0)
    along = min(float((lesion - head) @ neck), 0.0)  # not beyond the head's centre
    neck_tip = head + along * neck
    lateral = -neck * np.array([1.0, 1.0, 0.0])
    lateral = _unit(lateral) if np.linalg.norm(lateral) > 1e-6 else np.array([1.0, 0.0, 0.0])

    kji = np.argwhere(mask)
    points = case.ct.index_to_lps((kji + start)[:, ::-1].astype(float))
    band = (points[:, 2] >= neck_tip[2] - 15.0) & (points[:, 2] <= head[2] + 10.0)
    trochanter = points[band][np.argmax(points[band] @ lateral)]
    trochanter_tip = lesion.copy()
    if np.linalg.norm(trochanter_tip - neck_tip) < TIP_SEPARATION_MM:
        superior = _unit(np.array([0.0, 0.0, 1.0]) - neck[2] * neck)
        trochanter_tip = neck_tip + superior * TIP_SEPARATION_MM

    side = Side.LEFT if femur_name and femur_name.endswith("left") else (
        Side.RIGHT if femur_name and femur_name.endswith("right") else None)
    target_structure = "lesion" if structures.lesion_values else femur_name
    paths = []
    for name, tip, outward in (("neck axis", neck_tip, -neck),
                               ("greater trochanter", trochanter_tip, _unit(trochanter - trochanter_tip))):
        entry = entry_on_skin(case, tip, outward, device_length_mm)
        paths.append(Trajectory(id=new_id(), name=name, kind=TrajectoryKind.TRANSCORTICAL, side=side,
                                target_structure=target_structure, entry_lps=_tuple(entry), target_lps=_tuple(tip),
                                device=device_id))
    return paths
