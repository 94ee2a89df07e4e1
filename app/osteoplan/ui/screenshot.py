"""Headless screenshots of the real main window (the same code as the GUI)."""

from __future__ import annotations

from pathlib import Path

from osteoplan.core.atomic import atomic_write_with, verify_written
from osteoplan.core.imaging.case import Case

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def render_screenshot(case: Case, out_path: str | Path, view: str = "four-up", size: tuple[int, int] = (1400, 900),
                      session=None) -> Path:
    """Render the main window showing `case` (and `session`'s plan) to a PNG.

    `view` is a layout (four-up, axial, sagittal, coronal, 3d) or needle:<trajectory id>: that
    needle selected, the views centred on it and its needle views shown; drr-ap, drr-lateral:
    the fluoroscopy pane alone (centred on the cursor); drr:<trajectory id>: its bull's-eye view.
    """
    from osteoplan.ui.app import configure_rendering_environment, create_application

    configure_rendering_environment(offscreen=True)
    app = create_application()
    from osteoplan.ui.main_window import MainWindow
    from osteoplan.ui.vtk_pane import grab_window

    window = MainWindow()
    window.resize(*size)
    window.show()
    app.processEvents()
    window.set_case(case, session)
    if session is not None:
        session.prepare()
        window.controller.refresh_views()
    if view.startswith("needle:"):
        window.set_layout("four-up")
        window.reset_views()
        window.centre_on_trajectory(view.split(":", 1)[1])
    elif view.startswith("drr"):  # the fluoroscopy pane alone, in the 3D view's place
        window.fluoro.show_in("3d")
        window.set_layout("3d")
        app.processEvents()
        if view.startswith("drr:"):
            window.centre_on_trajectory(view.split(":", 1)[1])
            window.fluoro.view.show_bulls_eye(view.split(":", 1)[1])
        else:
            {"drr-ap": window.fluoro.view.show_ap, "drr-lateral": window.fluoro.view.show_lateral}[view]()
        window.fluoro.view.wait_until_ready()
    else:
        window.set_layout(view)
        app.processEvents()
        window.reset_views()
    app.processEvents()
    image = grab_window(window)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)

    def write(temporary: str) -> None:
        if not image.save(temporary, "PNG"):
            raise OSError(f"could not write {out_path}")

    # verified before it replaces an old screenshot: Qt does not report a full disk
    atomic_write_with(out_path, write, ".png", verify=lambda temporary: verify_written(temporary, PNG_SIGNATURE,
                                                                                       b"IEND"))
    window.close()
    return out_path
