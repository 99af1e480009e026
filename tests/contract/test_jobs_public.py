"""The jobs context's public interface: the in-process and the remote implementation pass the same tests.

Jobs are made through the jobs API of one target (see test_jobs.py for the world each test builds), then counted
and listed through the public interface reading that target's jobs database.
"""

from __future__ import annotations

import pytest

from apps.jobs.impl import LocalJobsService
from apps.jobs.public import STATUSES, JobsService, JobsUnavailableError
from apps.jobs.remote import RemoteJobsService
from tests.contract.test_jobs import World, chr20, world  # noqa: F401 (the fixtures these tests share)
from tests.servers import Server, free_port

pytestmark = [pytest.mark.django_db(databases=["users", "registry", "files", "jobs"]), pytest.mark.redis]


@pytest.fixture
def jobs(world: World, request: pytest.FixtureRequest) -> JobsService:  # noqa: F811 (the shared fixture)
    if world.api.name == "app":
        return LocalJobsService()
    deployable: Server = request.getfixturevalue("jobs_deployable")
    return RemoteJobsService(base_url=deployable.url)


def test_counts_cover_every_status_for_an_owner(world: World, jobs: JobsService) -> None:  # noqa: F811
    for name in ("one", "two"):
        assert world.call("POST", "/api/jobs/", world.job_body(name=name)).status == 201
    first = world.call("GET", "/api/jobs/?search=one").body["results"][0]
    assert world.call("POST", f"/api/jobs/{first['id']}/cancel/").status == 200

    counts = jobs.job_counts(owner_id=world.user_id)

    assert set(counts) == set(STATUSES)
    assert counts["queued"] + counts["cancelled"] == 2 and counts["completed"] == 0
    assert jobs.job_counts(owner_id=world.user_id, service_id=world.service["id"]) == counts


def test_recent_jobs_come_newest_first_with_their_state(world: World, jobs: JobsService) -> None:  # noqa: F811
    made = [world.call("POST", "/api/jobs/", world.job_body(name=f"run {n}")).body["id"] for n in range(3)]

    recent = jobs.jobs_recent(owner_id=world.user_id, limit=2)

    assert [job.id for job in recent] == made[::-1][:2]
    assert recent[0].owner_id == world.user_id and recent[0].service_id == world.service["id"]
    assert recent[0].status == "queued" and recent[0].stage == "queued" and recent[0].created_at is not None


def test_an_unreachable_jobs_deployable_is_unavailable() -> None:
    with pytest.raises(JobsUnavailableError):
        RemoteJobsService(base_url=f"http://127.0.0.1:{free_port()}", timeout=1).job_counts()
