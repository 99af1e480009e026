"""A pytest plugin for the architecture suite: records which database aliases each collected test would open.

Loaded into a `--collect-only` run (`-p tests.architecture.db_markers --db-markers-out=FILE`), so the aliases are
the ones pytest-django resolves: the closest django_db marker (function, class, module or parametrize), or a
Django TestCase's `databases`. Writes a JSON list of {"path", "test", "databases"} for tests that use a database.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_django.fixtures import validate_django_db


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db-markers-out", required=True, help="where to write the JSON list of database aliases")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    records = []
    for item in items:
        databases = databases_of(item)
        if databases is not None:
            test = item.nodeid.split("::", 1)[1]
            records.append({"path": str(item.path), "test": test, "databases": databases})
    Path(config.getoption("db_markers_out")).write_text(json.dumps(records))


def databases_of(item: pytest.Item) -> list[str] | None:
    """The aliases the test opens, or None when it uses no database."""
    from django.test import TransactionTestCase

    cls = getattr(item, "cls", None)
    if cls is not None and issubclass(cls, TransactionTestCase):
        databases = cls.databases
    elif marker := item.get_closest_marker("django_db"):
        databases = validate_django_db(marker)[2]
    elif {"db", "transactional_db"} & set(getattr(item, "fixturenames", ())):
        databases = None
    else:
        return None
    if databases is None:
        return ["default"]
    if databases == "__all__":
        return ["__all__"]
    return sorted(databases)
