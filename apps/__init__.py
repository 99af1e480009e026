"""Bounded contexts and shared libraries of the platform, one Django app each."""
