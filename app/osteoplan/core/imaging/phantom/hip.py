"""The hip demo case: a left proximal femur in its acetabulum with a lytic femoral-neck lesion.

Geometry (LPS mm): the femoral head centre is HEAD_CENTER; the shaft axis runs down and
slightly medially (7 deg anatomical valgus); the neck makes NECK_SHAFT_ANGLE_DEG with the
shaft and points ANTEVERSION_DEG forwards.
"""

from __future__ import annotations

import math

import numpy as np

from .canvas import Canvas, Grid, cortical_bone, finish_ct, outline_depth
from .shapes import F, AxisTube, Lobulated, Loft, Shape, SuperEllipsoid, Union, ellipsoid, sphere, tube, unit

SEED = 20240612
FOV_LO = (35.0, -95.0, -170.0)
FOV_HI = (215.0, 125.0, 60.0)

HEAD_CENTER = np.array([95.0, 0.0, 0.0])
HEAD_RADIUS_MM = 24.0
JOINT_SPACE_MM = 3.5
NECK_SHAFT_ANGLE_DEG = 127.0
ANTEVERSION_DEG = 12.0
SHAFT_VALGUS_DEG = 7.0
NECK_LENGTH_MM = 55.0  # head centre to the shaft axis, along the neck axis

_v = math.radians(SHAFT_VALGUS_DEG)
SHAFT_AXIS_DIRECTION = np.array([-math.sin(_v), 0.0, -math.cos(_v)])  # proximal -> distal
_UP = -SHAFT_AXIS_DIRECTION
_LATERAL = np.array([math.cos(_v), 0.0, -math.sin(_v)])
_MEDIAL = -_LATERAL
_ANTERIOR = np.array([0.0, -1.0, 0.0])
_POSTERIOR = -_ANTERIOR
_a, _t = math.radians(180.0 - NECK_SHAFT_ANGLE_DEG), math.radians(ANTEVERSION_DEG)
NECK_AXIS_DIRECTION = unit(math.cos(_a) * _UP + math.sin(_a) * (math.cos(_t) * _MEDIAL + math.sin(_t) * _ANTERIOR))
NECK_BASE = HEAD_CENTER - NECK_LENGTH_MM * NECK_AXIS_DIRECTION  # where the neck axis meets the shaft axis
_NECK_SUP = unit(np.array([0.0, 0.0, 1.0]) - NECK_AXIS_DIRECTION[2] * NECK_AXIS_DIRECTION)
_ACETABULUM_OPENING = unit((math.cos(math.radians(45)) * math.cos(math.radians(18)),
                            -math.cos(math.radians(45)) * math.sin(math.radians(18)), -math.sin(math.radians(45))))
for _array in (HEAD_CENTER, SHAFT_AXIS_DIRECTION, NECK_AXIS_DIRECTION, NECK_BASE):
    _array.flags.writeable = False
LESION_CENTER = HEAD_CENTER - 30.0 * NECK_AXIS_DIRECTION - 2.0 * _NECK_SUP
LESION_HALF = (10.5, 10.0, 10.5)
GT_CENTER = NECK_BASE + 24.0 * _LATERAL + 18.0 * _UP + 6.0 * _POSTERIOR
LT_CENTER = NECK_BASE + 42.0 * SHAFT_AXIS_DIRECTION + 13.0 * _MEDIAL + 10.0 * _POSTERIOR
SCIATIC_PATH = [(80, 62, 65), (98, 52, 10), (112, 45, -30), (118, 45, -90), (121, 44, -180)]
ARTERY_PATH = [(80, -48, 65), (83, -45, 0), (88, -40, -60), (100, -25, -180)]
VEIN_PATH = [(67, -44, 65), (71, -41, 0), (79, -34, -60), (96, -13, -180)]
NERVE_PATH = [(93, -50, 65), (95, -47, 0), (99, -42, -40)]

HU = dict(air=-1000.0, fat=-100.0, subcut_fat=-105.0, skin=25.0, muscle=52.0, blood=40.0, nerve=32.0,
          cartilage=70.0, cortex=1450.0, pelvis_cortex=1200.0, pelvis_trabecular=220.0, lesion=28.0)

LABELS: dict[int, str] = dict(enumerate(
    ["femur_left", "hip_left", "lesion", "femoral_artery_left", "femoral_vein_left", "femoral_nerve_left",
     "sciatic_nerve_left", "gluteus_maximus_left", "gluteus_medius_left", "gluteus_minimus_left", "iliopsoas_left",
     "quadriceps_femoris_left", "sartorius_left", "thigh_medial_compartment_left",
     "thigh_posterior_compartment_left", "subcutaneous_fat", "skin"], start=1))
