"""The submission saga and tracking, driven step by step against the recorded Cloudgene/WES server over real HTTP.

Each `drive` makes the job due and runs the dispatcher, as beat would, with Celery eager; the other contexts are
stubs (stubs.py). End-to-end runs on real workers against the reference node are in tests/e2e/test_jobs_node.py.
"""

from __future__ import annotations

import gzip
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from apps.connectors.cloudgene import CloudgeneConnector
from apps.connectors.tests.recorded_server import CLOUDGENE_TOKEN, WES_TOKEN, RecordedServer
from apps.files.public import FileInfo, FilesUnavailableError
from apps.jobs.consumers import token_replaced
from apps.jobs.models import DB, ImputationJob, JobLog, JobStatusUpdate, OutboxEvent
from apps.jobs.services.dispatch import jobs_dispatch
from apps.jobs.services.jobs import Actor, JobRequest, job_cancel, job_create, zip_password_new
from apps.jobs.services.results import results_spool
from apps.jobs.tests.stubs import FilesStub, RegistryStub, UsersStub
from apps.kernel.envelope import USER_ACTION_LOGGED, Envelope

pytestmark = pytest.mark.django_db(databases=[DB])


def bgzf_member(text: bytes) -> bytes:
    """A tiny BGZF block (gzip with the BC extra field), as bgzip writes."""
    body = gzip.compress(text)
    extra = b"BC\x02\x00" + (len(body) + 8 - 1).to_bytes(2, "little")
    return body[:3] + b"\x04" + body[4:10] + len(extra).to_bytes(2, "little") + extra + body[10:]


def encrypted_zip(tmp_path: Path, password: str, *, member_bytes: bytes | None = None) -> bytes:
    member = tmp_path / "chr20.dose.vcf.gz"
    member.write_bytes(member_bytes if member_bytes is not None else bgzf_member(b"##fileformat=VCFv4.2\n"))
    archive = tmp_path / "chr_20.zip"
    archive.unlink(missing_ok=True)
    subprocess.run(["zip", "-q", "-j", "-P", password, str(archive), str(member)], check=True)
    return archive.read_bytes()


@pytest.fixture
def world(
    recorded_server: RecordedServer, users: UsersStub, registry: RegistryStub, files: FilesStub
) -> Callable[..., tuple[ImputationJob, int]]:
    def make(*, api_type: str = "cloudgene", token: str | None = None, **service: object) -> tuple[ImputationJob, int]:
        owner = users.user()
        base_url = recorded_server.url if api_type == "cloudgene" else recorded_server.wes_url
        record = registry.service_add(api_type=api_type, base_url=base_url, name="Recorded", **service)
        panel = registry.panel_add(record)
        users.tokens[(owner, record.id)] = token or (CLOUDGENE_TOKEN if api_type == "cloudgene" else WES_TOKEN)
        upload = files.input_add(owner)
        request = JobRequest(
            name="chr20 run", service=record.id, reference_panel=panel.id, input_files=(upload.id,), build="hg19"
        )
        job, _ = job_create(actor=Actor(id=owner), request=request)
        return job, owner

    return make


def drive(job: ImputationJob, *, until: Callable[[ImputationJob], bool], steps: int = 12) -> ImputationJob:
    for _ in range(steps):
        job.refresh_from_db()
        if until(job):
            return job
        ImputationJob.objects.using(DB).filter(pk=job.pk).update(next_action_at=timezone.now())
        jobs_dispatch()
    job.refresh_from_db()
    assert until(job), f"stuck at {job.status}/{job.stage}: {job.message}"
    return job


def stages(job: ImputationJob) -> list[tuple[str, str]]:
    return list(JobStatusUpdate.objects.using(DB).filter(job=job).values_list("status", "stage"))


