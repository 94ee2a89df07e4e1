"""Slow core work: off the UI thread with progress (loading, generating the demo), or a wait cursor when it must stay on it."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtWidgets import QApplication


@contextmanager
def busy_cursor() -> Iterator[None]:
    """A wait cursor while the UI thread does work that can take a second (a cement re-solve)."""
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        yield
    finally:
        QApplication.restoreOverrideCursor()


class _TaskSignals(QObject):
    progress = Signal(float, str)
    succeeded = Signal(object)
    failed = Signal(object)  # the exception


class BackgroundTask(QRunnable):
    """Calls `work(progress)` in Qt's thread pool; results and errors come back as signals on the UI thread."""

    def __init__(self, work: Callable[[Callable[[float, str], None]], object]) -> None:
        super().__init__()
        self.signals = _TaskSignals()
        self._work = work
        self.setAutoDelete(False)

    def run(self) -> None:
        try:
            result = self._work(lambda fraction, message="": self._emit(self.signals.progress, float(fraction), message))
        except Exception as exc:  # noqa: BLE001  (a bug must reach the user as a message, not kill the app)
            self._emit(self.signals.failed, exc)
        else:
            self._emit(self.signals.succeeded, result)

    @staticmethod
    def _emit(signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the window that asked has closed meanwhile: nobody to tell
            pass


def start(task: BackgroundTask) -> None:
    QThreadPool.globalInstance().start(task)
