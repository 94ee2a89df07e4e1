"""Cement on a plan session: the cropped field from the CT and structures, the cached solution
(several injections: each front solved alone, then again against the others' planned cement, see
`core.cement.CementSolution`), the warnings (`stop` at a canal/foramen gateway, `warn` at a venous,
basivertebral or disc gateway, `warn` when an injection finds no room for its volume) and the
`osteoplan simulate cement --json` report."""

from __future__ import annotations

import fnmatch

import numpy as np

from osteoplan.core.cement.gateways import BASIVERTEBRAL, BASIVERTEBRAL_INTO, wall_strip
from osteoplan.core.cement.models import model_of_injections
from osteoplan.core.cement.spread import (BONE, CANAL, DISC, FORAMEN, LESION, SOFT, VEIN, CementError, CementSolution,
                                   Field3, SpreadGraph, _segment_distance, arrival_times, cement_model)
from osteoplan.core.cement.steps import SteppedCementSolution, is_stepwise
from osteoplan.core.safety.warnings import SafetyWarning, Severity

_DEST = ((("spinal_canal*", "spinal_cord*", "conus*", "cauda_equina*"), CANAL), (("nerve_root*",), FORAMEN),
         (("aorta", "*vena*", "*vein*", "iliac_*", "*arter*"), VEIN), (("intervertebral_disc*",), DISC))
MAX_HALF_MM = 60.0  # the largest simulated box: this far around the tips


def _region_of(name: str, category: str) -> int | None:
    low = name.lower()
    for patterns, code in _DEST:
        if any(fnmatch.fnmatch(low, p) for p in patterns):
            return code
    if category == "lesion":
        return LESION
    if category == "bone":
        return BONE
    if category == "vascular":
        return VEIN
    return None


def _sources(session, injections):
    out = []
    for injection in injections:
        if injection.trocar not in session.plan:
            raise CementError(f"injection {injection.id!r}: no trocar (trajectory) {injection.trocar!r} in the plan")
        t = session.plan.trajectory(injection.trocar)
        spindles = tuple((s.start_lps(t), s.tip_lps(t), session.catalog.get(s.device).outer_diameter_mm / 2)
                         for s in t.spindles)
        out.append((injection, t.target, t.entry, session.catalog.get(t.device).outer_diameter_mm / 2, spindles))
    return out


