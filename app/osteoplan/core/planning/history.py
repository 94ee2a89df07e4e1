"""One undo stack of commands. Every edit of a plan goes through it.

A gesture that makes many small edits (dragging a handle) runs inside `group(...)` and
becomes one undo step.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Protocol

from psygnal import Signal


class Command(Protocol):
    label: str

    def do(self) -> None: ...

    def undo(self) -> None: ...

    def merge(self, later: "Command") -> bool:
        """Absorb a later command of the same gesture (return True), or refuse (False)."""
        ...


@dataclass
class _Group:
    label: str
    commands: list = field(default_factory=list)

    def do(self) -> None:
        for command in self.commands:
            command.do()

    def undo(self) -> None:
        for command in reversed(self.commands):
            command.undo()

    def merge(self, later) -> bool:
        return False


class History:
    changed = Signal()  # undo/redo availability or labels changed

    def __init__(self, limit: int = 500) -> None:
        self._undo: list = []
        self._redo: list = []
        self._open_groups: list[_Group] = []
        self._limit = limit
        self._busy = False

    def push(self, command) -> None:
        """Run a command and record it."""
        if self._busy:
            raise RuntimeError("an edit was made while undoing or redoing")
        command.do()
        if self._open_groups:
            group = self._open_groups[-1]
            if not (group.commands and group.commands[-1].merge(command)):
                group.commands.append(command)
            return
        self._record(command)

    def _record(self, command) -> None:
        self._undo.append(command)
        del self._undo[: -self._limit]
        self._redo.clear()
        self.changed.emit()

    @contextmanager
    def group(self, label: str) -> Iterator[None]:
        """Everything pushed inside becomes one undo step (nothing is recorded if nothing was pushed)."""
        self.begin_group(label)
        try:
            yield
        finally:
            self.end_group()

    def begin_group(self, label: str) -> None:
        """Non-context-manager form for gestures spread over events (press ... release)."""
        self._open_groups.append(_Group(label))

    def end_group(self) -> None:
        group = self._open_groups.pop()
        if group.commands:
            if self._open_groups:
                self._open_groups[-1].commands.append(group)
            else:
                self._record(group)

    @property
    def in_group(self) -> bool:
        return bool(self._open_groups)

    def undo(self) -> bool:
        if not self._undo or self._open_groups:
            return False
        command = self._undo.pop()
        self._busy = True
        try:
            command.undo()
        finally:
            self._busy = False
        self._redo.append(command)
        self.changed.emit()
        return True

    def redo(self) -> bool:
        if not self._redo or self._open_groups:
            return False
        command = self._redo.pop()
        self._busy = True
        try:
            command.do()
        finally:
            self._busy = False
        self._undo.append(command)
        self.changed.emit()
        return True

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_label(self) -> str | None:
        return self._undo[-1].label if self._undo else None

    @property
    def redo_label(self) -> str | None:
        return self._redo[-1].label if self._redo else None

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()
        self.changed.emit()
