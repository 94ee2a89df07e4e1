"""A Qt widget hosting one VTK render window, that also renders under QT_QPA_PLATFORM=offscreen."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QApplication, QWidget
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleUser
from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow, vtkWindowToImageFilter

import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (registers the OpenGL render window)


class _OffscreenRenderWindow(vtkRenderWindow):
    """Ignores Qt's window id: under the offscreen platform it is fake, and EGL would draw black."""

    def SetWindowInfo(self, info):  # noqa: N802 (VTK naming)
        pass


def is_offscreen() -> bool:
    app = QApplication.instance()
    return app is not None and app.platformName() == "offscreen"


class VtkPane(QVTKRenderWindowInteractor):
    """QVTKRenderWindowInteractor with one renderer and no default VTK interaction style.

    Interaction is wired by the owning view through `interactor` observers.
    """

    def __init__(self, parent: QWidget | None = None, background=(0.0, 0.0, 0.0)) -> None:
        if is_offscreen():
            render_window = _OffscreenRenderWindow()
            render_window.SetOffScreenRendering(True)
            super().__init__(parent, rw=render_window)
        else:
            super().__init__(parent)
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(*background)
        self.GetRenderWindow().AddRenderer(self.renderer)
        self.interactor = self.GetRenderWindow().GetInteractor()
        self.interactor.SetInteractorStyle(vtkInteractorStyleUser())
        self._initialized = False
        self.render_hooks: list = []  # callables(pane) run before each render (overlays follow the camera)
        self._stale = False  # a render was skipped while hidden: draw when shown
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.timeout.connect(self.render)

    def showEvent(self, event):  # noqa: N802 (Qt naming)
        super().showEvent(event)
        self.ensure_initialized()
        if self._stale:
            self.request_render()

    def ensure_initialized(self) -> None:
        if not self._initialized:
            self.Initialize()
            self._initialized = True

    def request_render(self, delay_ms: int = 0) -> None:
        """Render once, soon: many requests in one burst of events cost one frame."""
        if not self._render_timer.isActive():
            self._render_timer.start(delay_ms)

    def render(self) -> None:  # shadows QWidget.render on purpose: views call it to redraw
        self._render_timer.stop()
        if not self.isVisible():  # e.g. the needle views while their panel is closed
            self._stale = True
            return
        self._stale = False
        for hook in self.render_hooks:
            hook(self)
        self.prepare_frame()
        self.ensure_initialized()
        window = self.GetRenderWindow()
        if is_offscreen():
            ratio = self.devicePixelRatioF()
            window.SetSize(max(int(self.width() * ratio), 1), max(int(self.height() * ratio), 1))
        window.Render()

    def prepare_frame(self) -> None:
        """Last adjustments before a frame (subclasses: clipping range, etc.)."""

    def capture(self) -> QImage:
        """The pane's current pixels (what VTK drew), as a QImage the size of the widget."""
        self.render()
        grabber = vtkWindowToImageFilter()
        grabber.SetInput(self.GetRenderWindow())
        grabber.ReadFrontBufferOff()
        grabber.ShouldRerenderOff()
        grabber.Update()
        data = grabber.GetOutput()
        width, height, _ = data.GetDimensions()
        pixels = vtk_to_numpy(data.GetPointData().GetScalars()).reshape(height, width, -1)[::-1]
        rgb = np.ascontiguousarray(pixels[..., :3])
        image = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
        return image.scaled(self.width(), self.height()) if (width, height) != (self.width(), self.height()) else image

    def pixels(self) -> np.ndarray:
        """Current pixels as an (h, w, 3) uint8 array (for tests and screenshots)."""
        image = self.capture().convertToFormat(QImage.Format.Format_RGB888)
        ptr = image.constBits()
        array = np.frombuffer(ptr, dtype=np.uint8, count=image.sizeInBytes()).reshape(image.height(), image.bytesPerLine())
        return array[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()

    def close_pane(self) -> None:
        """Release the OpenGL resources before Qt destroys the widget."""
        self.GetRenderWindow().Finalize()


def grab_window(window: QWidget) -> QImage:
    """The window as the user sees it: Qt widgets from grab(), VTK panes painted over it."""
    image = window.grab().toImage()
    painter = QPainter(image)
    for pane in window.findChildren(VtkPane):
        if pane.isVisible():
            painter.drawImage(pane.mapTo(window, pane.rect().topLeft()), pane.capture())
    painter.end()
    return image
