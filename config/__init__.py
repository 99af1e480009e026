"""Composition root: settings, URLs, ASGI, Celery and the database router; the only place wiring every context."""

from config.celery import app as celery_app

__all__ = ["celery_app"]
