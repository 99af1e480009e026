"""URLs of the registry context's API, with their full paths (the gateway dispatches here by prefix)."""

from django.urls import URLPattern, URLResolver, path

from apps.registry.api import internal, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/services/", views.ServiceListApi.as_view(), name="services"),
    path("api/services/discover/", views.DiscoverApi.as_view(), name="services-discover"),
    path("api/services/<str:key>/", views.ServiceDetailApi.as_view(), name="service"),
    path("api/services/<str:key>/health/", views.ServiceHealthApi.as_view(), name="service-health"),
    path("api/services/<str:key>/sync/", views.ServiceSyncApi.as_view(), name="service-sync"),
    path("api/reference-panels/", views.PanelListApi.as_view(), name="reference-panels"),
    path("internal/registry/services/<str:key>/", internal.ServiceRecordApi.as_view(), name="internal-service"),
    path(
        "internal/registry/services/<int:service_id>/panels/<str:key>/",
        internal.PanelRecordApi.as_view(),
        name="internal-panel",
    ),
]
