"""What a plan says as a whole: the `osteoplan check` object and the content of the PDF report.

May import: every core package and `session`.
"""
