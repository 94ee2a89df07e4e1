"""The `osteoplan` command: the GUI and the headless sub-commands."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    raise NotImplementedError
