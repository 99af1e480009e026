"""Writes of the registry about services themselves: register, change, deactivate.

Changes are made by service managers (the view checks the capability through apps.users.public) and each one is
recorded as a `user.action.logged` event in the registry's outbox, in the same transaction.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.connectors.base import SUPPORTED_API_TYPES
from apps.connectors.base import base_url_normalize as protocol_url_normalize
from apps.kernel.envelope import USER_ACTION_LOGGED
from apps.kernel.errors import ApplicationError, ConflictError, NotFoundError
from apps.kernel.outbox import outbox_record
from apps.registry.models import DB, ImputationService, OutboxEvent
from apps.registry.outbound import base_url_normalize
from apps.registry.selectors.services import active_job_count

SERVICE_FIELDS = (
    "name",
    "slug",
    "api_type",
    "base_url",
    "app_id",
    "description",
    "country",
    "city",
    "institution",
    "latitude",
    "longitude",
    "requires_auth",
    "max_file_size_mb",
    "supported_formats",
    "supported_builds",
    "max_jobs",
    "min_samples",
    "max_samples",
    "downloads_per_file",
    "retention_days",
    "is_active",
    "health_check_interval_seconds",
)


def registry_action_record(*, action: str, actor_id: int | None, service: ImputationService, **details: Any) -> None:
    """The audit event of a registry change; runs inside the change's transaction."""
    outbox_record(
        outbox=OutboxEvent,
        topic=USER_ACTION_LOGGED,
        aggregate_id=service.pk,
        payload={
            "actor_id": actor_id,
            "action": action,
            "resource_type": "service",
            "resource_id": str(service.pk),
            "ip": "",
            "user_agent": "",
            "details": {"slug": service.slug, **details},
        },
    )


def service_url_normalize(*, api_type: str, base_url: str) -> str:
    """Safe (http(s), no credentials) and in the one form the protocol's connector expects, stored once."""
    url = base_url_normalize(base_url)
    return protocol_url_normalize(api_type=api_type, base_url=url) if api_type in SUPPORTED_API_TYPES else url


def _clean_save(service: ImputationService) -> None:
    if service.min_samples and service.max_samples and service.min_samples > service.max_samples:
        raise ApplicationError(
            "The sample limits are inverted.", details={"min_samples": ["min_samples is above max_samples."]}
        )
    try:
        service.full_clean(validate_unique=False)  # a taken slug is a conflict (409), found by the insert
    except ValidationError as exc:
        raise ApplicationError("The service is not valid.", details=exc.message_dict) from exc
    try:
        with transaction.atomic(using=DB):
            service.save(using=DB)
    except IntegrityError as exc:
        raise ConflictError(f"A service with the slug {service.slug!r} already exists.") from exc


def service_create(*, actor_id: int | None, fields: dict[str, Any]) -> ImputationService:
    unknown = sorted(set(fields) - set(SERVICE_FIELDS))
    if unknown:
        raise ValueError(f"not service fields: {unknown}")
    url = service_url_normalize(api_type=fields["api_type"], base_url=fields["base_url"])
    service = ImputationService(**{**fields, "base_url": url})
    with transaction.atomic(using=DB):
        _clean_save(service)
        registry_action_record(action="service_created", actor_id=actor_id, service=service)
    return service


def service_update(*, actor_id: int | None, service_id: int, fields: dict[str, Any]) -> ImputationService:
    with transaction.atomic(using=DB):
        service = ImputationService.objects.using(DB).select_for_update().filter(pk=service_id).first()
        if service is None:
            raise NotFoundError("Not found.")
        for name, value in fields.items():
            setattr(service, name, value)
        if {"base_url", "api_type"} & set(fields):
            service.base_url = service_url_normalize(api_type=service.api_type, base_url=service.base_url)
        _clean_save(service)
        registry_action_record(action="service_updated", actor_id=actor_id, service=service, changed=sorted(fields))
    return service


def service_deactivate(*, actor_id: int | None, service_id: int, force: bool = False) -> ImputationService:
    """DELETE deactivates (history and panels stay); refused while jobs are active unless forced."""
    with transaction.atomic(using=DB):
        service = ImputationService.objects.using(DB).select_for_update().filter(pk=service_id).first()
        if service is None:
            raise NotFoundError("Not found.")
        active = active_job_count(service_id=service.pk)
        if active and not force:
            raise ConflictError(
                f"{active} job(s) are still active on {service.name}; wait for them or deactivate with ?force=true.",
                details={"active_jobs": active},
            )
        service.is_active = False
        service.save(using=DB, update_fields=["is_active", "updated_at"])
        registry_action_record(
            action="service_deactivated", actor_id=actor_id, service=service, forced=force, active_jobs=active
        )
    return service
