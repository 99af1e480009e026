"""Reads of the registry context."""
