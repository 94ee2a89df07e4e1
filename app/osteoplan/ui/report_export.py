"""A report of a plan, rendered and written: the images from a planning window offscreen, then the
PDF (`report_pdf`). `export_report` needs a QApplication on the offscreen platform (as `osteoplan
screenshot`): the command line and the GUI's File > Export report (in a child process) both call it."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtGui import QImage

from osteoplan.core.report.content import ImageRequest, build_report
from osteoplan.ui.report_pdf import PROGRESS_PREFIX, check_output_path, write_report_pdf

IMAGE_WINDOW_SIZE = (1400, 900)  # the planning window the images are taken from
NEEDLE_VIEW_SIZE = (620, 700)  # each needle view, enlarged for print (two side by side fill the page)
OVERVIEW_MM = 150.0  # the 3D overview frames at least this much around the targets


def render_report_images(session, requests: list[ImageRequest]) -> dict[str, QImage]:
    """Each requested view, rendered by a main window offscreen (the planning window's own views)."""
    from osteoplan.ui.app import configure_rendering_environment, create_application

    configure_rendering_environment(offscreen=True)
    app = create_application()
    from osteoplan.ui.main_window import MainWindow
    from osteoplan.ui.vtk_pane import grab_window

    window = MainWindow()
    window.resize(*IMAGE_WINDOW_SIZE)
    # The needle views in a floating dock of their own, sized for print; floated before any pane
    # renders (re-parenting a pane that has rendered crashes VTK at exit).
    window.needle_dock.setFloating(True)
    for pane in (window.needle_panel.in_plane, window.needle_panel.probe_eye):
        pane.setFixedSize(*NEEDLE_VIEW_SIZE)
    window.show()
    app.processEvents()
    window.set_case(session.case, session)
    session.prepare()
    window.controller.refresh_views()
    app.processEvents()
    images: dict[str, QImage] = {}
    try:
        first = session.plan.trajectories[0].id if session.plan.trajectories else None
        for request in requests:
            kind, _, trajectory_id = request.view.partition(":")
            if kind in ("in-plane", "probe-eye"):
                images[request.key] = _needle_image(window, app, trajectory_id, kind)
                continue
            window.set_layout(request.view)
            app.processEvents()
            window.reset_views()
            if first is not None and kind == "four-up":  # the slices through the first target, needle in view
                window.centre_on_trajectory(first)
            elif session.plan.trajectories and kind == "3d":  # from behind the needles' side, all in view
                entries = np.mean([t.entry for t in session.plan.trajectories], axis=0)
                targets = np.mean([t.target for t in session.plan.trajectories], axis=0)
                span = max(float(np.linalg.norm(entries - targets)), 1e-6)
                # framed as a needle of at least OVERVIEW_MM: a short path still shows its surroundings
                window.views["3d"].look_at_needle(targets + (entries - targets) * max(1.0, OVERVIEW_MM / span),
                                                  targets)
            app.processEvents()
            images[request.key] = grab_window(window.centralWidget())
    finally:
        window.close()  # releases the panes' OpenGL contexts (as `osteoplan screenshot` does)
    return images


def _needle_image(window, app, trajectory_id: str, kind: str) -> QImage:
    panel = window.needle_panel
    window.centre_on_trajectory(trajectory_id)
    app.processEvents()
    return (panel.in_plane if kind == "in-plane" else panel.probe_eye).capture()




def export_report(session, out_path: str | Path, identify: bool = False,
                  progress: Callable[[float, str], None] | None = None, plan_label: str | None = None) -> Path:
    """Build, render and write the report of `session`'s plan; returns the PDF's path."""
    out_path = check_output_path(out_path)

    def step(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    content = build_report(session, identify, lambda f, m: step(0.6 * f, m), plan_label=plan_label)
    step(0.6, "Rendering the views…")
    images = render_report_images(session, content.images)
    step(0.9, "Writing the PDF…")
    path = write_report_pdf(content, images, out_path)
    step(1.0, "Done")
    return path


def report_command(plan_path: str, out_path: str, identify: bool = False, progress_lines: bool = False,
                   plan_label: str | None = None) -> int:
    """`osteoplan report`: load the plan, write the PDF, print its path (`plan_label`: how the report names
    the plan, when `plan_path` is a temporary copy)."""
    import sys

    from osteoplan.core.session import open_plan_session
    from osteoplan.ui.app import configure_rendering_environment

    configure_rendering_environment(offscreen=True)
    check_output_path(out_path)  # before the slow part

    def progress(fraction: float, message: str) -> None:
        if progress_lines:
            print(f"{PROGRESS_PREFIX}{fraction:.3f} {message}", flush=True)

    progress(0.0, "Loading the plan and its image…")
    session, notes = open_plan_session(plan_path)
    for note in notes:
        print(f"osteoplan: warning: {note}", file=sys.stderr)
    path = export_report(session, out_path, identify, lambda f, m: progress(0.1 + 0.9 * f, m), plan_label)
    print(path)
    return 0
