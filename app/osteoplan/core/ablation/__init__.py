"""Thermal ablation: the zone models (table model, plugins, bioheat refine), what a zone means
(coverage, temperatures, distances) and its warnings.

May import: `imaging`, `planning`, `safety`.
"""