def build_field(session, sources, half_mm: float, model=None) -> Field3:
    ct, model = session.case.ct, model or cement_model()
    tips = np.array([s[1] for s in sources])
    lo = np.floor(np.minimum(ct.lps_to_index(tips.min(0) - half_mm), ct.lps_to_index(tips.max(0) + half_mm)))
    hi = np.ceil(np.maximum(ct.lps_to_index(tips.min(0) - half_mm), ct.lps_to_index(tips.max(0) + half_mm)))
    size = np.asarray(ct.size)
    lo_i = np.clip(lo.astype(int), 0, size - 1)
    hi_i = np.clip(hi.astype(int) + 1, 1, size)
    box = tuple(slice(int(lo_i[a]), int(hi_i[a])) for a in (2, 1, 0))  # [k, j, i]
    hu = ct.array[box].astype(np.float32)
    shape = hu.shape
    region = np.full(shape, SOFT, dtype=np.int8)
    phi = np.ones(shape, dtype=np.float32)
    bone_like = np.zeros(shape, dtype=bool)
    lesion = np.zeros(shape, dtype=bool)
    names = {}
    for structure in session.structures:
        code = _region_of(structure.name, structure.category)
        if code is None:
            continue
        sub = tuple(slice(max(b.start, s), min(b.stop, s + n)) for b, s, n in
                    zip(box, structure.start_kji, structure.box_mask.shape))
        if any(s.start >= s.stop for s in sub):
            continue
        m = structure.box_mask[tuple(slice(s.start - st, s.stop - st) for s, st in zip(sub, structure.start_kji))]
        local = tuple(slice(s.start - b.start, s.stop - b.start) for s, b in zip(sub, box))
        if code == BONE:
            bone_like[local] |= m
            names.setdefault(structure.name, (local, m))
        elif code == LESION:
            lesion[local] |= m
        else:
            region[local][m] = code
    region[bone_like] = BONE
    region[lesion] = LESION
    k = np.empty(shape, dtype=np.float64)
    for code, key in ((CANAL, "epidural canal"), (FORAMEN, "foramen"), (VEIN, "vein"), (DISC, "disc"),
                      (SOFT, "soft tissue")):
        sel = region == code
        k[sel], phi[sel] = model.outside[key].k_m2, model.outside[key].fill_fraction
    inside = bone_like | lesion
    phi_bone = model.porosity(hu)
    phi_bone[lesion] = model.lytic_porosity
    k_bone = model.permeability(phi_bone)
    cortical = (hu >= model.cortical.hu_min) & ~lesion
    k_bone[cortical] = model.cortical.k_m2
    k[inside], phi[inside] = k_bone[inside], phi_bone[inside]
    kk, jj, ii = np.meshgrid(*(np.arange(s.start, s.stop) for s in box), indexing="ij")
    points = ct.index_to_lps(np.stack([ii, jj, kk], axis=-1).astype(float))
    solid = np.zeros(shape, dtype=bool)
    track = np.zeros(shape, dtype=bool)
    spacing = float(max(ct.spacing))
    for _, tip, entry, radius, spindles in sources:
        axis = tip - entry
        back = tip - axis / np.linalg.norm(axis) * (radius + 0.75 * spacing)  # the open tip stays open
        d, _ = _segment_distance(points, entry, back)
        solid |= d <= max(radius, 0.5 * spacing)
        track |= d <= max(radius, 0.5 * spacing) + spacing
        # the cement leaves the open tip of the trocar: the spindle's voxels right at it stay open
        at_tip = np.linalg.norm(points - tip, axis=-1) <= max(radius, 0.5 * spacing) + 0.75 * spacing
        for start, stop, r in spindles:
            d, _ = _segment_distance(points, start, stop)
            solid |= (d <= max(r, 0.5 * spacing)) & ~at_tip
    track &= ~solid
    k[track & (cortical | ~inside)] = model.track_k_m2
    # target bones: those with voxels within 6 mm of a tip
    target = lesion.copy()
    basivertebral = np.zeros(shape, dtype=bool)
    for name, (local, m) in names.items():
        pts = np.zeros(shape, dtype=bool)
        pts[local] = m
        near = np.zeros(len(sources), dtype=bool)
        for n, s in enumerate(sources):
            d = np.linalg.norm(points - s[1], axis=-1) <= 6.0
            near[n] = bool((pts & d).any())
        if near.any():
            target |= pts
            strip = _basivertebral_strip(session, name, model.basivertebral or cement_model().basivertebral)
            if strip is not None:
                basivertebral |= (pts | lesion) & strip.contains(points)
    inner = ((BASIVERTEBRAL, BASIVERTEBRAL_INTO, basivertebral),) if basivertebral.any() else ()
    voxel_ml = float(abs(np.linalg.det(ct.direction)) * np.prod(ct.spacing)) / 1000.0
    return Field3(tuple(b.start for b in box), region, phi, k, solid, track, target, lesion, voxel_ml, inner)


def _basivertebral_strip(session, name: str, params):
    """The basivertebral gateway strip of a vertebra (None for other bones or without a canal label), cached
    on the session per structures revision."""
    if "vertebra" not in name.lower():
        return None
    cache = session.__dict__.setdefault("_basivertebral_cache", {})
    key = (session.structures_revision, name, params)
    if key not in cache:
        for stale in [k for k in cache if k[0] != session.structures_revision]:
            del cache[stale]
        structures = list(session.structures)
        vertebra = next(s for s in structures if s.name == name)
        canals = [s for s in structures if _region_of(s.name, s.category) == CANAL]
        lesions = [s for s in structures if _region_of(s.name, s.category) == LESION]
        cache[key] = wall_strip(session.case.ct, vertebra, canals, lesions, params)
    return cache[key]


