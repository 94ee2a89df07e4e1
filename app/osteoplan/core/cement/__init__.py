"""Cement (PMMA) spread: the front-propagation model, leak gateways, stepwise injection, cement
models by name, and the simulation of a plan's injections with its warnings.

May import: `imaging`, `planning`, `safety`.
"""
