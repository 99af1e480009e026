"""Writes of the users context, one module per area; each function owns its transaction on the `users` alias."""
