"""App configuration of the monitoring context: per-alias database metrics and, in the process that hosts this
context, the business metrics collector."""

from django.apps import AppConfig
from django.conf import settings


def hosts_monitoring() -> bool:
    """This process serves the monitoring context: the monolith (unless monitoring was extracted) or its deployable."""
    if settings.DEPLOYABLE == "monitoring":
        return True
    return settings.DEPLOYABLE == "monolith" and "monitoring" not in settings.CONTEXT_URLS


class MonitoringConfig(AppConfig):
    name = "apps.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"
    _collector_registered = False

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from prometheus_client import REGISTRY

        from apps.monitoring.instrumentation import connection_instrument
        from apps.monitoring.metrics import MonitoringCollector

        if settings.MONITORING_DB_METRICS:
            connection_created.connect(connection_instrument, dispatch_uid="monitoring.db_metrics")
        if hosts_monitoring() and not MonitoringConfig._collector_registered:
            REGISTRY.register(MonitoringCollector())
            MonitoringConfig._collector_registered = True
