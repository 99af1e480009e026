"""URLs of the monolith: probes, admin, API schema; contexts mount their APIs here as they arrive.

With NODE_EMBEDDED (the embedded default) the reference imputation node answers under /node/: its Cloudgene root is
/node and its WES base /node/ga4gh/wes/v1 (`manage.py registry_local_node` registers both). No route of the
gateway claims /node/, so the node's own tokens are never taken for platform JWTs.
"""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
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
    *([path("node/", include("apps.node.api.urls"))] if settings.NODE_EMBEDDED else []),
    re_path(r"^(?!api/|admin/|static/|ws/|internal/|node/|healthz|readyz|metrics).*$", spa_index, name="spa"),
]

handler404 = "gateway.views.not_found"
handler500 = "gateway.views.server_error"
