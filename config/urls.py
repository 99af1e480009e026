"""URLs of the monolith: probes, admin, API schema; contexts mount their APIs here as they arrive."""

from django.contrib import admin
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from gateway.api import RouteTableView, metrics_view
from gateway.health import healthz, readyz
from gateway.views import spa_index

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/gateway/routes/", RouteTableView.as_view(), name="gateway-routes"),
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[]), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema", permission_classes=[]), name="api-docs"),
    re_path(r"^(?!api/|admin/|static/|ws/|internal/|healthz|readyz|metrics).*$", spa_index, name="spa"),
]

handler404 = "gateway.views.not_found"
handler500 = "gateway.views.server_error"
