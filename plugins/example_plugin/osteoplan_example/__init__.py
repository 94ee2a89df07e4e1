"""Example OsteoPlan plugin: one device and one ablation zone model (illustrative numbers only)."""
