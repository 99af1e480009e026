"""URLs of the jobs context's API, with their full paths (the gateway dispatches here by prefix)."""

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
