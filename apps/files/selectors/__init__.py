"""Reads of the files context."""
