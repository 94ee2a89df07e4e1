"""The CT and what is read straight off it: volumes in LPS mm, image and label-map loading (TotalSegmentator's
outputs included), the loaded case, tissue classes from HU, bone/body masks and fields, content hashes, the demo
phantoms, and the critical structures found on the CT itself (`automatic`: canal, vertebrae, vessels, air).

May import: no other core package (only the shared basics `errors`, `resources`, `entry_points`).
"""
