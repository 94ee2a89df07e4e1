"""The plan and its editing: trajectories, devices, the Plan with its injections and ablations,
undo history and edits, templates, pedicle analysis and the readouts of a needle path.

May import: `imaging`.
"""
