"""Fixtures of the node's tests: its own database only, a small simulated panel built once per session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from apps.node import engine, tasks
from apps.node.demo import DemoChromosome, demo_build
from apps.node.models import NodeJob, NodeUser, Panel
from apps.node.tokens import token_create

pytestmark = pytest.mark.django_db(databases=["node"])


@pytest.fixture(autouse=True)
def node_dir(tmp_path: Path, settings: pytest.FixtureRequest) -> Path:
    settings.NODE_DIR = str(tmp_path / "node")  # type: ignore[attr-defined]
    return tmp_path / "node"


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> list[DemoChromosome]:
    """150 panel people, 20 study people over 500 kb of chr20 (hg19): seconds to simulate and impute."""
    from unittest import mock

    folder = tmp_path_factory.mktemp("demo")
    with mock.patch.object(Panel.objects, "update_or_create", return_value=(None, True)):
        _, made = demo_build(
            folder,
            slug="demo",
            build="hg19",
            chromosomes=("20",),
            panel_samples=150,
            study_samples=20,
            length=500_000,
            array_every=4,
            seed=3,
        )
    return made


@pytest.fixture
def panel(demo_files: list[DemoChromosome]) -> Panel:
    return Panel.objects.create(
        slug="demo-hg19",
        name="Demo hg19",
        build="hg19",
        populations=[{"id": "mixed", "name": "Mixed", "samples": 150}],
        files={item.chromosome: str(item.panel) for item in demo_files},
        samples=150,
    )


@pytest.fixture
def user() -> NodeUser:
    return NodeUser.objects.create(username="alice", mail="alice@example.org")


@pytest.fixture
def token(user: NodeUser) -> str:
    return token_create(user)


@pytest.fixture
def client_for(token: str) -> Client:
    return Client(HTTP_X_AUTH_TOKEN=token)


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Jobs handed to the queue, instead of a worker."""
    sent: list[str] = []
    monkeypatch.setattr(tasks, "enqueue", lambda job: sent.append(job.pk))
    yield sent


def job_with_input(user: NodeUser, demo_files: list[DemoChromosome], **params: object) -> NodeJob:
    job = engine.job_create(
        user,
        name="test",
        params={
            "refpanel": "apps@demo-hg19@1.0.0",
            "build": "hg19",
            "phasing": "eagle",
            "mode": "imputation",
            "population": "off",
            "password_given": True,
            **params,
        },
        password="s3cret-Pass",
    )
    for item in demo_files:
        shutil.copy(item.input, Path(job.workspace) / "input" / item.input.name)
    return job
