"""Docks from plugins: one per ``osteoplan.ui_panels`` entry point (protocol `plugin_api.UIPanel`).

A panel that fails (its class cannot be created, its title is not text, `create_panel`
raises or returns something that is not a QWidget) is reported once (logged, and one line
in the status bar) and skipped: the window still opens with every other panel.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QWidget

MAX_TITLE = 60


def _panel_dock(window: QMainWindow, name: str, panel: object) -> QDockWidget:
    from osteoplan.core.entry_points import instantiate

    panel = instantiate(panel)
    title = getattr(panel, "title", None)
    if not isinstance(title, str) or not title.strip():
        raise ValueError(f"its title is {title!r}, not a non-empty text")
    widget = panel.create_panel(window)
    if not isinstance(widget, QWidget):
        raise TypeError(f"create_panel returned {type(widget).__name__}, not a QWidget")
    dock = QDockWidget(title.strip()[:MAX_TITLE], window)
    dock.setObjectName("plugin_dock_" + re.sub(r"[^A-Za-z0-9_]", "_", name))
    dock.setWidget(widget)
    dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                     | QDockWidget.DockWidgetFeature.DockWidgetClosable)
    dock.setToolTip(f"Panel added by the plugin {name!r}")
    return dock


def add_plugin_panels(window: QMainWindow, beside: QDockWidget | None = None) -> dict[str, QDockWidget]:
    """Add a dock per plugin panel (tabbed with `beside`); returns ``{entry-point name: dock}``."""
    from osteoplan.core.entry_points import UI_PANELS, describe_error, problems, registered, report_once

    docks: dict[str, QDockWidget] = {}
    failed = 0
    for name, panel in registered(UI_PANELS).items():
        try:
            dock = _panel_dock(window, name, panel)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a broken plugin must not stop the app
            report_once(f"plugin panel {name!r} could not be created and was skipped: {describe_error(exc)}")
            failed += 1
            continue
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        if beside is not None:
            window.tabifyDockWidget(beside, dock)
        docks[name] = dock
    failed += sum(1 for p in problems() if f"group {UI_PANELS}" in p)  # could not even be imported
    if failed:
        window.statusBar().showMessage(f"{failed} plugin panel(s) could not be loaded and were skipped "
                                       "(details in the log)", 15000)
    return docks
