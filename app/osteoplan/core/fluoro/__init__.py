"""Virtual fluoroscopy: C-arm geometry, DRRs, and the lateral/AP rule of transpedicular access.

May import: `imaging`, `planning`, `safety`.
"""
