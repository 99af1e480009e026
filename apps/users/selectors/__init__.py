"""Reads of the users context, one module per area."""
