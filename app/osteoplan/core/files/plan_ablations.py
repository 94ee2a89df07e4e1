"""Plan-file checks of ``ablations`` and ``thermocouples`` beyond their field types.

``"ablations": [{"id": "a1", "trajectory": "t1", "setting": "<setting id>", "offset_mm": 0}]``:
the trajectory must be in the plan and its device an ablation probe that has the setting;
``"thermocouples": [{"id": "tc1", "position_lps": [x, y, z]}]``. Ids are unique among the
plan's trajectories, spindles, ablations and thermocouples (warnings name objects by id).
"""

from __future__ import annotations

from typing import Any, Callable

from osteoplan.core.planning.devices import AblationProbe, DeviceCatalog, UnknownDeviceError

ErrorFactory = Callable[[str, str], Exception]  # (message after "source: field: ", field) -> error


def check_ablations(model: Any, catalog: DeviceCatalog, error: ErrorFactory) -> None:
    """Raise `error(message, field)` for the first inconsistent ablation or thermocouple."""
    taken = {t.id: f"trajectories[{n}]" for n, t in enumerate(model.trajectories)}
    for n, trajectory in enumerate(model.trajectories):
        for m, spindle in enumerate(trajectory.spindles):
            taken.setdefault(spindle.id, f"trajectories[{n}].spindles[{m}]")
    for group in ("ablations", "thermocouples", "injections"):
        for index, item in enumerate(getattr(model, group)):
            field = f"{group}[{index}].id"
            if item.id in taken:
                raise error(f"the id {item.id!r} is already used by {taken[item.id]}; ids must be unique", field)
            taken[item.id] = f"{group}[{index}]"
    trajectories = {t.id: t for t in model.trajectories}
    for index, injection in enumerate(getattr(model, "injections", ())):
        if injection.trocar not in trajectories:
            known = ", ".join(repr(t) for t in trajectories) or "none"
            raise error(f"no trajectory {injection.trocar!r} in the plan for this injection (trajectories: {known})",
                        f"injections[{index}].trocar")
    for index, ablation in enumerate(model.ablations):
        where = f"ablations[{index}]"
        trajectory = trajectories.get(ablation.trajectory)
        if trajectory is None:
            known = ", ".join(repr(t) for t in trajectories) or "none"
            raise error(f"no trajectory {ablation.trajectory!r} in the plan (trajectories: {known})",
                        f"{where}.trajectory")
        try:
            device = catalog.get(trajectory.device)
        except UnknownDeviceError:
            continue  # reported with the trajectory's own field
        if not isinstance(device, AblationProbe):
            raise error(f"trajectory {trajectory.id!r} uses {device.id!r}, a {device.kind.value}, not an ablation "
                        "probe (rf_probe, mw_antenna or cryoprobe; `osteoplan devices` lists them)",
                        f"{where}.trajectory")
        if ablation.setting not in {s.id for s in device.settings}:
            known = ", ".join(repr(s.id) for s in device.settings)
            raise error(f"device {device.id!r} has no setting {ablation.setting!r} (its settings: {known})",
                        f"{where}.setting")
