"""The context router as Django uses it: reads and writes by app label, strict relations, exact migrations."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.db import models, router
from django.test.utils import isolate_apps

from apps.jobs.models import InboxEntry as JobsInbox
from apps.jobs.models import OutboxEvent as JobsOutbox
from apps.users.models import User
from config.routers import alias_for


@pytest.mark.parametrize(
    ("label", "alias"),
    [
        ("users.User", "users"),
        ("users.User_groups", "users"),
        ("auth.Group", "users"),
        ("auth.Permission", "users"),
        ("contenttypes.ContentType", "users"),
        ("admin.LogEntry", "users"),
        ("sessions.Session", "users"),
        ("registry.OutboxEvent", "registry"),
        ("jobs.OutboxEvent", "jobs"),
        ("files.InboxEntry", "files"),
        ("notifications.OutboxEvent", "notifications"),
        ("monitoring.InboxEntry", "monitoring"),
    ],
)
def test_reads_and_writes_go_to_the_models_context_database(label: str, alias: str) -> None:
    model = apps.get_model(label)

    assert router.db_for_read(model) == alias
    assert router.db_for_write(model) == alias


def test_the_legacy_app_lives_in_the_legacy_database() -> None:
    assert alias_for("imputation") == "legacy"


def test_a_model_of_an_app_without_an_alias_is_refused_naming_the_app() -> None:
    with isolate_apps("apps.kernel"):
        meta = type("Meta", (), {"app_label": "kernel"})
        cursor: type[models.Model] = type("Cursor", (models.Model,), {"__module__": __name__, "Meta": meta})
        message = "app 'kernel' has no database alias; add it to DATABASE_ALIAS_BY_APP in config/settings"
        with pytest.raises(ImproperlyConfigured) as read:
            router.db_for_read(cursor)
        with pytest.raises(ImproperlyConfigured) as write:
            router.db_for_write(cursor)

    assert str(read.value) == message
    assert str(write.value) == message


def test_relations_are_allowed_within_a_database() -> None:
    assert router.allow_relation(User(), Group()) is True
    assert router.allow_relation(JobsOutbox(), JobsInbox()) is True


def test_relations_across_databases_are_refused() -> None:
    assert router.allow_relation(User(), JobsOutbox()) is False
    assert router.allow_relation(JobsInbox(), Group()) is False


def test_each_app_migrates_on_its_own_database_only_and_nothing_on_default() -> None:
    labels = [*settings.DATABASE_ALIAS_BY_APP]

    migrates_on = {label: [db for db in settings.DATABASES if router.allow_migrate(db, label)] for label in labels}

    assert migrates_on == {
        "users": ["users"],
        "auth": ["users"],
        "contenttypes": ["users"],
        "admin": ["users"],
        "sessions": ["users"],
        "token_blacklist": ["users"],
        "axes": ["users"],
        "registry": ["registry"],
        "jobs": ["jobs"],
        "files": ["files"],
        "notifications": ["notifications"],
        "monitoring": ["monitoring"],
        "imputation": ["legacy"],
        "node": ["node"],
    }


def test_migrating_an_app_without_an_alias_fails_loudly_instead_of_being_skipped() -> None:
    with pytest.raises(ImproperlyConfigured, match="app 'kernel' has no database alias"):
        router.allow_migrate("jobs", "kernel")
