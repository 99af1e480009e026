"""The registry's API (API_CONTRACT.md "registry context"): services, their health and panels, discovery.

Reads are open (anonymous callers see active services only); writes need the manage_services capability,
asked of the users context through its public interface.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.kernel.pagination import paginated_response
from apps.kernel.timestamps import timestamp
from apps.registry.models import ApiType, HealthCheck, HealthStatus, ImputationService, ReferencePanel
from apps.registry.selectors.services import (
    panel_list,
    service_get,
    service_is_at_risk,
    service_list,
    services_discover,
)
from apps.registry.services import services as service_writes
from apps.registry.services.health import services_health_check
from apps.registry.services.panels import service_panels_sync
from apps.users.public import UserNotFoundError, get_users_service

ID_MAX = 2**63 - 1


def _caller_id(request: Request) -> int | None:
    user = request.user
    return int(user.pk) if user and user.is_authenticated else None


def _manages_services(request: Request) -> bool:
    caller = _caller_id(request)
    if caller is None:
        return False
    try:
        return get_users_service().user_get(user_id=caller).can("manage_services")
    except UserNotFoundError:
        return False


class CanManageServices(BasePermission):
    message = "This needs the 'manage_services' capability, which your role does not have."

    def has_permission(self, request: Request, view: Any) -> bool:
        return _manages_services(request)


class ReadOpenWriteManaged(CanManageServices):
    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in ("GET", "HEAD", "OPTIONS") or super().has_permission(request, view)


def _panel_count(service: ImputationService) -> int:
    annotated = getattr(service, "panel_count", None)  # service_list annotates it; a single lookup counts
    return int(annotated) if annotated is not None else service.panels.filter(is_available=True).count()


def health_body(service: ImputationService) -> dict[str, Any]:
    return {
        "status": service.health_status,
        "checked_at": timestamp(service.health_checked_at),
        "response_time_ms": service.health_response_time_ms,
        "message": service.health_message,
    }


def service_body(service: ImputationService, *, detail: bool = False) -> dict[str, Any]:
    body = {
        "id": service.pk,
        "name": service.name,
        "slug": service.slug,
        "api_type": service.api_type,
        "base_url": service.base_url,
        "description": service.description,
        "location": {
            "country": service.country,
            "city": service.city,
            "institution": service.institution,
            "lat": service.latitude,
            "lon": service.longitude,
        },
        "requires_auth": service.requires_auth,
        "max_file_size_mb": service.max_file_size_mb,
        "supported_formats": service.supported_formats,
        "supported_builds": service.supported_builds,
        "limits": {
            "max_jobs": service.max_jobs,
            "min_samples": service.min_samples,
            "max_samples": service.max_samples,
            "downloads_per_file": service.downloads_per_file,
            "retention_days": service.retention_days,
        },
        "is_active": service.is_active,
        "health": health_body(service),
        "panel_count": _panel_count(service),
    }
    if detail:
        body |= {
            "app_id": service.app_id,
            "health_check_interval_seconds": service.health_check_interval_seconds,
            "at_risk": service_is_at_risk(service),
            "server_info": service.server_info,
            "server_info_at": timestamp(service.server_info_at),
            "panels_synced_at": timestamp(service.panels_synced_at),
        }
    return body


def panel_body(panel: ReferencePanel) -> dict[str, Any]:
    return {
        "id": panel.pk,
        "service_id": panel.service_id,
        "slug": panel.slug,
        "name": panel.name,
        "description": panel.description,
        "build": panel.build,
        "populations": panel.populations,
        "samples_count": panel.samples_count,
        "variants_count": panel.variants_count,
        "is_available": panel.is_available,
    }


def check_body(check: HealthCheck) -> dict[str, Any]:
    return {
        "status": check.status,
        "checked_at": timestamp(check.checked_at),
        "response_time_ms": check.response_time_ms,
        "message": check.message,
    }


class LocationSerializer(serializers.Serializer):
    country = serializers.RegexField(r"^[A-Z]{2}$", allow_blank=True, required=False)
    city = serializers.CharField(max_length=100, allow_blank=True, required=False)
    institution = serializers.CharField(max_length=200, allow_blank=True, required=False)
    lat = serializers.FloatField(min_value=-90, max_value=90, allow_null=True, required=False)
    lon = serializers.FloatField(min_value=-180, max_value=180, allow_null=True, required=False)


def _limit() -> serializers.IntegerField:
    return serializers.IntegerField(min_value=0, max_value=10**9, allow_null=True, required=False)


class LimitsSerializer(serializers.Serializer):
    max_jobs = _limit()
    min_samples = _limit()
    max_samples = _limit()
    downloads_per_file = _limit()
    retention_days = _limit()


class ServiceInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=100)
    api_type = serializers.ChoiceField(choices=ApiType.choices)
    base_url = serializers.URLField(max_length=500)
    app_id = serializers.CharField(max_length=500, allow_blank=True, required=False)
    description = serializers.CharField(allow_blank=True, required=False)
    location = LocationSerializer(required=False)
    requires_auth = serializers.BooleanField(required=False)
    max_file_size_mb = _limit()
    supported_formats = serializers.ListField(child=serializers.CharField(max_length=20), max_length=10, required=False)
    supported_builds = serializers.ListField(
        child=serializers.ChoiceField(choices=["hg19", "hg38"]), max_length=2, required=False
    )
    limits = LimitsSerializer(required=False)
    is_active = serializers.BooleanField(required=False)
    health_check_interval_seconds = serializers.IntegerField(min_value=30, max_value=86_400, required=False)

    def model_fields(self) -> dict[str, Any]:
        """The validated body flattened onto the model's columns."""
        data = dict(self.validated_data)
        location = data.pop("location", {})
        renamed = {"lat": "latitude", "lon": "longitude"}
        data |= {renamed.get(name, name): value for name, value in location.items()}
        data |= data.pop("limits", {})
        return data


