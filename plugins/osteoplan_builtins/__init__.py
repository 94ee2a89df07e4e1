"""OsteoPlan's built-in extensions, registered through the public entry points (see pyproject.toml)."""
