"""The fluoroscopy (DRR) pane in the main window: shown in place of a view, overlays, advance slider."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QImage

from osteoplan.core.fluoro.drr import project_points
from osteoplan.core.planning.trajectory import TrajectoryKind

pytestmark = pytest.mark.gui


def _pixels(widget) -> np.ndarray:
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    data = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    return data.reshape(image.height(), image.bytesPerLine())[:, : image.width() * 3].reshape(
        image.height(), image.width(), 3).copy()


@pytest.fixture
def fluoro(window, qtbot):
    session = window.session
    target = window.case.ct.center_lps() + [0.0, -5.0, 0.0]
    path = session.new_trajectory(target + [8.0, 26.0, 0.0], target, TrajectoryKind.FREE, device_id="trocar-11g-150")
    session.editor.add_trajectory(path)
    window.controller.select(path.id)
    window.fluoro.show_in("3d")
    qtbot.waitUntil(lambda: window.fluoro.view.isVisible())
    qtbot.waitUntil(lambda: window.fluoro.view.drr is not None, timeout=30000)  # built in the background
    assert not window.views["3d"].isVisible()  # the DRR takes the 3D view's place
    return window.fluoro.view, path


def test_the_drr_pane_shows_the_ct_and_the_needle(fluoro, window):
    view, path = fluoro
    view.show_lateral()
    assert view.drr is not None and view.drr.covered.any()
    pixels = _pixels(view.canvas).astype(float)
    assert pixels.std() > 10, "the DRR pane is uniform"
    assert view.canvas.image is not None and view.canvas.image.width() == view.carm.pixels[0]
    # the needle is drawn black (metal) half-way along its projection
    middle = view.canvas.to_widget(project_points(view.drr.projection, (path.entry + path.target) / 2))[0]
    x, y = (int(round(v)) for v in middle)
    # the line is ~2 px wide and antialiased: most of the 3 x 3 pixels around its middle are dark
    assert np.median(pixels[y - 1:y + 2, x - 1:x + 2]) < 40


def test_bone_is_dark_on_the_ap_view(fluoro, window):
    from osteoplan.core.fluoro.drr import drr_display

    view, _ = fluoro
    view.show_ap()
    grey = drr_display(view.drr)
    z = window.case.ct.center_lps()[2]
    # the synthetic case's 700 HU cylinder runs along z at x = 14, y = -12; soft tissue at x = -14
    (bone_col, bone_row), (soft_col, soft_row) = np.round(project_points(view.drr.projection, [[14.0, -12.0, z], [-14.0, -12.0, z]])).astype(int)
    assert view.drr.covered[bone_row, bone_col] and view.drr.covered[soft_row, soft_col]
    assert int(grey[bone_row, bone_col]) < int(grey[soft_row, soft_col]) - 30


def test_the_advance_slider_moves_the_tip_in_the_drr(fluoro, window, qtbot):
    view, path = fluoro
    view.show_lateral()
    slider = window.needle_panel.advance
    slider.setValue(slider.maximum())
    full = view.projected_tip()
    before = _pixels(view.canvas)
    slider.setValue(slider.maximum() // 4)
    quarter = view.projected_tip()
    assert full is not None and quarter is not None
    expected = view.canvas.to_widget(project_points(view.drr.projection, path.point_at(path.length_mm / 4)))[0]
    assert np.allclose(quarter, expected, atol=0.5)
    assert np.linalg.norm(quarter - full) > 10  # the lateral view shows the advance across the screen
    assert not np.array_equal(before, _pixels(view.canvas)), "the DRR overlay did not follow the slider"


def test_bulls_eye_and_the_angle_boxes_turn_the_c_arm(fluoro, window):
    view, path = fluoro
    assert view.show_bulls_eye()
    entry_px, target_px = project_points(view.drr.projection, [path.entry, path.target])
    assert np.linalg.norm(entry_px - target_px) < 1e-6
    view.rotation.setValue(30.0)
    view._recompute_timer.timeout.emit()
    assert view.carm.rotation_deg == 30.0 and view.drr.carm.rotation_deg == 30.0
    assert view.view_name == "Oblique"


def test_the_pane_goes_back_and_follows_the_layout(fluoro, window):
    view, _ = fluoro
    window.set_layout("axial")
    assert not view.isVisible()
    window.set_layout("four-up")
    assert view.isVisible() and not window.views["3d"].isVisible()
    from PySide6.QtWidgets import QMenu

    menu = QMenu()  # the pane's right-click menu (and View > Fluoroscopy in pane)
    window.fluoro.fill_menu(menu)
    next(a for a in menu.actions() if a.text() == "Sagittal pane").trigger()
    assert view.isVisible() and not window.views["sagittal"].isVisible() and window.views["3d"].isVisible()
    next(a for a in menu.actions() if a.text() == "Off").trigger()
    assert not view.isVisible() and all(v.isVisible() for v in window.views.values())


def test_headless_screenshot_of_a_bulls_eye_view(synthetic_case, tmp_path, qapp):
    from osteoplan.core.session import PlanSession
    from osteoplan.ui.screenshot import render_screenshot

    session = PlanSession(synthetic_case)
    target = synthetic_case.ct.center_lps()
    path = session.new_trajectory(target + [8.0, 26.0, 0.0], target, TrajectoryKind.FREE, device_id="trocar-11g-150")
    session.editor.add_trajectory(path)
    out = render_screenshot(synthetic_case, tmp_path / "drr.png", view=f"drr:{path.id}", size=(900, 700),
                            session=session)
    image = QImage(str(out)).convertToFormat(QImage.Format.Format_Grayscale8)
    data = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes()).reshape(
        image.height(), image.bytesPerLine())[:, : image.width()]
    left = data[100:600, 20:500]  # the fluoroscopy pane fills the centre-left of the window
    assert left.std() > 20 and (left > 180).mean() > 0.05, "no DRR in the screenshot"