def _flag(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    if raw not in ("true", "false"):
        raise serializers.ValidationError({name: [f"{name} must be true or false."]})
    return raw == "true"


class ServiceListApi(APIView):
    permission_classes = [ReadOpenWriteManaged]

    def get(self, request: Request) -> Response:
        health = request.query_params.get("health_status") or None
        if health and health not in HealthStatus.values:
            raise serializers.ValidationError({"health_status": [f"One of {', '.join(HealthStatus.values)}."]})
        services = service_list(
            active_only=not _manages_services(request),
            api_type=request.query_params.get("api_type") or None,
            is_active=_flag(request, "is_active"),
            health_status=health,
            country=request.query_params.get("country") or None,
            search=(request.query_params.get("search") or "").strip() or None,
        )
        return paginated_response(
            items=services, render=lambda page: [service_body(s) for s in page], request=request, view=self
        )

    def post(self, request: Request) -> Response:
        data = ServiceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        service = service_writes.service_create(actor_id=_caller_id(request), fields=data.model_fields())
        return Response(service_body(service, detail=True), status=status.HTTP_201_CREATED)


class ServiceDetailApi(APIView):
    permission_classes = [ReadOpenWriteManaged]

    def get(self, request: Request, key: str) -> Response:
        service = service_get(id_or_slug=key, active_only=not _manages_services(request))
        return Response(service_body(service, detail=True))

    def patch(self, request: Request, key: str) -> Response:
        service = service_get(id_or_slug=key)
        data = ServiceInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        updated = service_writes.service_update(
            actor_id=_caller_id(request), service_id=service.pk, fields=data.model_fields()
        )
        return Response(service_body(updated, detail=True))

    def delete(self, request: Request, key: str) -> Response:
        service = service_get(id_or_slug=key)
        deactivated = service_writes.service_deactivate(
            actor_id=_caller_id(request), service_id=service.pk, force=_flag(request, "force") is True
        )
        return Response(service_body(deactivated, detail=True))


class ServiceHealthApi(APIView):
    permission_classes = [ReadOpenWriteManaged]

    def get(self, request: Request, key: str) -> Response:
        service = service_get(id_or_slug=key, active_only=not _manages_services(request))
        history = service.health_checks.all()[:100]
        return Response({**health_body(service), "history": [check_body(check) for check in history]})

    def post(self, request: Request, key: str) -> Response:
        """Probe now; answers when the probe has finished (at most the service's connect + read timeout)."""
        service = service_get(id_or_slug=key)
        services_health_check(services=[service])
        service.refresh_from_db()
        history = service.health_checks.all()[:100]
        return Response({**health_body(service), "history": [check_body(check) for check in history]})


class ServiceSyncApi(APIView):
    permission_classes = [CanManageServices]

    def post(self, request: Request, key: str) -> Response:
        service = service_get(id_or_slug=key)
        result = service_panels_sync(actor_id=_caller_id(request), service=service)
        panels = panel_list(service_id=service.pk, active_only=False)
        return Response(
            {
                "created": result.created,
                "updated": result.updated,
                "unavailable": result.unavailable,
                "panels": [panel_body(panel) for panel in panels],
            }
        )


class DiscoverApi(APIView):
    """Ranked services for a job: ?lat=&lon= (the caller's location), ?build=, ?samples=."""

    permission_classes = [AllowAny]

    class QuerySerializer(serializers.Serializer):
        lat = serializers.FloatField(min_value=-90, max_value=90, required=False)
        lon = serializers.FloatField(min_value=-180, max_value=180, required=False)
        build = serializers.ChoiceField(choices=["hg19", "hg38"], required=False)
        samples = serializers.IntegerField(min_value=1, max_value=10**7, required=False)

    def get(self, request: Request) -> Response:
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        caller = _caller_id(request)
        rights = None
        if caller is not None:
            users = get_users_service()
            rights = {
                service.pk: users.service_permission_has(
                    user_id=caller, service_id=service.pk, permission="submit_jobs"
                )
                for service in ImputationService.objects.using("registry").filter(is_active=True)
            }
        ranked = services_discover(
            latitude=params.get("lat"),
            longitude=params.get("lon"),
            build=params.get("build"),
            samples=params.get("samples"),
            submit_rights=rights,
        )
        results = [
            {
                **service_body(item.service),
                "score": item.score,
                "score_parts": item.reasons,
                "distance_km": None if item.distance_km is None else round(item.distance_km, 1),
                "active_jobs": item.active_jobs,
                "can_submit": item.can_submit,
            }
            for item in ranked
        ]
        return Response({"count": len(results), "next": None, "previous": None, "results": results})


class PanelListApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        raw_service = request.query_params.get("service") or None
        service_id = None
        if raw_service is not None:
            service_id = service_get(id_or_slug=raw_service, active_only=not _manages_services(request)).pk
        panels = panel_list(
            service_id=service_id,
            build=request.query_params.get("build") or None,
            population=request.query_params.get("population") or None,
            active_only=not _manages_services(request),
        )
        return paginated_response(
            items=panels, render=lambda page: [panel_body(p) for p in page], request=request, view=self
        )
