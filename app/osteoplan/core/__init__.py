"""OsteoPlan's Qt/VTK-free core, one subpackage per concept (each `__init__` says what it may import).

Shared basics at this level: `errors` (messages for the user), `resources` (the data files),
`entry_points` (the plugin loader). `session` ties the packages together for the GUI and the CLI.
"""
