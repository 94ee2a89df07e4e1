"""What a plan says as a whole: the `osteoplan check` object and the content of the PDF report.

May import: every core package (imaging, display, planning, safety, ablation, cement, fluoro, files) and `session`.
"""
