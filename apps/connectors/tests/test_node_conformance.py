"""The connectors' conformance suite: `connector_for` against a live reference node, through both of its fronts.

A real node process (DEPLOYABLE=node serving `apps.node.asgi` on a loopback port, NODE_FAULTS_ENABLED) and a real
Celery worker on its `node` queue (a private Redis as the broker) run real Beagle jobs on a small simulated panel.
Each test is run with api_type "cloudgene" (the node's root) and "wes" (its /ga4gh/wes/v1 base) and states what the
connector returns or raises: for a job that goes well, and for each fault the node's switchboard
(`POST /api/v2/node/faults`) injects: slow answers, 500s, connection resets mid-upload and mid-download,
maintenance, an expired token, validation and QC failures, the retention clock, a server restart, cancels that
win or lose the race, and a node without Beagle. Where the protocols differ, the expectation names both.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest

from apps.connectors.errors import (
    CredentialError,
    InvalidStateError,
    NotFoundError,
    RemoteUnavailableError,
    UnsupportedOperationError,
)
from apps.connectors.public import Connector, InputFile, JobSubmission, RemoteStatus, Retries, Timeouts, connector_for
from tests import servers
from tests.contract.fixtures import _tcp_redis_start

PASSWORD = "Conformance-Pass-1"
DAY = 24 * 3600
HINT = "Beagle 5 is not installed on this node; install it with `apt-get install beagle`."
STEPS = ("Input Validation", "Quality Control", "Phasing and Imputation with Beagle", "Compression and Encryption")
TIMEOUTS = Timeouts(connect=2.0, read=10.0)
RETRIES = Retries(attempts=3, wait_initial=0.05, wait_max=0.2, total=15.0)
RAW: dict[str, dict[str, str]] = {  # the raw state each front reports for the same node state
    "cloudgene": {"queued": "1", "running": "2", "exporting": "3", "complete": "4", "failed": "5", "cancelled": "6"},
    "wes": {
        "queued": "QUEUED",
        "running": "RUNNING",
        "exporting": "RUNNING",
        "complete": "COMPLETE",
        "failed": "EXECUTOR_ERROR",
        "cancelled": "CANCELED",
    },
}

_SEED = """
import json
from pathlib import Path
from apps.node.demo import demo_build
from apps.node.models import NodeUser
from apps.node.tokens import token_create
_, made = demo_build(Path({folder!r}), slug="demo-hg19", build="hg19", chromosomes=("20",), panel_samples=150,
                     study_samples=20, length=500_000, seed=3)
accounts = [[name, token_create(NodeUser.objects.create(username=name))] for name in
            (f"user{{number}}" for number in range(60))]
print(json.dumps({{"accounts": accounts, "input": str(made[0].input)}}))
"""


@dataclass(frozen=True)
class Account:
    username: str
    token: str


@dataclass
class LiveNode:
    url: str
    input: Path
    env: dict[str, str]
    accounts: Iterator[Account]

    def fault(self, **switches: Any) -> dict[str, Any]:
        """Switch faults on (merged), or act (`clear`, `server_restart`, `retention`); the node's switches after."""
        reply = httpx.post(f"{self.url}/api/v2/node/faults", json=switches, timeout=30)
        reply.raise_for_status()
        answer: dict[str, Any] = reply.json()
        return answer


def _node_argv(port: int) -> list[str]:
    """The node's own ASGI application (it adds the reset mid-upload fault to Django's)."""
    return [sys.executable, "-m", "uvicorn", "apps.node.asgi:application", "--host", "127.0.0.1", "--port", str(port)]


def _node_start(env: dict[str, str], log: Path) -> servers.Server:
    with mock.patch.object(servers, "server_argv", lambda port: [*_node_argv(port), "--lifespan", "off"]):
        return servers.server_start(env, log=log)


