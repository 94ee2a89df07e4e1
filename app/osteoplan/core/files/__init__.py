"""Files of a plan: plan files (versioned JSON, migrations, errors), atomic writes, autosave,
edited structure masks, and 3D Slicer markups and segmentations.

May import: `imaging`, `planning`, `safety`.
"""