LABEL = {name: value for value, name in LABELS.items()}


def femur_shape(inflate: float = 0.0) -> Shape:
    head = sphere(HEAD_CENTER, HEAD_RADIUS_MM + inflate)
    neck = AxisTube(HEAD_CENTER, -NECK_AXIS_DIRECTION, NECK_LENGTH_MM, _NECK_SUP, [0, 12, 25, 38, 55],
                    np.array([19.0, 17.0, 15.5, 18.0, 26.0]) + inflate,  # superior-inferior
                    np.array([17.0, 14.5, 13.5, 15.5, 21.0]) + inflate)  # antero-posterior
    shaft = AxisTube(NECK_BASE + 30.0 * _UP, SHAFT_AXIS_DIRECTION, 260.0, _LATERAL, [0, 30, 55, 80, 110, 260],
                     np.array([23.0, 24.0, 19.0, 15.0, 14.0, 13.5]) + inflate,
                     np.array([19.0, 21.0, 17.0, 14.5, 14.0, 13.5]) + inflate, cap=8.0)
    gt = SuperEllipsoid(GT_CENTER, np.array([12.0, 17.0, 20.0]) + inflate, (_LATERAL, _POSTERIOR, _UP), p=2.5, q=2.5)
    lt = ellipsoid(LT_CENTER, np.array([9.0, 8.0, 12.0]) + inflate, (_MEDIAL, _POSTERIOR, _UP))
    crest = tube([GT_CENTER + 8.0 * _POSTERIOR, LT_CENTER], [7.0 + inflate, 6.0 + inflate])
    return Union([head, neck, shaft, gt, lt, crest])


def pelvis_shape() -> Shape:
    h = HEAD_CENTER
    cup = ellipsoid(h + (-4.0, 2.0, 4.0), (38.0, 40.0, 40.0)) & _HalfSpace(h, _ACETABULUM_OPENING, 2.0)
    ilium = AxisTube(h + (2.0, 10.0, 8.0), (0.25, 0.0, 1.0), 70.0, (-0.30, 0.95, 0.0), [0, 30, 70],
                     [42.0, 48.0, 55.0], [19.0, 12.0, 7.0], p=2.5)
    ischium = tube([h + (-7, 28, -20), h + (-15, 38, -55), h + (-23, 40, -72)], [15.0, 12.0, 14.0])
    pubis = tube([h + (-15, -22, -8), h + (-40, -38, -15), h + (-70, -50, -20)], [11.0, 9.0, 9.0])
    ramus = tube([h + (-23, 40, -72), h + (-45, 10, -77), h + (-60, -30, -62), h + (-70, -45, -30)], 7.0)
    return Union([cup, ilium, ischium, pubis, ramus]) - sphere(h, HEAD_RADIUS_MM + JOINT_SPACE_MM)


class _HalfSpace(Shape):
    """Points p with (p - origin) . normal <= offset (bounded only by its partner in an intersection)."""

    def __init__(self, origin, normal, offset):
        self.origin, self.normal, self.offset = np.asarray(origin, float), unit(normal), float(offset)
        self.lo, self.hi = np.full(3, -1e4), np.full(3, 1e4)

    def inside(self, x, y, z):
        o, n = self.origin, self.normal
        return ((x - float(o[0])) * float(n[0]) + (y - float(o[1])) * float(n[1])
                + (z - float(o[2])) * float(n[2])) <= self.offset


def _outline(z):
    """Body outline parameters at height z: the pelvis above, the thigh below, blended in between."""
    w = float(np.clip((-40.0 - z) / 50.0, 0.0, 1.0))
    pelvis = np.array([0.0, 15.0, 205.0, 92.0, 110.0])
    thigh = np.array([120.0, 14.0, 86.0, 82.0, 88.0])
    return (1 - w) * pelvis + w * thigh