def _check_tips(session, sources) -> None:
    for injection, tip, *_ in sources:
        readout = session.case.readout(tip)
        if readout.value is None:
            raise CementError(f"injection {injection.id!r}: the tip of {injection.trocar!r} is outside the image")
        kji = np.round(session.case.ct.lps_to_index(tip)[::-1]).astype(int)
        here = [s for s in session.structures if _holds(s, kji)]
        codes = {_region_of(s.name, s.category) for s in here}
        if VEIN in codes:
            raise CementError(f"injection {injection.id!r}: the tip of {injection.trocar!r} is in a vessel "
                              f"({', '.join(s.name for s in here)}); move it into bone")
        if not codes & {BONE, LESION}:
            raise CementError(f"injection {injection.id!r}: the tip of {injection.trocar!r} is outside bone "
                              f"(in {', '.join(s.name for s in here) or 'unlabelled tissue'}); move it into the bone")


def _holds(structure, kji: np.ndarray) -> bool:
    """Whether a structure's mask holds the voxel kji (read in its box: no full-grid mask is built)."""
    local = kji - np.asarray(structure.start_kji)
    return bool(np.all((local >= 0) & (local < structure.box_mask.shape)) and structure.box_mask[tuple(local)])


def _touches_inner_face(solution: CementSolution, ct) -> bool:
    """Whether the planned fill reaches a face of the box that is not the image's own border."""
    mask = solution.fill().mask
    start, shape, size = solution.field.start, mask.shape, tuple(ct.size)[::-1]
    for axis in range(3):
        if start[axis] > 0 and np.take(mask, 0, axis=axis).any():
            return True
        if start[axis] + shape[axis] < size[axis] and np.take(mask, -1, axis=axis).any():
            return True
    return False


def _box_holds(solution, volumes: dict[str, float], ct) -> bool:
    """Whether the solution's box holds the planned fill: every volume finds room, and no face of the box
    that is not the image's own border is reached."""
    return (all(solution.reachable_ml(i, volumes) >= v for i, v in volumes.items())
            and not _touches_inner_face(solution, ct))


