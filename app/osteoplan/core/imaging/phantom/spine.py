"""The spine demo case: L1-L3 (with the ends of T12 and L4) in an adult lumbar abdomen,
and a lytic metastasis in the L2 body that breaks its posterior wall.
"""

from __future__ import annotations

import numpy as np

from . import vertebra as V
from .canvas import Canvas, Grid, cortical_bone, finish_ct, outline_depth, smooth_noise
from .shapes import F, Box, Capsule, Lobulated, Loft, ellipsoid, tube, unit

SEED = 20240611
FOV_LO = (-160.0, -135.0, -64.0)
FOV_HI = (160.0, 105.0, 64.0)
OUTLINE = dict(center=(0.0, -12.0), half_x=148.0, half_y_front=113.0, half_y_back=107.0)

HU = dict(air=-1000.0, fat=-100.0, subcut_fat=-108.0, skin=25.0, muscle=52.0, blood=40.0, csf=8.0,
          cord=35.0, nerve=35.0, epidural_fat=-80.0, ligament=45.0, annulus=95.0, nucleus=72.0,
          cortex=1280.0, trabecular=200.0, lesion=28.0, kidney=32.0, sinus_fat=-70.0, liver=58.0,
          bowel_wall=45.0, bowel_fluid=15.0)

ROOT_LEVELS = ("T12", "L1", "L2", "L3")
LABELS: dict[int, str] = {}
for _name in ([f"vertebrae_{lv}" for lv in V.LEVELS]
              + [f"intervertebral_disc_{a}_{b}" for a, b in zip(V.LEVELS[:-1], V.LEVELS[1:])]
              + ["spinal_canal", "spinal_cord"]
              + [f"nerve_root_{lv}_{side}" for lv in ROOT_LEVELS for side in V.SIDES]
              + ["aorta", "inferior_vena_cava", "iliopsoas_left", "iliopsoas_right", "autochthon_left",
                 "autochthon_right", "kidney_left", "kidney_right", "liver", "colon", "small_bowel",
                 "subcutaneous_fat", "skin", "lesion"]):
    LABELS[len(LABELS) + 1] = _name
LABEL = {name: value for value, name in LABELS.items()}

LESION_CENTER = (-2.0, 9.0, -1.0)
LESION_HALF = (8.5, 7.5, 9.0)
AORTA_XY = (12.0, -29.0)
AORTA_RADIUS = 11.0
AORTA_Z, AORTA_X = (-70.0, 36.0, 70.0), (15.0, 12.0, 11.5)  # drifting slightly left as it descends
IVC_XY = (-22.0, -27.0)
IVC_HALF = (13.0, 8.5)
THECAL_SAC = dict(cy=22.0, ax=8.5, ay=6.5)


def landmarks() -> dict[str, tuple[float, float, float]]:
    out: dict[str, tuple[float, float, float]] = {}
    axes = V.pedicle_axes()
    for level in ("L1", "L2", "L3"):
        out[f"{level}_body_center"] = tuple(float(v) for v in V.body_center(level))
        for side in V.SIDES:
            ax = axes[f"{level}_{side}"]
            out[f"{level}_pedicle_{side}_center"] = ax.center
            out[f"{level}_pedicle_{side}_axis_entry"] = ax.entry
        out[f"canal_center_{level}"] = (0.0, V.CANAL_CENTER_Y, V.LEVEL_Z[level])
        out[f"{level}_spinous_process_tip"] = tuple(float(v) for v in V.spinous_tip(level))
    for upper, lower in (("L1", "L2"), ("L2", "L3")):
        out[f"disc_{upper}_{lower}_center"] = tuple(float(v) for v in V.disc_shape(upper, lower).center)
    out["lesion_center"] = LESION_CENTER
    z2 = V.LEVEL_Z["L2"]
    out["aorta_center_L2"] = (float(np.interp(z2, AORTA_Z, AORTA_X)), AORTA_XY[1], z2)
    out["ivc_center_L2"] = (IVC_XY[0], IVC_XY[1], V.LEVEL_Z["L2"])
    return out


