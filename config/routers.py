"""One database router for every context: app label -> alias, strict relations, exact migrations."""

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model


def alias_for(app_label: str) -> str:
    try:
        return settings.DATABASE_ALIAS_BY_APP[app_label]
    except KeyError:
        raise ImproperlyConfigured(
            f"app {app_label!r} has no database alias; add it to DATABASE_ALIAS_BY_APP in config/settings"
        ) from None


class ContextRouter:
    """Sends each model to its context's database and refuses anything that would join two of them."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        return alias_for(model._meta.app_label)

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        return alias_for(model._meta.app_label)

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool:
        return alias_for(obj1._meta.app_label) == alias_for(obj2._meta.app_label)

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db != "default" and alias_for(app_label) == db