def _body_wall(canvas: Canvas) -> None:
    g = canvas.grid
    x = g.axis(0, 0, g.shape[2])[None, :]
    y = g.axis(1, 0, g.shape[1])[:, None]
    zs = g.axis(2, 0, g.shape[0])
    for k, z in enumerate(zs):
        cx, cy, hx, hf, hb = _outline(float(z))
        depth = outline_depth(x, y, (cx, cy), hx, hf, hb, p=2.2)
        fat_t = 16.0 + 10.0 * np.clip((y - 40.0) / 60.0, 0.0, 1.0)  # thicker over the buttock
        hu, lab = canvas.hu[k], canvas.labels[k]
        fat = (depth >= 2.0) & (depth < fat_t)
        hu[fat], lab[fat] = HU["subcut_fat"], LABEL["subcutaneous_fat"]
        skin = (depth >= 0.0) & (depth < 2.0)
        hu[skin], lab[skin] = HU["skin"], LABEL["skin"]
        out = depth < 0.0
        hu[out], lab[out] = HU["air"], 0


def _shaft_x(z: float) -> float:
    t = (NECK_BASE[2] - z) / math.cos(_v)
    return float(NECK_BASE[0] + t * SHAFT_AXIS_DIRECTION[0])


def _muscles(canvas: Canvas) -> None:
    m = HU["muscle"]
    kw = dict(texture=3.0, texture_mm=2.0)
    zt = [-180.0, -120.0, -60.0, -30.0]
    sx = [_shaft_x(z) for z in zt]
    # thigh compartments round the shaft (the femur is painted over them)
    zq, sq = zt + [-5.0], sx + [_shaft_x(-5.0)]
    canvas.paint(Loft(zq, [x + d for x, d in zip(sq, (6, 6, 8, 12, 24))], [-8, -8, -5, -2, 8],
                      [50, 50, 45, 40, 18], [42, 42, 38, 32, 24]), LABEL["quadriceps_femoris_left"], m, **kw)
    canvas.paint(Loft(zt[:3] + [-40.0], [x - 50 for x in sx[:3]] + [70.0], [8, 8, 5, 0], [32, 34, 30, 22],
                      [42, 42, 38, 30]), LABEL["thigh_medial_compartment_left"], m, **kw)
    canvas.paint(Loft(zt[:3] + [-50.0], sx[:3] + [sx[2]], [58, 58, 56, 56], [36, 36, 30, 22], [26, 26, 22, 14]),
                 LABEL["thigh_posterior_compartment_left"], m, **kw)
    # gluteal muscles, iliopsoas, short rotators (unlabelled)
    canvas.paint(Loft([-110, -60, -20, 0, 40, 60], [150, 142, 132, 118, 92, 88], [42, 56, 70, 80, 88, 88],
                      [12, 34, 60, 64, 56, 54], [9, 20, 27, 29, 27, 26], angle_deg=[-30, -32, -35, -25, -18, -18]),
                 LABEL["gluteus_maximus_left"], m, **kw)
    canvas.paint(Loft([-8, 0, 40, 60], [166, 162, 148, 146], [12, 14, 22, 22], [8, 14, 22, 24], [14, 24, 40, 42],
                      angle_deg=[-10, -10, -18, -18]), LABEL["gluteus_medius_left"], m, **kw)
    canvas.paint(Loft([-4, 10, 40, 60], [158, 146, 132, 128], [10, 12, 14, 14], [6, 9, 10, 10], [12, 22, 30, 32],
                      angle_deg=[-15, -15, -18, -18]), LABEL["gluteus_minimus_left"], m, **kw)
    canvas.paint(Loft([-85, -50, 0, 30, 60], [112, 108, 92, 84, 80], [12, -18, -36, -32, -22],
                      [8, 15, 20, 21, 22], [8, 12, 12, 15, 18]), LABEL["iliopsoas_left"], m, **kw)
    canvas.paint(ellipsoid((50.0, 10.0, -15.0), (9.0, 32.0, 40.0)), 0, m)  # obturator internus
    canvas.paint(ellipsoid((108.0, 33.0, -52.0), (26.0, 10.0, 11.0)), 0, m)  # quadratus femoris
    canvas.paint(tube([(150, -50, 40), (160, -38, -10), (165, -25, -60)], [10.0, 13.0, 8.0]), 0, m)  # TFL
    canvas.paint(ellipsoid((100.0, 2.0, -40.0), (24.0, 12.0, 10.0)), 0, m)  # obturator externus
    canvas.paint(tube([(140, -62, 60), (120, -62, 0), (95, -55, -90), (80, -40, -180)], [7.0, 9.0, 10.0, 10.0]),
                 LABEL["sartorius_left"], m, **kw)


