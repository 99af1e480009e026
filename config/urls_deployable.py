"""URLs of an extracted deployable (DEPLOYABLE=<context>): the probes, its own /metrics (per-alias database and
cache metrics; the business metrics in the monitoring deployable) and that one context's API."""

from django.conf import settings
from django.urls import include, path

from gateway.api import metrics_view
from gateway.health import healthz, readyz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("", include(settings.DEPLOYABLE_URLCONF)),
]

handler404 = "gateway.views.not_found"
handler500 = "gateway.views.server_error"
