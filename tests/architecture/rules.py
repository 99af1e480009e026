"""Architecture rules import-linter cannot see: database routing, relations, app registration, task names, test markers.

Each rule returns a sorted list of readable violations; an empty list means the rule holds. The rules are plain
functions over what they are given, so the suite runs them on the real project and on planted violations alike.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from pathlib import Path, PurePath

from celery import Celery
from django.apps import AppConfig, apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import router
from django.db.models import Field, Model

# `default` is deliberately empty so an unrouted query fails; it never counts as a home for a model
TRAP_ALIAS = "default"
LIBRARY_APPS = ("apps.kernel", "apps.connectors", "apps.genomics")
PROJECT_PACKAGES = ("apps", "gateway", "config", "legacy")
PACKAGE_PARENTS = ("apps", "legacy")
# the pre-split monolith's app was called `imputation`; its queued messages keep their old names
LEGACY_TASK_PREFIXES = ("legacy.", "imputation.")


def unrouted_models(models: Iterable[type[Model]]) -> list[str]:
    """Models that do not live in exactly one configured database: their own context's alias."""
    homes = [alias for alias in settings.DATABASES if alias != TRAP_ALIAS]
    problems = []
    for model in models:
        label, app_label = model._meta.label, model._meta.app_label
        alias = settings.DATABASE_ALIAS_BY_APP.get(app_label)
        if alias is None:
            problems.append(f"{label}: app {app_label!r} has no entry in DATABASE_ALIAS_BY_APP")
            continue
        if alias not in homes:
            problems.append(f"{label}: alias {alias!r} is not a configured database")
            continue
        routed = {router.db_for_read(model), router.db_for_write(model)}
        if routed != {alias}:
            problems.append(f"{label}: reads and writes go to {sorted(routed)}, not {alias!r}")
        migrates_on = [db for db in settings.DATABASES if router.allow_migrate_model(db, model)]
        if migrates_on != [alias]:
            problems.append(f"{label}: migrates on {migrates_on}, not only {alias!r}")
    return sorted(problems)


def cross_alias_relations(models: Iterable[type[Model]]) -> list[str]:
    """Every FK, OneToOne and M2M (through models included) whose two ends live in different databases."""
    problems = []
    for model in models:
        fields: list[Field] = [*model._meta.local_fields, *model._meta.local_many_to_many]
        for field in fields:
            target = field.related_model
            if not field.is_relation or target is None:
                continue
            source = f"{model._meta.label}.{field.name}"
            if isinstance(target, str):
                problems.append(f"{source} -> {target} (unresolved, cannot be routed)")
                continue
            here, there = _alias_of(model), _alias_of(target)
            if here != there:
                problems.append(f"{source} -> {target._meta.label} (alias {here} != {there})")
    return sorted(problems)


def _alias_of(model: type[Model]) -> str:
    try:
        return router.db_for_write(model)
    except ImproperlyConfigured:
        return "<unrouted>"


def apps_without_router_entry(app_configs: Iterable[AppConfig]) -> list[str]:
    """Installed apps that own models (auto-created ones included) but have no DATABASE_ALIAS_BY_APP entry."""
    return sorted(
        f"{config.name} (label {config.label!r})"
        for config in app_configs
        if _model_labels(config) and config.label not in settings.DATABASE_ALIAS_BY_APP
    )


def library_apps_with_models(app_configs: Iterable[AppConfig]) -> list[str]:
    """The shared libraries own no tables: they have no database of their own to keep them in."""
    return sorted(
        f"{config.name}: {', '.join(labels)}"
        for config in app_configs
        if config.name in LIBRARY_APPS and (labels := _model_labels(config))
    )


def _model_labels(config: AppConfig) -> list[str]:
    return sorted(model._meta.label for model in config.get_models(include_auto_created=True))


def uninstalled_packages(root: Path | None = None, installed: Collection[str] | None = None) -> list[str]:
    """Packages directly under apps/ and legacy/ (regular or namespace) that INSTALLED_APPS does not list.

    `installed` defaults to the names of the installed app configs, so dotted AppConfig paths count as installed.
    """
    root = Path(settings.BASE_DIR) if root is None else root
    installed = {config.name for config in apps.get_app_configs()} if installed is None else installed
    found = [
        f"{parent}.{child.name}"
        for parent in PACKAGE_PARENTS
        if (root / parent).is_dir()
        for child in (root / parent).iterdir()
        if child.is_dir() and any(child.glob("*.py"))
    ]
    return sorted(name for name in found if name not in installed)


def project_tasks(celery_app: Celery) -> dict[str, str]:
    """{task name: module of the task function} for the tasks the project defines (Celery's own are left out)."""
    return {
        name: task.__module__
        for name, task in celery_app.tasks.items()
        if task.__module__.split(".")[0] in PROJECT_PACKAGES
    }


def misnamed_tasks(tasks: Mapping[str, str]) -> list[str]:
    """Tasks whose name is not namespaced by the app that defines them.

    A task under apps.<x> must be named "<x>.…" (Celery's default, the module path "apps.<x>.tasks.…", is not).
    Legacy tasks may be "legacy.…" or keep the old monolith's "imputation.…" names, so messages already queued
    by the old deployment still find their task. gateway/config tasks are namespaced by their package.
    """
    problems = []
    for name, module in tasks.items():
        prefixes = _task_prefixes(module)
        if prefixes and not name.startswith(prefixes):
            wanted = " or ".join(repr(prefix) for prefix in prefixes)
            problems.append(f"{name} ({module}) must start with {wanted}")
    return sorted(problems)


def _task_prefixes(module: str) -> tuple[str, ...]:
    parts = module.split(".")
    if parts[0] == "legacy":
        return LEGACY_TASK_PREFIXES
    if parts[0] == "apps" and len(parts) > 1:
        return (f"{parts[1]}.",)
    if parts[0] in PROJECT_PACKAGES:
        return (f"{parts[0]}.",)
    return ()


def foreign_database_markers(test_path: str | PurePath, databases: Iterable[str]) -> list[str]:
    """Aliases a test under apps/<ctx>/tests/ asks for other than its own context's <ctx>.

    `databases` is what pytest-django would open: a bare django_db means ["default"], "__all__" is ["__all__"];
    both are foreign. Tests elsewhere (tests/, gateway/, legacy/) are cross-cutting and not checked. A library's
    tests (apps/kernel/tests/) have no alias of their own, so any database they ask for is foreign.
    """
    parts = PurePath(test_path).parts
    contexts = [parts[i + 1] for i in range(len(parts) - 2) if parts[i] == "apps" and parts[i + 2] == "tests"]
    if not contexts:
        return []
    return sorted(set(databases) - {contexts[-1]})