def _body_wall(canvas: Canvas) -> None:
    """Skin, subcutaneous fat and the abdominal wall muscles (constant along z)."""
    g = canvas.grid
    x = g.axis(0, 0, g.shape[2])[None, :]
    y = g.axis(1, 0, g.shape[1])[:, None]
    depth = _depth(x, y)
    fat_t, wall_t = _wall_thickness(x, y)
    # rectus abdominis in front (a linea alba between), three thin layers with fat planes
    # at the flanks (external oblique, internal oblique, transversus)
    t = (depth - fat_t) / np.maximum(wall_t, 1e-3)
    rectus = (np.abs(x) < 75.0) & (y < -40.0)
    layered = ((t < 0.3) | ((t >= 0.42) & (t < 0.72)) | (t >= 0.83)) & ~rectus
    wall = (depth >= fat_t) & (depth < fat_t + wall_t) & (rectus | layered)
    canvas.hu[:, (depth >= fat_t) & (depth < fat_t + wall_t)] = HU["fat"]
    canvas.hu[:, wall] = HU["muscle"]
    canvas.labels[:, (depth >= fat_t) & (depth < fat_t + wall_t)] = 0
    fat = (depth >= 2.0) & (depth < fat_t)
    canvas.hu[:, fat] = HU["subcut_fat"]
    canvas.labels[:, fat] = LABEL["subcutaneous_fat"]
    skin = (depth >= 0.0) & (depth < 2.0)
    canvas.hu[:, skin] = HU["skin"]
    canvas.labels[:, skin] = LABEL["skin"]
    outside = depth < 0.0
    canvas.hu[:, outside] = HU["air"]
    canvas.labels[:, outside] = 0


def _wall_thickness(x, y):
    """(subcutaneous fat, abdominal-wall muscle) thickness in mm around the outline."""
    fat_t = 14.0 + 9.0 * np.clip((OUTLINE["center"][1] - y) / 100.0, 0.0, 1.0) + 3.0 * np.abs(x) / 150.0
    wall_t = 12.0 * np.clip((40.0 - y) / 25.0, 0.0, 1.0) * np.where(np.abs(x) < 5.0, 0.25, 1.0)
    return fat_t, wall_t


def _depth(x, y):
    return outline_depth(x, y, OUTLINE["center"], OUTLINE["half_x"], OUTLINE["half_y_front"],
                         OUTLINE["half_y_back"])


def _peritoneal_depth(x, y):
    """Depth below the inner surface of the abdominal wall (mm, > 0 inside the cavity)."""
    fat_t, wall_t = _wall_thickness(x, y)
    return _depth(x, y) - fat_t - wall_t


