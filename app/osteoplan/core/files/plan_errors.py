"""Messages for invalid plan files: the field path, what is wrong, what was found."""

from __future__ import annotations

import difflib
import json
from typing import Any

from pydantic import ValidationError

from osteoplan.core.errors import OsteoPlanError


class PlanFileError(OsteoPlanError):
    """A plan file that cannot be read or written; the message names the file and the field."""

    def __init__(self, message: str, path: str | None = None, field: str | None = None):
        super().__init__(message)
        self.path = path
        self.field = field


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number",
             type(None): "null", dict: "an object"}
    return names.get(type(value), type(value).__name__)


_SCALARS = (str, int, float, bool, type(None))


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, _SCALARS) or (isinstance(value, (list, tuple)) and len(value) <= 4
                                       and all(isinstance(v, _SCALARS) for v in value)):
        text = json.dumps(value)  # NaN shows as NaN
    else:
        text = _json_type(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def field_path(location: tuple[Any, ...]) -> str:
    """('trajectories', 0, 'entry_lps') -> 'trajectories[0].entry_lps'."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe_error(error: dict[str, Any], known_fields: list[str]) -> str:
    kind, message = error["type"], error["msg"].removeprefix("Value error, ")
    if kind == "missing":
        if isinstance(error["loc"][-1], int):
            return "is missing: a point has 3 numbers [x, y, z]"
        return "is required but missing"
    if kind == "extra_forbidden":
        name = str(error["loc"][-1])
        close = difflib.get_close_matches(name, known_fields, n=1)
        return "is not a field of a plan file" + (f"; did you mean {close[0]!r}?" if close else "")
    if kind in ("too_long", "string_too_long"):
        return message
    if isinstance(error["input"], dict):  # a rule across fields: the message says which
        return message
    return f"{message} (found {_short(error['input'])})"


def _owner(location: tuple[Any, ...], data: dict[str, Any]) -> str:
    """' (trajectory "t1")' for an error inside a trajectory that has a readable id."""
    if len(location) >= 2 and location[0] == "trajectories" and isinstance(location[1], int):
        trajectories = data.get("trajectories")
        item = trajectories[location[1]] if isinstance(trajectories, list) else None
        if isinstance(item, dict) and isinstance(item.get("id"), str) and 0 < len(item["id"]) <= 64:
            return f" (trajectory {item['id']!r})"
    return ""


def _validation_error(exc: ValidationError, data: dict[str, Any], source: str, known_fields: list[str]):
    """The `PlanFileError` of a file whose fields failed validation (`known_fields`: for "did you mean")."""
    errors = exc.errors()
    lines = [f"{field_path(e['loc']) or '(top level)'}: {_describe_error(e, known_fields)}{_owner(e['loc'], data)}"
             for e in errors[:3]]
    more = f" (and {len(errors) - 3} more problems)" if len(errors) > 3 else ""
    return PlanFileError(f"{source}: " + "; ".join(lines) + more, source, field_path(errors[0]["loc"]))
