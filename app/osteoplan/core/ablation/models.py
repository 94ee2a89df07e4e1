"""Ablation zone models: which model computes a probe's zone, and a plugin's zone checked before use.

A probe names its model in its catalog entry (``"zone_model"``, an entry-point name of the
``osteoplan.ablation_models`` group; default ``"builtin"``, the table model of
`osteoplan.core.ablation.zones`). `model_zone` asks that model for the zone of one ablation and
checks what comes back (an `AblationZone` on the CT grid, boolean masks inside the image,
the lethal zone inside the outer one). A model that is not installed, raises or returns
bad data is reported once and skipped from then on: the table model's zone is used, with a
note that becomes a warning of the ablation, so the user always knows which model drew it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import replace

import numpy as np

from osteoplan.core.ablation.zones import AblationZone, ZoneRequest

BUILTIN_ZONE_MODEL = "builtin"
TABLE_MODEL_NAME = "table"


_lock = threading.Lock()
_skipped: dict[str, str] = {}  # model name -> why it is no longer used in this process


def zone_models() -> dict[str, object]:
    """``{entry-point name: model}`` of every installed zone model, built-in first."""
    from osteoplan.core.entry_points import ABLATION_MODELS, registered

    return registered(ABLATION_MODELS)


def model_zone(request: ZoneRequest) -> AblationZone:
    """The zone of `request` by its probe's zone model (the table model when that one fails)."""
    from osteoplan.core.entry_points import describe_error, report_once

    name = request.probe.zone_model
    with _lock:
        why = _skipped.get(name)
    model = zone_models().get(name)
    if model is None and name == BUILTIN_ZONE_MODEL:  # its entry point is missing (a broken install): same model
        return request.table_zone()
    if why is None and model is None:
        why = (f"the zone model {name!r} of device {request.probe.id!r} is not installed (installed: "
               f"{', '.join(sorted(zone_models())) or 'none'})")
    elif why is None and not callable(model):
        why = f"the zone model {name!r} is not callable (got {type(model).__name__})"
    if why is None:
        try:
            zone = model(request)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a broken plugin must not stop the app
            why = f"the zone model {name!r} failed: {describe_error(exc)}"
        else:
            why = zone_problem(zone, request)
            if why is not None:
                why = f"the zone model {name!r} returned an unusable zone: {why}"
        if why is not None:
            with _lock:
                _skipped[name] = why
    if why is None:
        label = getattr(model, "model_name", None)
        label = label if isinstance(label, str) and label.strip() else name
        return replace(zone, model=TABLE_MODEL_NAME if name == BUILTIN_ZONE_MODEL else label[:64])
    note = f"{why}; the built-in table model was used instead"
    report_once(f"ablation zone model {name!r}: {note}")
    return replace(request.table_zone(), notes=(note,))


def zone_problem(zone: object, request: ZoneRequest) -> str | None:
    """What makes `zone` unusable for `request` (None: it is fine)."""
    if not isinstance(zone, AblationZone):
        return f"expected an AblationZone, got {type(zone).__name__}"
    ct = request.ct
    if zone.grid is not ct and not (hasattr(zone.grid, "same_grid") and ct.same_grid(zone.grid)):
        return "it does not lie on the CT's grid"
    masks = {"lethal": zone.lethal, "outer": zone.outer, **{f"isotherm {t}": m for t, m in zone.isotherms.items()}}
    for which, mask in masks.items():
        if not isinstance(mask, np.ndarray) or mask.dtype != bool or mask.ndim != 3:
            return f"the {which} mask is not a 3-D boolean array"
        if mask.shape != zone.lethal.shape:
            return f"the {which} mask's shape {mask.shape} differs from the lethal mask's {zone.lethal.shape}"
    start = zone.start_kji
    if (len(start) != 3 or not all(isinstance(v, (int, np.integer)) for v in start)
            or any(v < 0 or v + n > size for v, n, size in zip(start, zone.lethal.shape, ct.array.shape))):
        return f"its box (start {start}, shape {zone.lethal.shape}) is not inside the image"
    if (zone.lethal & ~zone.outer).any():
        return "its lethal zone is not inside its outer zone"
    geometry = zone.geometry
    numbers = [*np.ravel(geometry.centre), *np.ravel(geometry.axis), *geometry.lethal, *geometry.outer]
    if (np.shape(geometry.centre) != (3,) or np.shape(geometry.axis) != (3,)
            or not all(math.isfinite(float(v)) for v in numbers)
            or abs(float(np.linalg.norm(geometry.axis)) - 1.0) > 1e-3
            or min(*geometry.lethal, *geometry.outer) <= 0):
        return "its geometry (centre, unit axis, positive semi-axes) is invalid"
    return None


def forget_skipped_models() -> None:
    """Use every model again (tests; after a plugin was fixed and reinstalled)."""
    with _lock:
        _skipped.clear()