def _bowel(canvas: Canvas, rng: np.random.Generator) -> None:
    """Colon frame with stool and gas, small-bowel loops in front, gas rising anteriorly."""

    def stool(sl, mask, win):
        n = smooth_noise(canvas.rng, mask.shape, 1.5 / canvas.grid.spacing)
        return np.where(n > 1.6, HU["air"], -30.0 + 45.0 * n).astype(F)

    colon = [  # (polyline, gas level y: gas in front of it)
        ([(-100, -28, -80), (-102, -34, 0), (-92, -60, 28)], -44.0),
        ([(-92, -60, 28), (-40, -92, 36), (30, -94, 38), (85, -70, 42)], -82.0),
        ([(85, -70, 42), (100, -30, 20), (98, -22, -80)], -36.0),
    ]
    for points, gas_y in colon:
        canvas.paint(tube(points, 17.0), LABEL["colon"], HU["bowel_wall"])
        inner = tube(points, 15.0)
        canvas.paint(inner, LABEL["colon"], stool)
        canvas.paint(inner & Box((-200, -200, -200), (200, gas_y, 200)), LABEL["colon"], HU["air"])
    placed = 0
    while placed < 40:
        c = np.array([rng.uniform(-95, 95), rng.uniform(-100, -45), rng.uniform(-62, 62)])
        d = unit(rng.standard_normal(3) * (1.0, 0.6, 1.0))
        length, r = rng.uniform(25, 55), rng.uniform(10, 14)
        p0, p1 = c - d * length / 2, c + d * length / 2
        ends = np.array([p0, p1, c])
        room = _peritoneal_depth(ends[:, 0], ends[:, 1])
        if np.any(room < r + 2.0) or np.any(np.abs(ends[:, 0]) > 75) and np.any(ends[:, 1] > -40):
            continue  # keep loops inside the peritoneal cavity, off the colon gutters
        placed += 1
        canvas.paint(Capsule(p0, p1, r, r), LABEL["small_bowel"], HU["bowel_wall"])
        inner = Capsule(p0, p1, r - 2.2, r - 2.2)
        canvas.paint(inner, LABEL["small_bowel"], HU["bowel_fluid"], texture=6.0)
        if rng.uniform() < 0.4:
            gas_y = min(p0[1], p1[1]) - r + rng.uniform(4, 8)
            canvas.paint(inner & Box((-200, -200, -200), (200, gas_y, 200)), LABEL["small_bowel"], HU["air"])


def _organs_and_muscles(canvas: Canvas) -> None:
    canvas.paint(ellipsoid((-80, -35, 75), (65, 60, 60)), LABEL["liver"], HU["liver"], texture=4.0, texture_mm=3)
    for side, s, cz in (("left", 1.0, 18.0), ("right", -1.0, 2.0)):
        major = unit((s * 0.77, -0.64, 0.0))
        minor = unit((-s * 0.64, -0.77, 0.0))  # towards the hilum, antero-medially
        center = np.array([s * 70.0, 8.0, cz])
        canvas.paint(ellipsoid(center, (20, 13, 45), (major, minor, (0, 0, 1))), LABEL[f"kidney_{side}"],
                     HU["kidney"])
        canvas.paint(ellipsoid(center + 9.0 * minor, (8, 5, 17), (major, minor, (0, 0, 1))), None, HU["sinus_fat"])
        # quadratus lumborum (unlabelled muscle) behind the kidney, lateral to the TP tips
        canvas.paint(Loft([-64, 64], s * 55.0, 31.0, [14.0, 10.0], [10.0, 8.0]), 0, HU["muscle"])
        # psoas: small at L1, large at L3, moving laterally and forwards as it descends
        z = np.array([70.0, 36.0, 0.0, -36.0, -70.0])
        ax = np.array([6.0, 9.0, 12.5, 16.0, 19.0])
        ay = np.array([7.0, 10.0, 13.0, 16.0, 18.0])
        cx = s * (np.interp(z, list(V.LEVEL_Z.values())[::-1], list(V.BODY_HALF_WIDTH_MM.values())[::-1]) + ax - 2.5)
        cy = np.array([12.0, 9.0, 5.0, 1.0, -3.0])
        canvas.paint(Loft(z[::-1], cx[::-1], cy[::-1], ax[::-1], ay[::-1]), LABEL[f"iliopsoas_{side}"],
                     HU["muscle"], texture=3.0, texture_mm=2.0)
        # erector spinae + multifidus behind the laminae and transverse processes
        canvas.paint(Loft([-64, 64], s * 32.0, 55.0, [29.0, 27.0], [20.0, 19.0], p=2.5) - Box(
            (-2.5, -200, -200), (2.5, 200, 200)), LABEL[f"autochthon_{side}"], HU["muscle"], texture=3.0,
            texture_mm=2.0)
    # interspinous / supraspinous ligaments between the spinous processes
    canvas.paint(Box((-2.5, 36.0, -70), (2.5, 76.0, 70)), 0, HU["ligament"])


