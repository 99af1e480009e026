"""The architecture rules hold for the project, and each one reports a planted violation exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models
from django.test import override_settings
from django.test.utils import isolate_apps

from apps.jobs.models import OutboxEvent as JobsOutbox
from config.celery import app as celery_app
from tests.architecture.rules import (
    apps_without_router_entry,
    cross_alias_relations,
    foreign_database_markers,
    library_apps_with_models,
    misnamed_tasks,
    project_tasks,
    uninstalled_packages,
    unrouted_models,
)

ROOT = Path(__file__).resolve().parents[2]


def _collected_databases(target: Path, out: Path) -> list[dict[str, Any]]:
    """Collect `target` with pytest (no test runs) and return what the db_markers plugin recorded."""
    argv = [
        *(sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"),
        *("-p", "tests.architecture.db_markers", f"--db-markers-out={out}"),
        *("--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), str(target)),
    ]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 5), result.stdout + result.stderr  # 5: nothing to collect
    return list(json.loads(out.read_text()))


def _planted_model(app_label: str, name: str, **fields: models.Field) -> type[models.Model]:
    """A model in the registry isolate_apps has installed for the test."""
    meta = type("Meta", (), {"app_label": app_label})
    return type(name, (models.Model,), {"__module__": __name__, "Meta": meta, **fields})


def _foreign_markers(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    found = {record["test"]: foreign_database_markers(record["path"], record["databases"]) for record in records}
    return {test: aliases for test, aliases in found.items() if aliases}


# --- the real project --------------------------------------------------------------------------------


def test_every_model_lives_in_exactly_its_own_contexts_database() -> None:
    assert unrouted_models(apps.get_models(include_auto_created=True)) == []


def test_no_relation_crosses_two_databases() -> None:
    assert cross_alias_relations(apps.get_models(include_auto_created=True)) == []


def test_every_app_with_models_has_a_router_entry() -> None:
    assert apps_without_router_entry(apps.get_app_configs()) == []


def test_the_shared_libraries_own_no_models() -> None:
    assert library_apps_with_models(apps.get_app_configs()) == []


def test_every_package_under_apps_and_legacy_is_installed() -> None:
    assert uninstalled_packages() == []


def test_every_celery_task_is_named_after_its_context() -> None:
    celery_app.loader.import_default_modules()  # what a worker does at start: autodiscovers every tasks.py

    assert misnamed_tasks(project_tasks(celery_app)) == []


def test_each_contexts_tests_only_open_that_contexts_database(tmp_path: Path) -> None:
    records = _collected_databases(ROOT / "apps", tmp_path / "markers.json")

    assert _foreign_markers(records) == {}


# --- planted violations --------------------------------------------------------------------------------


def test_a_model_whose_app_has_no_router_entry_is_reported() -> None:
    with isolate_apps("apps.kernel"):
        cursor = _planted_model("kernel", "Cursor")

        assert unrouted_models([cursor]) == ["kernel.Cursor: app 'kernel' has no entry in DATABASE_ALIAS_BY_APP"]


@pytest.mark.parametrize("alias", ["jobs_archive", "default"])
def test_a_model_mapped_to_a_database_that_is_not_configured_is_reported(alias: str) -> None:
    with override_settings(DATABASE_ALIAS_BY_APP={**settings.DATABASE_ALIAS_BY_APP, "jobs": alias}):
        assert unrouted_models([JobsOutbox]) == [f"jobs.OutboxEvent: alias {alias!r} is not a configured database"]


def test_without_the_router_every_model_falls_to_default_and_migrates_everywhere() -> None:
    with override_settings(DATABASE_ROUTERS=[]):
        assert unrouted_models([JobsOutbox]) == [
            "jobs.OutboxEvent: migrates on ['default', 'users', 'registry', 'jobs', 'files', "
            "'notifications', 'monitoring', 'legacy', 'node'], not only 'jobs'",
            "jobs.OutboxEvent: reads and writes go to ['default'], not 'jobs'",
        ]


def test_foreign_keys_one_to_ones_and_many_to_manys_across_databases_are_reported() -> None:
    user_model = get_user_model()
    with isolate_apps("apps.jobs"):
        batch = _planted_model("jobs", "Batch")
        job = _planted_model(
            "jobs",
            "Job",
            batch=models.ForeignKey(batch, on_delete=models.CASCADE),
            owner=models.ForeignKey(user_model, on_delete=models.CASCADE),
            team=models.OneToOneField(Group, on_delete=models.CASCADE),
            watchers=models.ManyToManyField(user_model),
        )

        assert cross_alias_relations(job._meta.apps.get_models(include_auto_created=True)) == [
            "jobs.Job.owner -> users.User (alias jobs != users)",
            "jobs.Job.team -> auth.Group (alias jobs != users)",
            "jobs.Job.watchers -> users.User (alias jobs != users)",
            "jobs.Job_watchers.user -> users.User (alias jobs != users)",
        ]


def test_an_app_that_owns_models_without_a_router_entry_is_reported() -> None:
    with isolate_apps("apps.kernel", "apps.jobs"):
        cursor = _planted_model("kernel", "Cursor")
        _planted_model("jobs", "Batch")

        assert apps_without_router_entry(cursor._meta.apps.get_app_configs()) == ["apps.kernel (label 'kernel')"]


def test_a_library_that_owns_a_model_is_reported() -> None:
    with isolate_apps("apps.kernel", "apps.jobs"):
        cursor = _planted_model("kernel", "Cursor")
        _planted_model("jobs", "Batch")

        assert library_apps_with_models(cursor._meta.apps.get_app_configs()) == ["apps.kernel: kernel.Cursor"]


def test_packages_missing_from_installed_apps_are_reported(tmp_path: Path) -> None:
    for package in ["apps/users", "apps/billing", "legacy/imputation", "legacy/reports"]:
        (tmp_path / package).mkdir(parents=True)
        (tmp_path / package / "__init__.py").touch()
    (tmp_path / "apps/audit").mkdir()
    (tmp_path / "apps/audit/models.py").touch()  # a namespace package is importable too
    (tmp_path / "apps/__pycache__").mkdir()
    (tmp_path / "apps/static").mkdir()

    missing = uninstalled_packages(tmp_path, installed={"apps.users", "legacy.imputation"})

    assert missing == ["apps.audit", "apps.billing", "legacy.reports"]


@pytest.mark.parametrize(
    ("tasks", "expected"),
    [
        pytest.param({"jobs.submit": "apps.jobs.tasks"}, [], id="namespaced"),
        pytest.param({"submit": "apps.jobs.tasks"}, ["submit (apps.jobs.tasks) must start with 'jobs.'"], id="bare"),
        pytest.param(
            {"apps.jobs.tasks.submit": "apps.jobs.tasks"},
            ["apps.jobs.tasks.submit (apps.jobs.tasks) must start with 'jobs.'"],
            id="celery-default-name",
        ),
        pytest.param(
            {"files.purge": "apps.jobs.tasks"},
            ["files.purge (apps.jobs.tasks) must start with 'jobs.'"],
            id="another-contexts-namespace",
        ),
        pytest.param(
            {"jobs_submit": "apps.jobs.tasks"},
            ["jobs_submit (apps.jobs.tasks) must start with 'jobs.'"],
            id="prefix-without-dot",
        ),
        pytest.param({"imputation.run_job": "legacy.imputation.tasks"}, [], id="legacy-old-name"),
        pytest.param({"legacy.imputation.tasks.run_job": "legacy.imputation.tasks"}, [], id="legacy-default-name"),
        pytest.param(
            {"run_job": "legacy.imputation.tasks"},
            ["run_job (legacy.imputation.tasks) must start with 'legacy.' or 'imputation.'"],
            id="legacy-bare",
        ),
        pytest.param({"celery.chord": "celery.app.builtins"}, [], id="not-the-projects"),
    ],
)
def test_task_names_must_carry_their_contexts_namespace(tasks: dict[str, str], expected: list[str]) -> None:
    assert misnamed_tasks(tasks) == expected


def test_project_tasks_are_read_from_the_celery_app_by_the_module_that_defines_them() -> None:
    planted = Celery("planted", set_as_current=False)

    def submit() -> None: ...

    def harvest() -> None: ...

    submit.__module__ = harvest.__module__ = "apps.jobs.tasks"
    planted.task(shared=False)(submit)
    planted.task(shared=False, name="jobs.harvest")(harvest)

    # every Celery app also receives the project's real @shared_task tasks (jobs has some); only the planted matter
    planted_names = {"apps.jobs.tasks.submit", "jobs.harvest"}
    tasks = {name: module for name, module in project_tasks(planted).items() if name in planted_names}

    assert tasks == {"apps.jobs.tasks.submit": "apps.jobs.tasks", "jobs.harvest": "apps.jobs.tasks"}
    assert misnamed_tasks(tasks) == ["apps.jobs.tasks.submit (apps.jobs.tasks) must start with 'jobs.'"]


@pytest.mark.parametrize(
    ("test_path", "databases", "expected"),
    [
        pytest.param("apps/jobs/tests/test_submit.py", ["jobs"], [], id="own-alias"),
        pytest.param("apps/jobs/tests/test_submit.py", ["jobs", "users"], ["users"], id="another-context"),
        pytest.param("/srv/fip/apps/jobs/tests/api/test_views.py", ["default"], ["default"], id="bare-django-db"),
        pytest.param("apps/jobs/tests/test_submit.py", ["__all__"], ["__all__"], id="all"),
        pytest.param("apps/kernel/tests/test_outbox.py", ["users"], ["users"], id="library"),
        pytest.param("tests/kernel/test_event_path.py", ["users", "jobs"], [], id="cross-cutting-suite"),
        pytest.param("apps/jobs/test_helpers.py", ["users"], [], id="not-under-tests"),
    ],
)
def test_foreign_database_markers(test_path: str, databases: list[str], expected: list[str]) -> None:
    assert foreign_database_markers(test_path, databases) == expected


PLANTED_CONTEXT_TESTS = """
import pytest
from django.test import TestCase

pytestmark = pytest.mark.django_db(databases=["jobs", "users"])


def test_reads_a_user_directly():
    pass


@pytest.mark.django_db(databases=["jobs"])
def test_stays_at_home():
    pass


@pytest.mark.django_db
def test_forgets_the_alias():
    pass


@pytest.mark.parametrize("n", [pytest.param(1, marks=pytest.mark.django_db(databases=["files"]))])
def test_parametrized(n):
    pass


class TestAcrossContexts(TestCase):
    databases = {"jobs", "notifications"}

    def test_it(self):
        pass
"""


def test_a_contexts_tests_that_open_other_databases_are_reported_from_collection(tmp_path: Path) -> None:
    test_file = tmp_path / "apps" / "jobs" / "tests" / "test_planted.py"
    test_file.parent.mkdir(parents=True)
    test_file.write_text(PLANTED_CONTEXT_TESTS)

    records = _collected_databases(test_file, tmp_path / "markers.json")

    assert _foreign_markers(records) == {
        "test_reads_a_user_directly": ["users"],
        "test_forgets_the_alias": ["default"],
        "test_parametrized[1]": ["files"],
        "TestAcrossContexts::test_it": ["notifications"],
    }
