"""The safety net: critical structures, their distance fields, the typed warnings and the rules that
raise them for needles (distances, pedicle breach, device length, spindle anchorage).

May import: `imaging`, `display`, `planning` (never `ablation` or `cement`).
"""
