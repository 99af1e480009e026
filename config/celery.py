"""The Celery application: JSON-only, late acks, tasks discovered in every installed app's tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("fip")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
