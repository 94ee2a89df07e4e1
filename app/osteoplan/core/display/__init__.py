"""What the views show, Qt-free: window/level and volume-rendering presets, the viewer state,
radiological view conventions and label colours.

May import: no other core package (only the shared basics).
"""