def _vessels_nerves(canvas: Canvas) -> None:
    canvas.paint(tube(ARTERY_PATH, 4.5), LABEL["femoral_artery_left"], HU["blood"])
    canvas.paint(tube(VEIN_PATH, [6.5, 6.5, 6.0, 5.5]), LABEL["femoral_vein_left"], HU["blood"])
    canvas.paint(tube(NERVE_PATH, 2.5), LABEL["femoral_nerve_left"], HU["nerve"])
    canvas.paint(tube(SCIATIC_PATH, [5.0, 4.7, 4.5, 4.3, 4.0]), LABEL["sciatic_nerve_left"], HU["nerve"])


def _femur_cortex_mm(x, y, z):
    t = ((x - float(NECK_BASE[0])) * float(SHAFT_AXIS_DIRECTION[0])
         + (z - float(NECK_BASE[2])) * float(SHAFT_AXIS_DIRECTION[2]))
    return np.interp(t, [-200, 25, 55, 85], [1.6, 1.8, 4.5, 5.5]).astype(F)


def _femur_inner_hu(x, y, z):
    t = ((x - float(NECK_BASE[0])) * float(SHAFT_AXIS_DIRECTION[0])
         + (z - float(NECK_BASE[2])) * float(SHAFT_AXIS_DIRECTION[2]))
    return np.interp(t, [-200, -45, -10, 25, 50, 75], [280, 270, 220, 170, 110, -40]).astype(F)


def landmarks() -> dict[str, tuple[float, float, float]]:
    femur = femur_shape()
    ray = np.arange(0.0, 60.0, 0.02)
    pts = (GT_CENTER[None, :] + ray[:, None] * _LATERAL[None, :]).astype(F)
    inside = femur.inside(pts[:, 0], pts[:, 1], pts[:, 2])
    last = int(np.nonzero(~inside)[0][0]) - 1
    out = {
        "femoral_head_center": HEAD_CENTER,
        "neck_axis_point": HEAD_CENTER - 0.5 * NECK_LENGTH_MM * NECK_AXIS_DIRECTION,
        "neck_base_point": NECK_BASE,
        "greater_trochanter_lateral_point": GT_CENTER + ray[last] * _LATERAL,
        "lesser_trochanter_point": LT_CENTER,
        "lesion_center": LESION_CENTER,
        "shaft_axis_point": NECK_BASE + 100.0 * SHAFT_AXIS_DIRECTION,
        "shaft_axis_distal_point": NECK_BASE + 120.0 * SHAFT_AXIS_DIRECTION,
        "acetabular_roof_point": HEAD_CENTER + (0.0, 0.0, HEAD_RADIUS_MM + JOINT_SPACE_MM + 3.0),
        "sciatic_nerve_point": np.array(SCIATIC_PATH[2], dtype=float),
        "femoral_artery_point": np.array(ARTERY_PATH[1], dtype=float),
        "femoral_vein_point": np.array(VEIN_PATH[1], dtype=float),
    }
    return {k: tuple(float(c) for c in v) for k, v in out.items()}


def build_hip(spacing_mm: float) -> tuple[np.ndarray, np.ndarray, Grid]:
    rng = np.random.default_rng(SEED)
    grid = Grid.covering(FOV_LO, FOV_HI, spacing_mm)
    canvas = Canvas(grid, rng, background_hu=HU["fat"])
    _muscles(canvas)
    _vessels_nerves(canvas)
    _body_wall(canvas)
    joint = (sphere(HEAD_CENTER, HEAD_RADIUS_MM + JOINT_SPACE_MM)
             & _HalfSpace(HEAD_CENTER, _ACETABULUM_OPENING, 6.0))
    canvas.paint(joint, 0, HU["cartilage"])
    cortical_bone(canvas, pelvis_shape(), LABEL["hip_left"], 1.6, HU["pelvis_cortex"], HU["pelvis_trabecular"],
                  cortex_texture=70.0, inner_texture=45.0)
    cortical_bone(canvas, femur_shape(), LABEL["femur_left"], _femur_cortex_mm, HU["cortex"], _femur_inner_hu,
                  cortex_texture=80.0, inner_texture=45.0)
    lesion = Lobulated(LESION_CENTER, LESION_HALF, rng, lobes=5, amplitude=0.12) & femur_shape(inflate=0.5)
    canvas.paint(lesion, LABEL["lesion"], HU["lesion"], texture=6.0, texture_mm=1.5)
    return finish_ct(canvas), canvas.labels, grid