def solve(session, injections=None, k_scale_seed: int | None = None, connectivity: int = 26) -> CementSolution:
    """Solve the plan's injections together (cached on the session while tips, devices and volumes allow)."""
    injections = list(session.plan.injections if injections is None else injections)
    if not injections:
        raise CementError("the plan has no injection")
    sources = _sources(session, injections)
    model_name, model = model_of_injections(injections)  # the injections' cement model (plugin API)
    # a new volume alone only re-queries, except with portions (each portion's obstacle is the cement
    # planned before it) or several injections (each front meets the others' planned cement): then the
    # portions and every volume are in the key
    stepwise = is_stepwise(injections)
    planned_obstacles = stepwise or len(injections) > 1
    key = (model_name, tuple((s[0].id, s[0].viscosity, s[0].steps_ml, s[0].volume_ml if planned_obstacles else None,
                              tuple(s[1]), tuple(s[2]), s[3], tuple(tuple(map(tuple, sp[:2])) for sp in s[4]))
                             for s in sources), session.structures_revision, k_scale_seed, connectivity)
    cache = session.__dict__.setdefault("_cement_cache", {})
    total = sum(i.volume_ml for i in injections)
    planned = {i.id: i.volume_ml for i in injections}
    hit = cache.get(key) if k_scale_seed is None else None
    if hit is not None and all(hit.reachable_ml(i.id, planned) >= i.volume_ml for i in injections):
        hit.injections = injections
        return hit
    if k_scale_seed is None and cache and getattr(session, "defer_slow_updates", False):
        # A trocar is being dragged: keep the last spread until the gesture ends (a solve per
        # mouse move would stall the drag); the caller solves again when `defer_slow_updates` clears.
        return next(iter(cache.values()))
    _check_tips(session, sources)
    viscosities = {i.viscosity for i in injections}
    exponent = model.exponent(sorted(viscosities)[0] if len(viscosities) == 1 else "medium")
    # the box starts tight (1.4 x the radius of the cement sphere at porosity 0.6) and grows only when
    # the planned fill cannot be reached in it or touches one of its inner faces
    half = float(np.clip(1.4 * (3 * total * 1000 / (4 * np.pi * 0.6)) ** (1 / 3), 12.0, MAX_HALF_MM))
    for _ in range(3):
        field = build_field(session, sources, half, model)
        seeds = []
        for s in sources:
            ijk = session.case.ct.lps_to_index(s[1])
            kji = np.round(ijk[::-1]).astype(int) - np.asarray(field.start)
            seeds.append(np.clip(kji, 0, np.asarray(field.region.shape) - 1)[None, :])
        scale = None
        if k_scale_seed is not None:
            rng = np.random.default_rng(k_scale_seed)
            scale = np.exp(rng.normal(0.0, model.monte_carlo.log_sigma, field.k.shape))
        if stepwise:
            solution = SteppedCementSolution(field, session.case.ct, seeds, injections, model, exponent, scale,
                                             connectivity)
        else:
            graph = SpreadGraph(field, session.case.ct, exponent, model.kozeny.k_ref_m2,
                                model.kozeny.transverse_ratio, connectivity)
            solution = CementSolution(field, arrival_times(graph, seeds, scale), injections)
            if len(injections) > 1:  # the fronts meet: each solved again against the others' cement
                meeting = model.meeting or cement_model().meeting
                solution = solution.meeting(graph, seeds, meeting.other_cement_k_ratio, scale)
        if half >= MAX_HALF_MM or _box_holds(solution, planned, session.case.ct):
            break
        half = min(MAX_HALF_MM, half * 1.6)
    if k_scale_seed is None:  # a Monte-Carlo run never replaces the cached deterministic solution
        cache.clear()
        cache[key] = solution
    return solution


def injection_report(session, monte_carlo: int = 0) -> dict:
    """The `osteoplan simulate cement --json` object."""
    solution = solve(session)
    fill = solution.fill()
    field = solution.field
    probability: dict[tuple[str, str], float] = {}
    for run in range(monte_carlo):
        noisy = solve(session, k_scale_seed=run + 1).fill()
        for injection_id, gateways in noisy.gateways.items():
            for g in gateways:
                probability[(injection_id, g["kind"])] = probability.get((injection_id, g["kind"]), 0) + 1 / monte_carlo
    items = []
    for injection in solution.injections:
        own = fill.owner_mask[injection.id]
        lesion_total = field.lesion.sum()
        bone_total = (field.target & ~field.lesion).sum()
        items.append({
            "id": injection.id, "trocar": injection.trocar, "injected_ml": float(injection.volume_ml),
            "filled_ml": round(fill.filled_ml[injection.id], 4),
            "lesion_fill": round(100.0 * float((own & field.lesion).sum()) / lesion_total, 2) if lesion_total else None,
            "bone_fill": round(100.0 * float((own & field.target & ~field.lesion).sum()) / bone_total, 2)
            if bone_total else None,
            "gateways": [{"kind": g["kind"], "reached_at_ml": g["reached_at_ml"], "into": g["into"],
                          "probability": round(probability.get((injection.id, g["kind"]), 0.0), 3)
                          if monte_carlo else None} for g in fill.gateways[injection.id]]})
        spindles = session.plan.trajectory(injection.trocar).spindles
        if spindles:  # reinforced cementoplasty: how much of each spindle lies in (within a voxel of) cement
            items[-1]["spindles"] = _spindle_embedding(session, injection.trocar, own, field)
    warnings = [w.to_json() for i in solution.injections for w in _warnings_for(i, fill)]
    return {"injections": items, "warnings": warnings}