def test_a_cloudgene_job_runs_to_completed_with_its_results_stored_and_verified(
    world: Callable[..., tuple[ImputationJob, int]], recorded_server: RecordedServer, files: FilesStub, tmp_path: Path
) -> None:
    # given a job submitted to the recorded Cloudgene server
    job, _ = world()
    job = drive(job, until=lambda j: j.external_job_id != "")
    remote_job = recorded_server.cloudgene_jobs[job.external_job_id]
    recorded_server.result_file(remote_job, "chr_20.zip", encrypted_zip(tmp_path, job.password()))
    recorded_server.result_file(remote_job, "qc_report.txt", b"Allele switch: 3\nStrand flip: 2\nExcluded chunks: 1\n")
    # when it is polled until the end
    job = drive(job, until=lambda j: j.status in ("completed", "failed"))
    # then it completed only after both files were stored, with the QC counts parsed
    assert (job.status, job.stage, job.progress) == ("completed", "done", 100), job.message
    stored = {result.info.name: result for result in files.results.values()}
    assert set(stored) == {"chr_20.zip", "qc_report.txt"}
    assert stored["chr_20.zip"].zip_password == job.password() and stored["qc_report.txt"].zip_password == ""
    assert sorted(job.result_file_ids) == sorted(result.info.id for result in stored.values())
    assert job.qc_summary == {"allele_switches": 3, "strand_flips": 2, "excluded_chunks": 1}
    # and the remote saw our job id as job-name and our password, once
    submit = recorded_server.requests_to("/api/v2/jobs/submit/*")
    assert len(submit) == 1 and submit[0].fields["job-name"] == [str(job.pk)]
    assert submit[0].fields["password"] == [job.password()]
    walked = stages(job)
    assert walked[0] == ("pending", "queued") and walked[-1] == ("completed", "done")
    assert ("queued", "submitting") in walked and ("running", "downloading") in walked
    assert OutboxEvent.objects.using(DB).filter(topic="job.status.updated").count() >= len(walked)


def _noting_connection(name: str, held: dict[str, bool]) -> Callable[..., Any]:
    """CloudgeneConnector's `name`, noting first whether the calling thread holds a jobs database connection."""
    real = getattr(CloudgeneConnector, name)

    def noting(self: CloudgeneConnector, *args: Any, **kwargs: Any) -> Any:
        held.setdefault(name, connections[DB].connection is not None)
        return real(self, *args, **kwargs)

    return noting


