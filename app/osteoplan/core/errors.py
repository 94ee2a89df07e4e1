"""Error types whose message is meant for the user, not for a traceback."""

from __future__ import annotations


class OsteoPlanError(Exception):
    """Base of every error whose message can be shown to the user as it is."""


class LoadError(OsteoPlanError):
    """An image, label map or other input could not be loaded.

    The message names the file and says what is wrong and what to do.
    """

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path


class ResourceError(OsteoPlanError):
    """A data file under resources/ (or from a plugin) failed validation."""
