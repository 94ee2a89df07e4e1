"""Application start-up: the headless environment, the QApplication, the GUI entry point."""

from __future__ import annotations

import os
import sys
import threading
import traceback

ORGANIZATION = "OsteoPlan"
APPLICATION = "OsteoPlan"


def configure_rendering_environment(offscreen: bool = False) -> None:
    """Choose Qt's platform and VTK's OpenGL window before either starts.

    Without a display (CI, ssh, `osteoplan screenshot`), Qt draws offscreen and VTK
    renders through EGL; VTK panes then draw real pixels (see vtk_pane.py).
    """
    if offscreen or not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


# Qt's offscreen platform warns about window features it lacks; they are harmless there.
_IGNORED_QT_MESSAGES = ("This plugin does not support",)


def _qt_message_handler(mode, context, message: str) -> None:
    if not message.startswith(_IGNORED_QT_MESSAGES):
        sys.stderr.write(message + "\n")


def create_application(argv: list[str] | None = None):
    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    qInstallMessageHandler(_qt_message_handler)
    app = QApplication.instance() or QApplication(argv or [sys.argv[0]])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setDesktopFileName("osteoplan")  # packaging/osteoplan.desktop: the desktop shows its icon
    app.setWindowIcon(application_icon())
    return app


def application_icon():
    from PySide6.QtGui import QIcon

    from osteoplan.core.resources import resource_path

    icon = QIcon(str(resource_path("icons/osteoplan-256.png")))
    icon.addFile(str(resource_path("icons/osteoplan.svg")))
    return icon


def _install_exception_hook(window) -> None:
    """An unexpected error shows a message; the window and the user's work stay."""

    def hook(exc_type, exc, tb):
        traceback.print_exception(exc_type, exc, tb)
        try:
            window.show_error(exc)
        except Exception:  # noqa: BLE001
            pass

    sys.excepthook = hook


def start_gui(path: str | None = None, demo: str | None = None):
    """The application and its main window, opening `path` or a demo case (or a crashed session's
    plan; with none of them, a hint to open a CT or the demo); returns (app, window) before the
    event loop runs."""
    configure_rendering_environment()
    app = create_application()
    if demo and not path:
        # Read the demo case while the window is being built (it is memoised in core.demo).
        from osteoplan.core.imaging.demo import load_demo_case

        threading.Thread(target=load_demo_case, args=(demo or "spine",), daemon=True).start()
    from osteoplan.ui.main_window import MainWindow

    window = MainWindow()
    _install_exception_hook(window)
    window.show()
    if path:
        window.open_path(path)  # an image, a DICOM folder or a plan (.json)
    elif not window.plan_files.offer_recovery() and demo:
        window.open_demo(demo)
    # with neither a path nor --demo the window shows how to open a CT or the demo (first_run.py)
    return app, window


def run_gui(path: str | None = None, demo: str | None = None) -> int:
    app, _window = start_gui(path, demo)
    return app.exec()