def _vessels(canvas: Canvas) -> None:
    ax, ay = AORTA_XY
    canvas.paint(Loft(AORTA_Z, AORTA_X, ay, AORTA_RADIUS, AORTA_RADIUS), LABEL["aorta"],
                 HU["blood"])
    canvas.paint(Loft([-70, 70], IVC_XY[0], IVC_XY[1], IVC_HALF[0], IVC_HALF[1]), LABEL["inferior_vena_cava"],
                 HU["blood"])


def _nerve_roots(canvas: Canvas) -> None:
    for level in ROOT_LEVELS:
        zc = V.LEVEL_Z[level]
        for side, s in V.SIDES.items():
            pts = [(s * 7, 24, zc - 2), (s * 13, 21, zc - 9), (s * 21, 15, zc - 13), (s * 30, 8, zc - 22),
                   (s * 40, 0, zc - 34), (s * 48, -6, zc - 48)]
            canvas.paint(tube(pts, [2.2, 2.2, 2.2, 2.0, 1.9, 1.8]), LABEL[f"nerve_root_{level}_{side}"], HU["nerve"])


def _discs(canvas: Canvas) -> None:
    for upper, lower in zip(V.LEVELS[:-1], V.LEVELS[1:]):
        disc = V.disc_shape(upper, lower)
        nucleus = V.VertebralBody(disc.center + (0, 1.0, 0), disc.a * 0.55, disc.b * 0.5, disc.h - 1.0,
                                  concavity=0.0, waist=0.0, endplate_dip=0.0, p=2.0, flat=6.0)
        canvas.paint(disc, LABEL[f"intervertebral_disc_{upper}_{lower}"], HU["annulus"], texture=5.0)
        canvas.paint(nucleus, None, HU["nucleus"], texture=5.0)


def _canal(canvas: Canvas) -> None:
    canvas.paint(V.canal_shape(), LABEL["spinal_canal"], HU["epidural_fat"])
    sac = Loft([-200, 200], 0.0, THECAL_SAC["cy"], THECAL_SAC["ax"], THECAL_SAC["ay"])
    canvas.paint(sac, LABEL["spinal_canal"], HU["csf"], texture=3.0)
    # conus medullaris ending at L1-L2, then the cauda equina as two dorsal bundles
    canvas.paint(tube([(0, 21.8, 70), (0, 21.8, 42), (0, 22.2, 28), (0, 22.5, 18)], [4.6, 4.4, 3.0, 0.8]),
                 LABEL["spinal_cord"], HU["cord"])
    for s in (1.0, -1.0):
        canvas.paint(Capsule((s * 2.2, 24.0, 40), (s * 3.6, 25.6, -90), 1.6, 2.3), LABEL["spinal_cord"], HU["cord"])


def _lesion_shape(rng: np.random.Generator):
    # Confined to the L2 body (grown 1 mm so it replaces the whole posterior cortex there).
    return Lobulated(LESION_CENTER, LESION_HALF, rng, lobes=5, amplitude=0.12) & V.body_shape("L2", inflate=1.0)


def build_spine(spacing_mm: float) -> tuple[np.ndarray, np.ndarray, Grid]:
    rng = np.random.default_rng(SEED)
    grid = Grid.covering(FOV_LO, FOV_HI, spacing_mm)
    canvas = Canvas(grid, rng, background_hu=HU["fat"])
    _bowel(canvas, rng)
    _organs_and_muscles(canvas)
    _vessels(canvas)
    _body_wall(canvas)
    _nerve_roots(canvas)
    _discs(canvas)
    for level in V.LEVELS:
        cortical_bone(canvas, V.Vertebra(level).shape(), LABEL[f"vertebrae_{level}"], 1.3, HU["cortex"],
                      HU["trabecular"], cortex_texture=70.0, inner_texture=45.0)
    _canal(canvas)
    canvas.paint(_lesion_shape(rng), LABEL["lesion"], HU["lesion"], texture=6.0, texture_mm=1.5)
    ct = finish_ct(canvas)
    return ct, canvas.labels, grid
