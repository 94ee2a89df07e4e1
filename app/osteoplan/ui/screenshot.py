"""Headless screenshots of the real main window (the same code as the GUI)."""

from __future__ import annotations

from pathlib import Path

from osteoplan.core.case import Case


def render_screenshot(case: Case, out_path: str | Path, view: str = "four-up", size: tuple[int, int] = (1400, 900)) -> Path:
    from osteoplan.ui.app import configure_rendering_environment, create_application

    configure_rendering_environment(offscreen=True)
    app = create_application()
    from osteoplan.ui.main_window import MainWindow
    from osteoplan.ui.vtk_pane import grab_window

    window = MainWindow()
    window.resize(*size)
    window.show()
    app.processEvents()
    window.set_case(case)
    window.set_layout(view)
    app.processEvents()
    window.reset_views()
    image = grab_window(window)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(out_path), "PNG"):
        raise OSError(f"could not write {out_path}")
    window.close()
    return out_path