@pytest.fixture(scope="module")
def live_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    var_dir = tmp_path_factory.mktemp("conformance-node")
    broker = _tcp_redis_start()
    env = servers.deployable_env("node", var_dir, REDIS_URL=broker.url, NODE_FAULTS_ENABLED="1")
    servers.manage("migrate_all", "--verbosity", "0", env=env)
    seeded = json.loads(
        servers.manage("shell", "-c", _SEED.format(folder=str(var_dir / "demo")), env=env).splitlines()[-1]
    )
    server = _node_start(env, var_dir / "server.log")
    argv = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--queues", "node"]
    argv += ["--loglevel", "WARNING", "--without-mingle", "--without-gossip", "--without-heartbeat"]
    with (var_dir / "worker.log").open("wb") as log:
        worker = subprocess.Popen(argv, cwd=servers.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield LiveNode(
            url=server.url,
            input=Path(seeded["input"]),
            env=env,
            accounts=iter([Account(name, token) for name, token in seeded["accounts"]]),
        )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        server.stop()
        broker.stop()


@pytest.fixture(autouse=True)
def switches_cleared(live_node: LiveNode) -> Iterator[None]:
    yield
    live_node.fault(clear=True)


@pytest.fixture(params=["cloudgene", "wes"])
def front(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _connector(node_url: str, front: str, *, timeouts: Timeouts = TIMEOUTS, retries: Retries = RETRIES) -> Connector:
    base_url = node_url + ("/ga4gh/wes/v1" if front == "wes" else "")
    return connector_for(api_type=front, base_url=base_url, timeouts=timeouts, retries=retries)


@pytest.fixture
def connector(live_node: LiveNode, front: str) -> Iterator[Connector]:
    with _connector(live_node.url, front) as made:
        yield made


@pytest.fixture
def account(live_node: LiveNode) -> Account:
    """A user of the node of this test's own, so the per-user job limit never carries over."""
    return next(live_node.accounts)


def _submission(node: LiveNode, **changes: Any) -> JobSubmission:
    made = JobSubmission(
        job_id=f"conformance-{uuid.uuid4().hex[:10]}",
        refpanel="demo-hg19",
        password=PASSWORD,
        files=(InputFile(node.input, name="chr20.vcf.gz"),),
        phasing="beagle",
    )
    return replace(made, **changes)


def _poll(
    connector: Connector, remote_id: str, token: str, until: Callable[[RemoteStatus], bool], *, seen: list[str]
) -> RemoteStatus:
    """Poll the status (passing the states seen so far, as the jobs context does) until `until` holds."""
    deadline = time.monotonic() + 120
    while True:
        status = connector.status(remote_id, token=token, seen_states=seen)
        seen.append(status.raw_state)
        if until(status) or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def _finished(connector: Connector, remote_id: str, token: str, seen: list[str] | None = None) -> RemoteStatus:
    return _poll(connector, remote_id, token, lambda status: status.finished, seen=[] if seen is None else seen)


def _in_step(connector: Connector, remote_id: str, token: str, step: str) -> None:
    deadline = time.monotonic() + 120
    while step not in {entry.source for entry in connector.logs(remote_id, token=token)}:
        assert time.monotonic() < deadline, f"{remote_id} never reached {step}"
        time.sleep(0.2)


# --- a job that goes well ------------------------------------------------------------------------------------------


def test_the_node_is_healthy_lists_its_panel_and_accepts_the_token(
    connector: Connector, account: Account, front: str
) -> None:
    health = connector.health(token=account.token)
    panels = connector.list_panels(token=account.token)
    check = connector.verify_token(token=account.token)

    slug = "apps@demo-hg19@1.0.0" if front == "cloudgene" else "demo-hg19"
    assert health.status == "healthy"
    assert [(panel.slug, panel.build, panel.populations) for panel in panels] == [(slug, "hg19", ("mixed",))]
    assert (check.valid, check.username) == (True, account.username)
    assert check.expires_at is not None
    assert abs(check.expires_at - (datetime.now(UTC) + timedelta(days=30))) < timedelta(hours=1)


def test_a_job_completes_and_its_results_download_and_unzip_with_our_password(
    live_node: LiveNode, connector: Connector, account: Account, front: str, tmp_path: Path
) -> None:
    submission = _submission(live_node)
    remote_id = connector.submit(submission, token=account.token).remote_job_id

    status = _finished(connector, remote_id, account.token)
    results = connector.results(remote_id, token=account.token)
    archive = next(result for result in results if result.name == "chr_20.zip")
    downloaded = connector.download(archive, dest=tmp_path / "chr_20.zip", token=account.token)
    found = connector.find_by_job_name(submission.job_id, token=account.token)
    sources = {entry.source for entry in connector.logs(remote_id, token=account.token)}

    unzip = subprocess.run(["unzip", "-P", PASSWORD, "-o", str(downloaded.path), "-d", str(tmp_path)], check=False)
    assert (status.raw_state, status.state, status.finished) == (RAW[front]["complete"], "downloading", True)
    assert sorted(result.name for result in results) == [
        "chr_20.zip",
        "qc_report.txt",
        "statistics/chunks-excluded.txt",
        "statistics/snps-excluded.txt",
        "statistics/typed-only.txt",
    ]
    assert (unzip.returncode, (tmp_path / "chr20.dose.vcf.gz").exists()) == (0, True)
    assert [ref.remote_job_id for ref in found] == [remote_id]
    assert set(STEPS) <= sources
    if front == "cloudgene":  # a download counter: one download used
        assert (archive.downloads_left, downloaded.downloads_left) == (10, 9)
    else:  # published checksums, verified
        assert (downloaded.size, downloaded.sha256) == (archive.size, archive.sha256)


# --- transport faults ----------------------------------------------------------------------------------------------


def test_slow_answers_time_out_within_the_read_timeout_and_succeed_with_patience(
    live_node: LiveNode, connector: Connector, account: Account, front: str
) -> None:
    live_node.fault(slow_seconds=1.0)
    impatient = _connector(live_node.url, front, timeouts=Timeouts(connect=2.0, read=0.3), retries=Retries(attempts=1))

    with impatient:
        health = impatient.health(token=account.token)
        with pytest.raises(RemoteUnavailableError) as timed_out:
            impatient.list_jobs(token=account.token)
    patient = connector.list_jobs(token=account.token)

    assert health.status == "timeout"
    assert (timed_out.value.status_code, "did not answer in time" in timed_out.value.message) == (None, True)
    assert patient == []


def test_500s_are_retried_on_safe_calls_and_surface_when_they_persist(
    live_node: LiveNode, connector: Connector, account: Account
) -> None:
    live_node.fault(fail_500=2)
    listed = connector.list_jobs(token=account.token)
    live_node.fault(fail_500=5)

    with pytest.raises(RemoteUnavailableError) as persisting:
        connector.list_jobs(token=account.token)

    assert listed == []
    assert (persisting.value.status_code, live_node.fault()["fail_500"]) == (500, 2)  # three tries, then the error


def test_a_500_on_submit_is_an_unknown_outcome_and_reconciling_shows_a_resubmit_is_safe(
    live_node: LiveNode, connector: Connector, account: Account
) -> None:
    submission = _submission(live_node, mode="qc_only")
    live_node.fault(fail_500=1, fail_500_method="POST")

    with pytest.raises(RemoteUnavailableError) as failed:
        connector.submit(submission, token=account.token)
    found = connector.find_by_job_name(submission.job_id, token=account.token)
    again = connector.submit(submission, token=account.token)

    assert (failed.value.status_code, failed.value.outcome_unknown, found) == (500, True, [])
    assert _finished(connector, again.remote_job_id, account.token).state == "downloading"


def test_a_reset_mid_upload_is_an_unknown_outcome_and_nothing_reached_the_node(
    live_node: LiveNode, connector: Connector, account: Account
) -> None:
    submission = _submission(live_node, mode="qc_only")
    live_node.fault(reset_upload=1)

    with pytest.raises(RemoteUnavailableError) as reset:
        connector.submit(submission, token=account.token)
    found = connector.find_by_job_name(submission.job_id, token=account.token)
    again = connector.submit(submission, token=account.token)

    assert (reset.value.status_code, reset.value.outcome_unknown, found) == (None, True, [])
    assert [ref.remote_job_id for ref in connector.list_jobs(token=account.token)] == [again.remote_job_id]
    assert _finished(connector, again.remote_job_id, account.token).state == "downloading"


def test_a_reset_mid_download_is_retried_and_a_persistent_one_leaves_no_file(
    live_node: LiveNode, connector: Connector, account: Account, front: str, tmp_path: Path
) -> None:
    remote_id = connector.submit(_submission(live_node, mode="qc_only"), token=account.token).remote_job_id
    _finished(connector, remote_id, account.token)
    report = next(item for item in connector.results(remote_id, token=account.token) if item.name == "qc_report.txt")
    live_node.fault(reset_download=1)

    healed = connector.download(report, dest=tmp_path / "healed" / "qc_report.txt", token=account.token)
    live_node.fault(reset_download=3)
    with pytest.raises(RemoteUnavailableError) as broken:
        connector.download(report, dest=tmp_path / "broken" / "qc_report.txt", token=account.token)

    assert healed.path.read_bytes().startswith(b"Statistics:")
    assert (broken.value.status_code, list((tmp_path / "broken").iterdir())) == (None, [])
    if front == "cloudgene":  # the reset attempt used a download too
        assert (report.downloads_left, healed.downloads_left) == (10, 8)
    else:
        assert (healed.size, healed.sha256) == (report.size, report.sha256)


# --- the node's state ----------------------------------------------------------------------------------------------


def test_maintenance_is_unhealthy_and_a_503_to_retry_later(
    live_node: LiveNode, connector: Connector, account: Account
) -> None:
    live_node.fault(maintenance=True)

    health = connector.health(token=account.token)
    with pytest.raises(RemoteUnavailableError) as listing:
        connector.list_jobs(token=account.token)
    with pytest.raises(RemoteUnavailableError) as submitting:
        connector.submit(_submission(live_node), token=account.token)

    assert (health.status, "maintenance" in health.message) == ("unhealthy", True)
    assert (listing.value.status_code, submitting.value.status_code) == (503, 503)
    assert (submitting.value.outcome_unknown, "under maintenance" in submitting.value.message) == (False, True)


def test_an_expired_token_is_a_credential_error_and_the_job_carries_on(
    live_node: LiveNode, connector: Connector, account: Account
) -> None:
    remote_id = connector.submit(_submission(live_node, mode="qc_only"), token=account.token).remote_job_id
    live_node.fault(clock_offset_seconds=31 * DAY)  # the node's clock: the 30-day token has expired

    with pytest.raises(CredentialError) as expired:
        connector.status(remote_id, token=account.token)
    check = connector.verify_token(token=account.token)
    live_node.fault(clock_offset_seconds=0)
    status = _finished(connector, remote_id, account.token)

    assert (expired.value.status_code, check.valid) == (401, False)
    assert status.state == "downloading"


@pytest.mark.parametrize(
    ("switch", "message", "category"),
    [
        ("fail_validation", "Your upload contains 10 samples; at least 20 are needed.", "validation"),
        (
            "fail_qc",
            "More than 100 obvious strand flips have been detected. Please check strand. Imputation cannot be started!",
            "qc",
        ),
    ],
)
def test_validation_and_qc_failures_are_classified_with_the_nodes_message(
    live_node: LiveNode, connector: Connector, account: Account, front: str, switch: str, message: str, category: str
) -> None:
    live_node.fault(**{switch: message})

    remote_id = connector.submit(_submission(live_node), token=account.token).remote_job_id
    status = _finished(connector, remote_id, account.token)
    published = {result.name for result in connector.results(remote_id, token=account.token)}

    assert (status.raw_state, status.state, status.finished) == (RAW[front]["failed"], "failed", True)
    assert (status.failure_category, status.failure_message) == (category, message)
    assert ("qc_report.txt" in published) == (category == "qc")  # a failed QC still publishes its report


def test_retention_notifies_then_retires_and_results_go(
    live_node: LiveNode, connector: Connector, account: Account, front: str, tmp_path: Path
) -> None:
    remote_id = connector.submit(_submission(live_node, mode="qc_only"), token=account.token).remote_job_id
    seen: list[str] = []
    _finished(connector, remote_id, account.token, seen)
    report = next(item for item in connector.results(remote_id, token=account.token) if item.name == "qc_report.txt")

    live_node.fault(clock_offset_seconds=5 * DAY, retention=True)  # past notificationAfter (4 days)
    notified = connector.status(remote_id, token=account.token, seen_states=seen)
    listed = connector.results(remote_id, token=account.token)
    live_node.fault(clock_offset_seconds=7 * DAY + 3600, retention=True)  # past deletedOn
    history = [*seen, notified.raw_state]
    retired = connector.status(remote_id, token=account.token, seen_states=history)
    fetched = connector.status(remote_id, token=account.token, seen_states=history, already_downloaded=True)
    left = connector.results(remote_id, token=account.token)
    with pytest.raises(NotFoundError):
        connector.download(report, dest=tmp_path / "qc_report.txt", token=account.token)

    assert (notified.state, notified.finished, "qc_report.txt" in {item.name for item in listed}) == (
        "downloading",
        True,
        True,
    )
    assert left == []
    if front == "cloudgene":  # 4 -> 8 with deletedOn, then 7: expired unless already downloaded
        assert notified.raw_state == "8" and notified.retire_at is not None
        assert abs(notified.retire_at - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=10)
        assert (retired.raw_state, retired.state, retired.failure_category) == ("7", "failed", "expired")
        assert fetched.state == "completed"
    else:  # WES has no retention state: the run stays COMPLETE, its outputs are gone
        assert (notified.raw_state, retired.raw_state, retired.state) == ("COMPLETE", "COMPLETE", "downloading")


def test_a_server_restart_makes_active_jobs_dead_and_a_dead_job_restarts(
    live_node: LiveNode, connector: Connector, account: Account, front: str
) -> None:
    live_node.fault(hold_running=True)
    first = connector.submit(_submission(live_node), token=account.token).remote_job_id
    _poll(connector, first, account.token, lambda status: status.state == "running", seen=[])
    second = connector.submit(_submission(live_node), token=account.token).remote_job_id
    queued = connector.status(second, token=account.token)

    live_node.fault(server_restart=True)
    live_node.fault(hold_running=False)
    dead = [connector.status(remote_id, token=account.token) for remote_id in (first, second)]

    assert queued.raw_state == RAW[front]["queued"]
    assert {(item.state, item.failure_category, item.finished) for item in dead} == {("failed", "remote_system", True)}
    if front == "cloudgene":  # -1, restartable: GET .../restart runs it again, and only a dead job restarts
        assert (queued.queue_position, [item.raw_state for item in dead]) == (1, ["-1", "-1"])
        assert all(item.restartable for item in dead)
        connector.restart(first, token=account.token)
        assert _finished(connector, first, account.token).state == "downloading"
        with pytest.raises(InvalidStateError):
            connector.restart(first, token=account.token)
    else:  # SYSTEM_ERROR; WES has no restart: the platform resubmits
        assert [(item.raw_state, item.restartable) for item in dead] == [("SYSTEM_ERROR", False)] * 2
        with pytest.raises(UnsupportedOperationError):
            connector.restart(first, token=account.token)
        again = connector.submit(_submission(live_node), token=account.token).remote_job_id
        assert _finished(connector, again, account.token).state == "downloading"


# --- cancel ----------------------------------------------------------------------------------------------------------


def test_a_cancel_while_running_wins(live_node: LiveNode, connector: Connector, account: Account, front: str) -> None:
    live_node.fault(hold_running=True, stop_delay_seconds=1.5)
    remote_id = connector.submit(_submission(live_node), token=account.token).remote_job_id
    _poll(connector, remote_id, account.token, lambda status: status.state == "running", seen=[])

    asked = connector.cancel(remote_id, token=account.token)
    final = _finished(connector, remote_id, account.token)

    if front == "cloudgene":  # cancelled at once
        assert (asked.raw_state, asked.state, asked.finished) == ("6", "cancelled", True)
    else:  # CANCELING while the pipeline stops, then CANCELED
        assert (asked.raw_state, asked.state, asked.finished) == ("CANCELING", "cancelling", False)
    assert (final.raw_state, final.state) == (RAW[front]["cancelled"], "cancelled")


def test_a_cancel_while_exporting_loses_the_race_and_the_job_completes(
    live_node: LiveNode, connector: Connector, account: Account, front: str
) -> None:
    live_node.fault(hold_exporting=True)
    remote_id = connector.submit(_submission(live_node, mode="qc_only"), token=account.token).remote_job_id
    _in_step(connector, remote_id, account.token, "Compression and Encryption")

    asked = connector.cancel(remote_id, token=account.token)
    live_node.fault(hold_exporting=False)
    final = _finished(connector, remote_id, account.token)
    after = connector.cancel(remote_id, token=account.token)
    messages = [entry.message for entry in connector.logs(remote_id, token=account.token)]

    assert (asked.raw_state, asked.finished) == (RAW[front]["exporting"], False)
    assert (final.raw_state, final.state) == (RAW[front]["complete"], "downloading")
    assert (after.raw_state, after.state) == (RAW[front]["complete"], "downloading")
    assert "Cancel requested while the results were being exported: too late, the job finishes." in messages


# --- WES pull by URL -------------------------------------------------------------------------------------------------


@pytest.fixture
def input_url(live_node: LiveNode) -> Iterator[str]:
    """The demo input served over plain HTTP on loopback, for a run to pull."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(live_node.input.parent))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{httpd.server_address[1]}/{live_node.input.name}"
        httpd.shutdown()


def test_a_wes_run_pulls_its_inputs_by_url_and_a_dead_link_fails_validation(
    live_node: LiveNode, account: Account, input_url: str
) -> None:
    with _connector(live_node.url, "wes") as connector:
        pulled = connector.submit(_submission(live_node, files=(), file_urls=(input_url,)), token=account.token)
        missing = input_url.rsplit("/", 1)[0] + "/missing.vcf.gz"
        dead = connector.submit(_submission(live_node, files=(), file_urls=(missing,)), token=account.token)
        completed = _finished(connector, pulled.remote_job_id, account.token)
        failed = _finished(connector, dead.remote_job_id, account.token)
        results = {item.name for item in connector.results(pulled.remote_job_id, token=account.token)}
        messages = [entry.message for entry in connector.logs(pulled.remote_job_id, token=account.token)]

    assert (completed.raw_state, completed.state, "chr_20.zip" in results) == ("COMPLETE", "downloading", True)
    assert any(message.startswith(f"Downloaded {live_node.input.name} (") for message in messages)
    assert (failed.state, failed.failure_category) == ("failed", "validation")
    assert failed.failure_message == f"An input file could not be downloaded: {missing}: HTTP 404 File not found."


# --- a node without Beagle -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node_without_beagle(live_node: LiveNode) -> Iterator[str]:
    """The same node (its database and files) served by a process whose Beagle command does not exist."""
    env = {**live_node.env, "NODE_BEAGLE": "/nonexistent/beagle"}
    server = _node_start(env, Path(env["TEST_VAR_DIR"]) / "server-without-beagle.log")
    yield server.url
    server.stop()


def test_a_node_without_beagle_is_unhealthy_with_the_install_hint_and_refuses_jobs(
    node_without_beagle: str, live_node: LiveNode, account: Account, front: str
) -> None:
    with _connector(node_without_beagle, front) as connector:
        health = connector.health(token=account.token)
        with pytest.raises(RemoteUnavailableError) as refused:
            connector.submit(_submission(live_node), token=account.token)
        again = connector.health(token=account.token)
        listed = connector.list_jobs(token=account.token)

    assert (health.status, HINT in health.message) == ("unhealthy", True)
    assert (refused.value.status_code, refused.value.outcome_unknown, HINT in refused.value.message) == (
        503,
        False,
        True,
    )
    assert (again.status, again.message, listed) == (health.status, health.message, [])
