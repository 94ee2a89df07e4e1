"""Run slow core work (loading, generating the demo) off the UI thread, with progress."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal



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