@pytest.mark.django_db(databases=["jobs"], transaction=True)  # no test transaction, so a connection may close
def test_a_jobs_long_transfers_hold_no_database_connection_it_would_not_keep(
    world: Callable[..., tuple[ImputationJob, int]],
    recorded_server: RecordedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a connector that notes, as each transfer starts, whether the worker holds a jobs database connection
    held: dict[str, bool] = {}
    for name in ("submit", "download"):
        monkeypatch.setattr(CloudgeneConnector, name, _noting_connection(name, held))
    job, _ = world()
    # when the job uploads its inputs and downloads its result
    job = drive(job, until=lambda j: j.external_job_id != "")
    remote_job = recorded_server.cloudgene_jobs[job.external_job_id]
    recorded_server.result_file(remote_job, "chr_20.zip", encrypted_zip(tmp_path, job.password()))
    job = drive(job, until=lambda j: j.status in ("completed", "failed"))
    # then neither transfer held a connection where the task's end would close it anyway (PostgreSQL here); an
    # embedded database keeps its connection
    kept = connections[DB].settings_dict["CONN_MAX_AGE"] != 0
    assert job.status == "completed", job.message
    assert held == {"submit": kept, "download": kept}


def test_a_wes_run_completes_and_its_task_logs_are_stored_once(
    world: Callable[..., tuple[ImputationJob, int]], recorded_server: RecordedServer, files: FilesStub, tmp_path: Path
) -> None:
    job, _ = world(api_type="wes")
    job = drive(job, until=lambda j: j.external_job_id != "")
    run = recorded_server.wes_runs[job.external_job_id]
    url = recorded_server.wes_file("chr_20.zip", encrypted_zip(tmp_path, job.password()))
    run.outputs = {"results": [{"name": "chr_20.zip", "url": url}]}
    run.tasks = [{"id": "t1", "name": "Input Validation", "start_time": "2026-11-01T10:00:00Z", "exit_code": 0}]
    job = drive(job, until=lambda j: j.status in ("completed", "failed"))
    assert job.status == "completed", job.message
    assert [r.info.name for r in files.results.values()] == ["chr_20.zip"]
    assert recorded_server.last_request("/ga4gh/wes/v1/runs", "POST").fields["tags"][0].count(str(job.pk)) == 2
    # the WES status carries no messages: the task logs were read as the run went on, each stored once
    stored = list(JobLog.objects.using(DB).filter(job=job).values_list("step", "message"))
    assert stored.count(("Input Validation", "exited with code 0")) == 1, stored


def test_a_failed_wes_run_shows_the_reason_as_the_job_message_too(
    world: Callable[..., tuple[ImputationJob, int]], recorded_server: RecordedServer
) -> None:
    recorded_server.scenario.new_run_states = ["QUEUED", "RUNNING", "EXECUTOR_ERROR"]
    job, _ = world(api_type="wes")
    job = drive(job, until=lambda j: j.external_job_id != "")
    run = recorded_server.wes_runs[job.external_job_id]
    run.tasks = [
        {"id": "t1", "name": "Input Validation", "system_logs": ["Only 1 sample found; 20 needed."], "exit_code": 1}
    ]
    job = drive(job, until=lambda j: j.status == "failed")
    assert (job.failure_category, job.failure_message) == ("validation", "Only 1 sample found; 20 needed.")
    assert job.message == job.failure_message  # not the "Submitted to ..." of before


def test_a_result_downloaded_before_the_files_context_failed_is_stored_later_without_a_second_download(
    world: Callable[..., tuple[ImputationJob, int]],
    recorded_server: RecordedServer,
    files: FilesStub,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # given a finished job whose result may be downloaded 10 times
    job, _ = world()
    job = drive(job, until=lambda j: j.external_job_id != "")
    remote_job = recorded_server.cloudgene_jobs[job.external_job_id]
    recorded_server.result_file(remote_job, "chr_20.zip", encrypted_zip(tmp_path, job.password()))
    # and a files context that is down the first time it is asked to keep it
    store, attempts = files.result_store, []

    def store_once_down(**fields: Any) -> FileInfo:
        attempts.append(fields["name"])
        if len(attempts) == 1:
            raise FilesUnavailableError("the files deployable is restarting")
        return store(**fields)

    monkeypatch.setattr(files, "result_store", store_once_down)
    # when the job is driven to its end
    job = drive(job, until=lambda j: j.status in ("completed", "failed"))
    # then the verified copy from the first attempt was stored: the remote's download counter was used once
    assert job.status == "completed", job.message
    assert attempts == ["chr_20.zip", "chr_20.zip"]
    assert len(recorded_server.requests_to("/share/results/*")) == 1
    assert not results_spool(job).exists()


def test_a_remote_validation_failure_becomes_the_job_error(
    world: Callable[..., tuple[ImputationJob, int]], recorded_server: RecordedServer
) -> None:
    recorded_server.scenario.new_job_states = [1, 2, 5]
    job, _ = world()
    job = drive(job, until=lambda j: j.external_job_id != "")
    recorded_server.cloudgene_jobs[job.external_job_id].failure = (
        "Input Validation",
        "Only 1 sample found; 20 needed.",
    )
    job = drive(job, until=lambda j: j.status == "failed")
    assert job.failure_category == "validation"
    assert job.failure_message.endswith("Only 1 sample found; 20 needed.")
    assert JobLog.objects.using(DB).filter(job=job, message__contains="Only 1 sample").count() == 1


def test_too_many_remote_jobs_requeues_then_submits_once_a_slot_frees(
    world: Callable[..., tuple[ImputationJob, int]], recorded_server: RecordedServer
) -> None:
    # given the user already has the remote's maximum of running jobs there
    recorded_server.scenario.max_running_jobs = 1
    blocker = recorded_server.cloudgene_job([2, 2, 2, 4], username="alice")
    job, _ = world()
    # when the job is submitted, it is re-queued, not failed
    job = drive(job, until=lambda j: "Re-queued" in j.message, steps=3)
    assert (job.status, job.stage, job.external_job_id) == ("queued", "queued", "")
    # then once the other job finishes, the next attempt goes through
    blocker.index = len(blocker.states) - 1
    job = drive(job, until=lambda j: j.external_job_id != "")
    assert ("queued", "queued") in stages(job)[2:]  # the re-queue is in the history
    assert len(recorded_server.requests_to("/api/v2/jobs/submit/*")) == 2


def test_a_job_waits_out_the_remote_limit_however_many_times_it_is_requeued(
    world: Callable[..., tuple[ImputationJob, int]], recorded_server: RecordedServer, settings: Any
) -> None:
    # given a remote whose per-user slot stays taken for more re-queues than a submit may be retried
    settings.JOBS_SUBMIT_MAX_ATTEMPTS = 2
    recorded_server.scenario.max_running_jobs = 1
    blocker = recorded_server.cloudgene_job([2, 2, 2, 4], username="alice")
    job, _ = world()
    for _ in range(4):
        job = drive(job, until=lambda j: "Re-queued" in j.message and j.stage == "queued", steps=1)
        ImputationJob.objects.using(DB).filter(pk=job.pk).update(message="")
    # then it is still waiting, not failed as unreachable, and goes through once the slot frees
    job.refresh_from_db()
    assert (job.status, job.failure_category, job.submit_attempts) == ("queued", "", 0)
    blocker.index = len(blocker.states) - 1
    job = drive(job, until=lambda j: j.external_job_id != "")
    assert job.status == "queued" and job.stage == "submitted" and job.submit_attempts == 1


def test_a_refused_token_pauses_the_job_and_a_replaced_token_resumes_it(
    world: Callable[..., tuple[ImputationJob, int]], recorded_server: RecordedServer, users: UsersStub
) -> None:
    # given a job whose owner's token is revoked on the service
    job, owner = world(token="cg-token-revoked")
    job = drive(job, until=lambda j: j.auth_paused, steps=2)
    # then it is paused, not failed, and the owner is told to fix the token
    assert job.status == "queued" and job.next_action_at is None and "refused your token" in job.auth_message
    notice = OutboxEvent.objects.using(DB).get(topic="notification.send")
    assert notice.payload["user_ids"] == [owner] and "token" in notice.payload["title"]
    # when the owner stores a new token (the users context audits it as a credential action)
    users.tokens[(owner, job.service_id or 0)] = CLOUDGENE_TOKEN
    token_replaced(
        Envelope(
            type=USER_ACTION_LOGGED,
            version=1,
            source="users",
            aggregate_id="1",
            payload={
                "actor_id": owner,
                "action": "credential_replaced",
                "resource_type": "credential",
                "resource_id": "1",
                "details": {"service_id": job.service_id},
            },
        )
    )
    # then the job carries on
    job = drive(job, until=lambda j: j.external_job_id != "")
    assert job.auth_paused is False and job.status == "queued" and job.stage == "submitted"


def test_a_job_cancelled_while_its_step_finds_no_token_is_cancelled_not_left_paused(
    world: Callable[..., tuple[ImputationJob, int]],
    recorded_server: RecordedServer,
    users: UsersStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a job whose owner has no token, cancelled by them while a worker's step (holding the lease) asks for it
    job, owner = world()
    del users.tokens[(owner, job.service_id or 0)]
    ask = users.credential_token_for_job

    def cancelled_meanwhile(**kwargs: Any) -> str:
        monkeypatch.setattr(users, "credential_token_for_job", ask)
        job_cancel(job=ImputationJob.objects.using(DB).get(pk=job.pk), actor=Actor(id=owner))
        return ask(**kwargs)

    monkeypatch.setattr(users, "credential_token_for_job", cancelled_meanwhile)
    # when the dispatcher runs
    job = drive(job, until=lambda j: j.status == "cancelled", steps=3)
    # then it is cancelled without a token and nothing reached the service; no "token needed" notice went out
    assert (job.status, job.auth_paused, job.external_job_id) == ("cancelled", False, "")
    assert recorded_server.cloudgene_jobs == {}
    notices = OutboxEvent.objects.using(DB).filter(topic="notification.send").values_list("payload", flat=True)
    assert [notice["title"] for notice in notices if "token" in notice["title"]] == []


def _paused_for_a_token(world: Callable[..., tuple[ImputationJob, int]], users: UsersStub) -> tuple[ImputationJob, int]:
    """A job whose owner has no token, stepped until it is paused for one."""
    job, owner = world()
    del users.tokens[(owner, job.service_id or 0)]
    return drive(job, until=lambda j: j.auth_paused, steps=2), owner


def test_a_job_paused_for_a_token_is_cancelled_at_once(
    world: Callable[..., tuple[ImputationJob, int]], users: UsersStub
) -> None:
    job, owner = _paused_for_a_token(world, users)

    job = job_cancel(job=job, actor=Actor(id=owner))

    assert (job.status, job.message, job.external_job_id) == ("cancelled", "Cancelled before submission.", "")


def test_a_job_cancelled_just_after_its_step_paused_it_but_before_the_step_let_go_is_cancelled(
    world: Callable[..., tuple[ImputationJob, int]], users: UsersStub
) -> None:
    # given a job just paused for a token by a step that still holds the lease (its worker is about to let go)
    job, owner = _paused_for_a_token(world, users)
    held = timezone.now() + timedelta(seconds=60)
    ImputationJob.objects.using(DB).filter(pk=job.pk).update(lease_until=held, lease_token="the-step")
    # when the owner cancels it then, and the step lets go of the lease
    job_cancel(job=ImputationJob.objects.using(DB).get(pk=job.pk), actor=Actor(id=owner))
    ImputationJob.objects.using(DB).filter(pk=job.pk).update(lease_until=None, lease_token="")
    # then the next dispatch cancels it without a token, instead of the pause hiding it from the dispatcher
    job = drive(job, until=lambda j: j.status == "cancelled", steps=3)
    assert (job.status, job.message, job.external_job_id) == ("cancelled", "Cancelled before submission.", "")


def test_a_submit_with_an_unknown_outcome_adopts_the_remote_job_instead_of_resubmitting(
    world: Callable[..., tuple[ImputationJob, int]], recorded_server: RecordedServer, users: UsersStub
) -> None:
    # given a job stuck in `submitting` after its worker died, while the remote did create the job
    job, _ = world(token="not-yet")  # the first step pauses; we set the stage by hand below
    remote_job = recorded_server.cloudgene_job([1, 2], name=str(job.pk))
    ImputationJob.objects.using(DB).filter(pk=job.pk).update(
        status="queued", stage="submitting", auth_paused=False, next_action_at=timezone.now()
    )
    job.refresh_from_db()
    # when the job is advanced again (with a working token)
    users.tokens[(job.owner_id, job.service_id or 0)] = CLOUDGENE_TOKEN
    job = drive(job, until=lambda j: j.external_job_id != "")
    # then it adopted the remote job, and nothing was submitted
    assert job.external_job_id == remote_job.job_id
    assert recorded_server.requests_to("/api/v2/jobs/submit/*") == []


def test_three_404s_in_a_row_make_the_job_lost(
    world: Callable[..., tuple[ImputationJob, int]], recorded_server: RecordedServer
) -> None:
    job, _ = world()
    job = drive(job, until=lambda j: j.external_job_id != "")
    del recorded_server.cloudgene_jobs[job.external_job_id]
    job = drive(job, until=lambda j: j.status == "failed")
    assert job.failure_category == "lost" and "3 lookups" in job.failure_message


def test_5xx_backs_off_without_failing(
    world: Callable[..., tuple[ImputationJob, int]], recorded_server: RecordedServer
) -> None:
    job, _ = world()
    job = drive(job, until=lambda j: j.external_job_id != "")
    recorded_server.fail("/api/v2/jobs/*/status", status=503, times=100)
    before = timezone.now()
    ImputationJob.objects.using(DB).filter(pk=job.pk).update(next_action_at=before)
    jobs_dispatch()
    job.refresh_from_db()
    assert job.status == "queued" and job.transient_failures == 1
    assert job.next_action_at is not None and job.next_action_at > before


def test_cancel_while_queued_needs_no_remote(world: Callable[..., tuple[ImputationJob, int]], users: UsersStub) -> None:
    job, owner = world(token="not-yet")
    job = drive(job, until=lambda j: j.auth_paused, steps=2)  # stays queued locally, nothing sent
    cancelled = job_cancel(job=job, actor=Actor(id=owner))
    assert (cancelled.status, cancelled.stage) == ("cancelled", "queued")


def test_cancel_while_running_cancels_on_the_remote(
    world: Callable[..., tuple[ImputationJob, int]], recorded_server: RecordedServer
) -> None:
    recorded_server.scenario.new_job_states = [1, 2, 2, 2, 2, 2]
    job, owner = world()
    job = drive(job, until=lambda j: j.stage == "running")
    job_cancel(job=job, actor=Actor(id=owner))
    job = drive(job, until=lambda j: j.status == "cancelled")
    assert job.stage == "running"
    assert len(recorded_server.requests_to("/api/v2/jobs/*/cancel")) == 1


def test_a_cancel_that_loses_the_race_keeps_the_remote_outcome(
    world: Callable[..., tuple[ImputationJob, int]], recorded_server: RecordedServer, tmp_path: Path
) -> None:
    recorded_server.scenario.new_job_states = [1, 4]
    job, owner = world()
    job = drive(job, until=lambda j: j.external_job_id != "")
    remote_job = recorded_server.cloudgene_jobs[job.external_job_id]
    recorded_server.result_file(remote_job, "chr_20.zip", encrypted_zip(tmp_path, job.password()))
    remote_job.index = 1  # it finished before the cancel arrives
    job_cancel(job=job, actor=Actor(id=owner))
    job = drive(job, until=lambda j: j.status in ("completed", "cancelled", "failed"))
    assert job.status == "completed" and job.cancel_requested_at is None


def test_a_result_that_does_not_open_with_the_password_fails_the_download(
    world: Callable[..., tuple[ImputationJob, int]], recorded_server: RecordedServer, tmp_path: Path
) -> None:
    job, _ = world()
    job = drive(job, until=lambda j: j.external_job_id != "")
    remote_job = recorded_server.cloudgene_jobs[job.external_job_id]
    recorded_server.result_file(remote_job, "chr_20.zip", encrypted_zip(tmp_path, "someone-elses"))
    job = drive(job, until=lambda j: j.status in ("completed", "failed"))
    assert job.status == "failed" and job.failure_category == "download"
    assert "does not open with this job's password" in job.failure_message


def test_job_passwords_are_letters_and_digits_so_unzip_takes_them_as_given() -> None:
    # given many generated passwords (a URL-safe token starts with "-" one time in 32)
    passwords = [zip_password_new() for _ in range(500)]
    # then none holds anything but ASCII letters and digits, and none repeats
    assert all(len(p) == 24 and p.isascii() and p.isalnum() for p in passwords), passwords
    assert len(set(passwords)) == len(passwords)


def test_a_zip_with_a_plain_gzip_vcf_is_refused_as_not_bgzf(
    world: Callable[..., tuple[ImputationJob, int]], recorded_server: RecordedServer, tmp_path: Path
) -> None:
    job, _ = world()
    job = drive(job, until=lambda j: j.external_job_id != "")
    remote_job = recorded_server.cloudgene_jobs[job.external_job_id]
    zipped = encrypted_zip(tmp_path, job.password(), member_bytes=gzip.compress(b"##fileformat=VCFv4.2\n"))
    recorded_server.result_file(remote_job, "chr_20.zip", zipped)
    job = drive(job, until=lambda j: j.status in ("completed", "failed"))
    assert job.failure_category == "download" and "not BGZF" in job.failure_message
