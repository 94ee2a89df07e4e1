"""Automatic path proposals: the coarse ray search and the ranked, safety-checked candidates.

May import: `imaging`, `planning`, `safety`, and `session` (the `osteoplan propose` command opens one).
"""
