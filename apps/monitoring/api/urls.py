"""URLs of the monitoring context's API, with their full paths (the gateway dispatches here by prefix)."""

from django.urls import URLPattern, URLResolver, path

from apps.monitoring.api import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/monitoring/health/", views.HealthApi.as_view(), name="monitoring-health"),
    path("api/monitoring/alerts/", views.AlertListApi.as_view(), name="monitoring-alerts"),
    path("api/monitoring/alerts/<int:alert_id>/", views.AlertDetailApi.as_view(), name="monitoring-alert"),
    path(
        "api/monitoring/alerts/<int:alert_id>/acknowledge/",
        views.AlertAcknowledgeApi.as_view(),
        name="monitoring-alert-acknowledge",
    ),
    path(
        "api/monitoring/alerts/<int:alert_id>/resolve/",
        views.AlertResolveApi.as_view(),
        name="monitoring-alert-resolve",
    ),
    path("api/dashboard/stats/", views.DashboardStatsApi.as_view(), name="dashboard-stats"),
    path("api/analytics/", views.AnalyticsApi.as_view(), name="analytics"),
]
