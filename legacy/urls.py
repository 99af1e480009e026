"""URLs of the pre-split monolith's API; empty until the legacy code is brought in for the migration."""

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
