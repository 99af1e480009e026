"""The registry's public interface: what other contexts (the jobs context above all) may know of services.

Look a service or panel up by id or slug, read its limits, and get a protocol connector for it. In-process, or
over HTTP when the registry runs as its own deployable (CONTEXT_URLS["registry"]); both implementations pass the
same tests (apps/registry/tests/test_public.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string

from apps.connectors.base import Connector, Timeouts, connector_for


@dataclass(frozen=True)
class ServiceRecord:
    id: int
    slug: str
    name: str
    api_type: str
    base_url: str
    app_id: str
    is_active: bool
    requires_auth: bool
    health_status: str
    supported_builds: tuple[str, ...]
    supported_formats: tuple[str, ...]
    max_file_size_mb: int | None
    max_jobs: int | None
    min_samples: int | None
    max_samples: int | None
    downloads_per_file: int | None
    retention_days: int | None


@dataclass(frozen=True)
class PanelRecord:
    id: int
    service_id: int
    slug: str
    name: str
    build: str
    populations: tuple[str, ...]
    is_available: bool


class RegistryError(Exception):
    """Base of the registry's public errors."""


class ServiceNotFoundError(RegistryError):
    pass


class PanelNotFoundError(RegistryError):
    pass


class RegistryUnavailableError(RegistryError):
    """The registry deployable could not be reached or answered with an error; the caller may retry later."""


class RegistryService(ABC):
    @abstractmethod
    def service_get(self, *, id_or_slug: int | str) -> ServiceRecord:
        """Active or not: a job may still refer to a deactivated service. ServiceNotFoundError when unknown."""

    @abstractmethod
    def panel_get(self, *, service_id: int, id_or_slug: int | str) -> PanelRecord:
        """A panel of that service by id, full protocol slug or bare id; PanelNotFoundError when unknown."""


def connector_of(service: ServiceRecord, *, timeouts: Timeouts | None = None) -> Connector:
    """The protocol client for a service, after the outbound URL guard (apps/registry/outbound.py)."""
    from apps.registry.outbound import outbound_url_check

    outbound_url_check(service.base_url)
    return connector_for(api_type=service.api_type, base_url=service.base_url, app_id=service.app_id, timeouts=timeouts)


LOCAL = "apps.registry.impl.LocalRegistryService"
REMOTE = "apps.registry.remote.RemoteRegistryService"


@lru_cache(maxsize=4)
def _remote(base_url: str) -> RegistryService:
    service: RegistryService = import_string(REMOTE)(base_url=base_url)
    return service


def get_registry_service() -> RegistryService:
    """In-process unless the registry has been extracted and this process is not it."""
    base_url = settings.CONTEXT_URLS.get("registry")
    if base_url and settings.DEPLOYABLE != "registry":
        return _remote(base_url)
    service: RegistryService = import_string(LOCAL)()
    return service