def _spindle_embedding(session, trocar_id: str, cement: np.ndarray, field: Field3) -> list[dict]:
    """Per spindle of the trocar: the length (mm) of its axis lying within one voxel of the cement."""
    from scipy.ndimage import binary_dilation

    ct = session.case.ct
    near = binary_dilation(cement, structure=np.ones((3, 3, 3), dtype=bool))
    step = 0.25 * float(min(ct.spacing))
    trajectory = session.plan.trajectory(trocar_id)
    out = []
    for spindle in trajectory.spindles:
        a, b = np.asarray(spindle.start_lps(trajectory), float), np.asarray(spindle.tip_lps(trajectory), float)
        length = float(np.linalg.norm(b - a))
        count = max(2, int(np.ceil(length / step)) + 1)
        points = a + np.linspace(0.0, 1.0, count)[:, None] * (b - a)
        kji = np.round(ct.lps_to_index(points)[:, ::-1]).astype(int) - np.asarray(field.start)
        valid = np.all((kji >= 0) & (kji < np.asarray(near.shape)), axis=1)
        hit = np.zeros(count, dtype=bool)
        hit[valid] = near[tuple(kji[valid].T)]
        # each sample stands for its share of the axis (the end samples for half a step)
        weights = np.full(count, 1.0 / (count - 1))
        weights[[0, -1]] *= 0.5
        out.append({"id": spindle.id, "embedded_mm": round(min(length, float(weights[hit].sum()) * length), 2)})
    return out


def _warnings_for(injection, fill) -> list[SafetyWarning]:
    out = []
    filled, wanted = fill.filled_ml[injection.id], fill.injected_ml[injection.id]
    if filled < 0.98 * wanted:  # the front ran out of room: say so rather than report a smaller fill silently
        out.append(SafetyWarning(
            Severity.WARN, injection.id,
            f"cement {injection.id} via {injection.trocar}: only {filled:.2f} mL of the {wanted:g} mL find room "
            f"within reach of the tip (the simulated region, up to {MAX_HALF_MM:g} mm around the tips, is full or "
            f"walled off); the rest is not simulated: plan less cement or another tip"))
    for g in fill.gateways[injection.id]:
        stop = g["into"] in ("epidural canal", "foramen")
        if not (stop or g["into"] in ("vein", "disc", BASIVERTEBRAL_INTO)):
            continue
        suggest = max(0.0, g["reached_at_ml"] - 0.1)
        during = f" (during portion {g['step']} of {len(injection.steps_ml)})" if len(injection.steps_ml) > 1 else ""
        out.append(SafetyWarning(
            Severity.STOP if stop else Severity.WARN, injection.id,
            f"cement {injection.id} via {injection.trocar}: the front reaches the {g['kind']} gateway into the "
            f"{g['into']} at {g['reached_at_ml']:.2f} mL of the {injection.volume_ml:g} mL planned{during}; "
            f"stop injecting at {suggest:.1f} mL"))
    return out


def portion_lines(session, injection_id: str) -> list[str]:
    """Text lines of a stepwise injection (empty for a single shot): each portion, the total after it and
    the gateways its front first reaches (the text output of `osteoplan simulate cement`)."""
    injection = session.plan.injection(injection_id)
    if len(injection.steps_ml) < 2:
        return []
    reached = solve(session).first_reach_ml(injection_id)
    lines = []
    for number, (portion, total) in enumerate(zip(injection.steps_ml, injection.cumulative_steps()), start=1):
        mine = [f"{g['kind']} ({g['reached_at']:.2f} mL)" for g in reached
                if g.get("step") == number and g["reached_at"] <= total + 1e-9]
        lines.append(f"portion {number}: {portion:g} mL, {total:.2f} mL in all"
                     + (f"; first reaches {', '.join(mine)}" if mine else ""))
    return lines


def cement_warnings(session, trajectory_id: str) -> list[SafetyWarning]:
    """Warnings of the injections through one trocar (empty when the plan has none)."""
    mine = session.plan.injections_of(trajectory_id)
    if not mine:
        return []
    fill = solve(session).fill()
    return [w for i in mine for w in _warnings_for(i, fill)]
