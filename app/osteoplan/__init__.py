"""OsteoPlan: rehearse a percutaneous bone-metastasis treatment on the patient's CT."""

__version__ = "0.1.0"
