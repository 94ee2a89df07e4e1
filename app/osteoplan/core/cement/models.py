"""Cement-spread models by name: the parameter sets of the front-propagation model (`cement.CementModel`).

An injection names its model (``"model"``, an entry-point name of the
``osteoplan.cement_models`` group; default ``"builtin"``: resources/cement_model.json).
Injections solved together share one model. A model that is not installed, raises or
returns data that does not validate is reported once and refused with a `CementError`
saying what to do: a plan that asks for a model is never silently solved with another.
"""

from __future__ import annotations

import threading

from pydantic import ValidationError

from osteoplan.core.cement.spread import CementError, CementModel, cement_model

BUILTIN_CEMENT_MODEL = "builtin"

_lock = threading.Lock()
_validated: dict[str, CementModel | str] = {}  # name -> its parameters, or why it cannot be used


def cement_models() -> dict[str, object]:
    """``{entry-point name: provider}`` of every installed cement model, built-in first."""
    from osteoplan.core.entry_points import CEMENT_MODELS, registered

    return registered(CEMENT_MODELS)


def _load(name: str) -> CementModel | str:
    from osteoplan.core.entry_points import describe_error

    provider = cement_models().get(name)
    if provider is None:
        if name == BUILTIN_CEMENT_MODEL:  # the built-in entry point is missing (a broken install): same data
            return cement_model()
        return f"is not installed (installed: {', '.join(sorted(cement_models())) or 'none'})"
    if not callable(provider):
        return f"is not callable (got {type(provider).__name__})"
    try:
        data = provider()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a broken plugin must not stop the app
        return f"failed: {describe_error(exc)}"
    if isinstance(data, CementModel):
        return data
    if not isinstance(data, dict):
        return f"returned {type(data).__name__}, not cement-model parameters"
    try:
        return CementModel.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        return f"returned invalid parameters ({'.'.join(map(str, first['loc']))}: {first['msg']})"


def cement_model_named(name: str = BUILTIN_CEMENT_MODEL) -> CementModel:
    """The parameters of cement model `name`; `CementError` when it cannot be used (reported once)."""
    from osteoplan.core.entry_points import report_once

    with _lock:
        found = _validated.get(name)
    if found is None:
        found = _load(name)
        with _lock:
            _validated[name] = found
    if isinstance(found, str):
        message = f"cement model {name!r} {found}"
        report_once(message)
        raise CementError(f"{message}; install its plugin or set the injection's \"model\" to "
                          f"{BUILTIN_CEMENT_MODEL!r}")
    return found


def model_of_injections(injections) -> tuple[str, CementModel]:
    """The one model the injections name, with its parameters (solved together, they share one)."""
    names = sorted({getattr(i, "model", BUILTIN_CEMENT_MODEL) for i in injections})
    if len(names) > 1:
        raise CementError(f"the injections name different cement models ({', '.join(names)}); "
                          "injections solved together use one model: give them the same \"model\"")
    name = names[0] if names else BUILTIN_CEMENT_MODEL
    return name, cement_model_named(name)


def forget_cement_models() -> None:
    """Validate the models again on next use (tests; after a plugin was fixed)."""
    with _lock:
        _validated.clear()
