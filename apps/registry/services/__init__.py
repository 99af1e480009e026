"""Writes of the registry context, one module per area; each function owns its transaction on the `registry` alias."""
