"""The jobs context end to end (issue 8): the platform and a reference node as real processes, driven over HTTP.

One stack per module (tests/e2e/stack.py): the platform's web server, Celery worker with beat, events relay and
consumers, and the node as its own deployable with its own worker and demo panels; NODE_MAX_JOBS_PER_USER=1 on the
node. A researcher signs in, stores a node token through /api/credentials/, uploads the node's demo input through
/api/files/, and submits jobs through /api/jobs/; each scenario asserts what the job's body, its history
(/status/), its logs (/logs/) and the node's own job list say, and faults are switched on at the node.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Origin, Subprotocol

from tests.e2e.stack import Api, NodeUserToken, Stack, input_upload, jobs_of, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

TERMINAL = ("completed", "failed", "cancelled")
JOB_TIMEOUT = 150.0


@dataclass
class Researcher:
    """A signed-in platform user with a node token stored for both of the node's services and one ready input."""

    api: Api
    node: NodeUserToken
    credentials: dict[str, int]  # api_type -> credential id
    input_file: int


TOOLS = ("beagle", "bcftools", "tabix", "zip", "unzip")  # the node's pipeline and the zip check here


@pytest.fixture(scope="module")
def stack(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        reason = f"the reference node needs {', '.join(missing)} (apt-get install beagle bcftools tabix zip unzip)"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    stack = Stack(root=tmp_path_factory.mktemp("jobs-e2e"), node_env_extra={"NODE_MAX_JOBS_PER_USER": "1"})
    try:
        stack.start()
        yield stack
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Iterator[Api]:
    api = stack.admin()
    yield api
    api.close()


@pytest.fixture(scope="module")
def services(stack: Stack, admin: Api) -> dict[str, dict[str, Any]]:
    registered = stack.services_register(admin)
    for service in registered.values():
        assert [panel["slug"] for panel in service["panels"] if "hg19" in panel["slug"]], service["panels"]
    return registered


def researcher_new(stack: Stack, admin: Api, services: dict[str, dict[str, Any]], name: str) -> Researcher:
    api = stack.user_create(admin, name)
    node = stack.node_token(name)
    credentials = {}
    for api_type, service in services.items():
        body = api.post("/api/credentials/", json={"service_id": service["id"], "token": node.token, "label": api_type})
        assert body["has_token"] is True and "token" not in body
        credentials[api_type] = body["id"]
    return Researcher(api=api, node=node, credentials=credentials, input_file=input_upload(api, stack.demo_input()))


@pytest.fixture(scope="module")
def alice(stack: Stack, admin: Api, services: dict[str, dict[str, Any]]) -> Researcher:
    return researcher_new(stack, admin, services, "alice-e2e")


def panel_of(service: dict[str, Any], build: str = "hg19") -> dict[str, Any]:
    return next(panel for panel in service["panels"] if build in panel["slug"])


def job_submit(who: Researcher, service: dict[str, Any], *, name: str, **fields: Any) -> dict[str, Any]:
    body = who.api.post(
        "/api/jobs/",
        json={
            "name": name,
            "service": service["id"],
            "reference_panel": panel_of(service)["id"],
            "input_files": [who.input_file],
            "build": "hg19",
            "phasing": "beagle",
            **fields,
        },
        expect=201,
    )
    assert body["status"] in ("pending", "queued") and body["service"]["id"] == service["id"]
    return dict(body)


def job_at(stack: Stack, who: Researcher, service: dict[str, Any], *, name: str, stage: str) -> str:
    """A new job's id once it has reached `stage` (the node holds it there when a test switched a hold on)."""
    job_id = str(job_submit(who, service, name=name)["id"])
    job_wait(stack, who.api, job_id, lambda job: job["stage"] == stage, what=f"{name!r} at {stage}", timeout=60)
    return job_id


def job_get(api: Api, job_id: str) -> dict[str, Any]:
    return dict(api.get(f"/api/jobs/{job_id}/"))


def job_wait(
    stack: Stack, api: Api, job_id: str, until: Callable[[dict[str, Any]], bool], *, what: str, timeout: float = 60
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        job = job_get(api, job_id)
        return job if until(job) else None

    try:
        return wait_for(reached, timeout=timeout, what=what)
    except AssertionError:
        print(stack.logs(80))
        raise


def job_end(stack: Stack, api: Api, job_id: str, *, timeout: float = JOB_TIMEOUT) -> dict[str, Any]:
    ended = lambda job: job["status"] in TERMINAL  # noqa: E731
    return job_wait(stack, api, job_id, ended, what=f"job {job_id} ends", timeout=timeout)


def history(api: Api, job_id: str) -> list[dict[str, Any]]:
    return api.all_pages(f"/api/jobs/{job_id}/status/?page_size=100")


def logs(api: Api, job_id: str) -> list[dict[str, Any]]:
    return api.all_pages(f"/api/jobs/{job_id}/logs/?page_size=100")


def walk(rows: list[dict[str, Any]], key: str) -> list[str]:
    """The distinct values of `key` ("status" or "stage") in order: progress rows repeat them."""
    seen: list[str] = []
    for row in rows:
        if not seen or seen[-1] != row[key]:
            seen.append(row[key])
    return seen


def statuses(rows: list[dict[str, Any]]) -> list[str]:
    return walk(rows, "status")


def stages(rows: list[dict[str, Any]]) -> list[str]:
    return walk(rows, "stage")


def history_sane(rows: list[dict[str, Any]]) -> None:
    """Append-only and well ordered: timestamps never go back, nothing follows a terminal row."""
    stamps = [row["timestamp"] for row in rows]
    assert stamps == sorted(stamps)
    ends = [index for index, row in enumerate(rows) if row["status"] in TERMINAL]
    assert ends == [len(rows) - 1], f"exactly one terminal row, the last: {rows}"


def remote_jobs(stack: Stack, who: Researcher, job_id: str) -> list[dict[str, Any]]:
    return jobs_of(stack.node_jobs(who.node.token), job_id)


def results_check(who: Researcher, job: dict[str, Any], tmp_path: Path) -> None:
    """Result files are listed, download through the files API and the imputed zip opens with the job password."""
    names = {entry["name"]: entry for entry in job["result_files"]}
    assert "chr_20.zip" in names and "qc_report.txt" in names, names
    zipped = names["chr_20.zip"]
    assert zipped["result_type"] == "imputed" and zipped["size"] > 0 and len(zipped["sha256"]) == 64
    answer = who.api.request("GET", f"/api/files/{zipped['file_id']}/download/")
    assert answer.status_code == 200, answer.text[:500]
    archive = tmp_path / "chr_20.zip"
    archive.write_bytes(answer.content)
    password = who.api.get(f"/api/files/{zipped['file_id']}/zip-password/")["zip_password"]
    with zipfile.ZipFile(archive) as opened:
        members = opened.namelist()
        assert "chr20.dose.vcf.gz" in members, members
        dose = opened.read("chr20.dose.vcf.gz", pwd=password.encode())
    assert dose[:4] == b"\x1f\x8b\x08\x04"  # BGZF
    unzip = subprocess.run(["unzip", "-t", "-P", password, str(archive)], capture_output=True, text=True, check=False)
    assert unzip.returncode == 0, unzip.stdout + unzip.stderr
    qc = who.api.request("GET", f"/api/files/{names['qc_report.txt']['file_id']}/download/")
    assert qc.status_code == 200 and b"Reference Overlap" in qc.content


# --- (1) and (2): success on each front ------------------------------------------------------------------------


@pytest.mark.parametrize("front", ["cloudgene", "wes"])
def test_a_job_completes_with_its_results_stored_and_its_steps_shown_live(
    stack: Stack, services: dict[str, dict[str, Any]], alice: Researcher, front: str, tmp_path: Path
) -> None:
    # given a node that holds the job once it starts exporting (so the job can be watched mid-way)
    with stack.faults_on(hold_exporting=True):
        job_id = job_submit(alice, services[front], name=f"success on {front}")["id"]
        # then while the node still works on it, the job runs and its step messages are already there
        mid_way = job_wait(
            stack,
            alice.api,
            job_id,
            lambda job: (
                job["status"] == "running" and any("imputed" in entry["message"] for entry in logs(alice.api, job_id))
            ),
            what="the imputation step's message while the job runs",
        )
        assert mid_way["status"] == "running" and mid_way["stage"] in ("running", "exporting"), mid_way
        live = logs(alice.api, job_id)
    final = job_end(stack, alice.api, job_id)

    assert final["status"] == "completed", final
    assert (final["stage"], final["progress"], final["error"], final["auth_paused"]) == ("done", 100, None, False)
    assert final["external_job_id"] and final["started_at"] and final["completed_at"]
    rows = history(alice.api, job_id)
    history_sane(rows)
    assert statuses(rows) == ["pending", "queued", "running", "completed"], rows
    walked = stages(rows)
    assert walked[:3] == ["queued", "submitting", "submitted"] and walked[-2:] == ["downloading", "done"]
    assert walked[3:-2] in (["running"], ["exporting"], ["running", "exporting"]), walked  # polls may skip one
    assert rows[-1]["message"] == "Completed: 5 result files stored."
    assert {row["remote_state"] for row in rows if row["stage"] in ("running", "exporting")} <= {"2", "3", "RUNNING"}
    live_steps = [entry["step"] for entry in live]
    assert live_steps.index("Input Validation") < live_steps.index("Quality Control"), live_steps
    entries = logs(alice.api, job_id)
    assert entries[: len(live)] == live  # appended, never rewritten
    assert "Compression and Encryption" in [entry["step"] for entry in entries]
    assert len({(entry["step"], entry["message"]) for entry in entries}) == len(entries)  # each message once
    detail = job_get(alice.api, job_id)
    assert detail["qc_summary"]["reference_overlap"] > 0 and detail["qc_summary"]["strand_flips"] == 0
    results_check(alice, final, tmp_path)
    remote = remote_jobs(stack, alice, job_id)
    assert [(item["id"], item["state"]) for item in remote] == [(final["external_job_id"], 4)]


def test_each_status_a_worker_gives_the_job_reaches_its_owners_socket_within_a_second_and_nobody_elses(
    stack: Stack, admin: Api, services: dict[str, dict[str, Any]], alice: Researcher
) -> None:
    # given alice and bob connected to /ws/notifications/ (the browser's socket), each with their own access token
    bob = stack.user_create(admin, "bob-ws-e2e")
    url = stack.web_url.replace("http://", "ws://", 1) + "/ws/notifications/"

    def bearer(api: Api) -> list[Subprotocol]:
        return [Subprotocol(f"bearer.{str(api.http.headers['Authorization']).removeprefix('Bearer ')}")]

    async def watch() -> tuple[str, list[tuple[float, dict[str, Any]]], list[dict[str, Any]]]:
        async with (
            connect(url, origin=Origin(stack.web_url), subprotocols=bearer(alice.api), proxy=None) as mine,
            connect(url, origin=Origin(stack.web_url), subprotocols=bearer(bob), proxy=None) as theirs,
        ):
            # when alice submits a job that the worker takes through to the end
            body = await asyncio.to_thread(job_submit, alice, services["cloudgene"], name="watched over the socket")
            pushed: list[tuple[float, dict[str, Any]]] = []
            deadline = time.monotonic() + JOB_TIMEOUT  # heartbeats keep coming: one deadline for the whole job
            while not pushed or pushed[-1][1]["data"]["status"] not in TERMINAL:
                message = json.loads(await asyncio.wait_for(mine.recv(), deadline - time.monotonic()))
                if message["type"] == "job.status" and message["data"]["job_id"] == body["id"]:
                    pushed.append((time.time(), message))
            leaked = []
            with suppress(TimeoutError):
                while True:
                    message = json.loads(await asyncio.wait_for(theirs.recv(), 1.0))
                    if message["type"] != "ping":
                        leaked.append(message)
            return str(body["id"]), pushed, leaked

    job_id, pushed, leaked = asyncio.run(watch())

    # then every status the worker gave it was pushed to alice, each within a second of the change, and bob got nothing
    rows = history(alice.api, job_id)
    assert statuses(rows) == ["pending", "queued", "running", "completed"], rows
    arrivals: dict[str, float] = {}  # status -> when its first push arrived
    for arrived, message in pushed:
        arrivals.setdefault(message["data"]["status"], arrived)
    assert list(arrivals) == statuses(rows), arrivals
    for before, row in itertools.pairwise(rows):  # after the API's first write, each change is the worker's
        if row["status"] != before["status"]:
            changed = datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00")).timestamp()
            assert arrivals[row["status"]] - changed < 1.0, (row, arrivals[row["status"]] - changed)
    assert pushed[-1][1]["data"] == {"job_id": job_id, "status": "completed", "stage": "done", "progress": 100}
    assert leaked == []


# --- (3) and (4): failures the node reports ----------------------------------------------------------------


@pytest.mark.parametrize("front", ["cloudgene", "wes"])
@pytest.mark.parametrize(
    ("switch", "message", "category"),
    [
        ("fail_validation", "The provided VCF file is malformed (e2e): Error could not parse line 7.", "validation"),
        ("fail_qc", "More than 3 obvious strand flips have been detected (e2e). Please check strand.", "qc"),
    ],
    ids=["validation", "qc"],
)
def test_a_failure_on_the_node_fails_the_job_with_its_category_and_message(
    stack: Stack,
    services: dict[str, dict[str, Any]],
    alice: Researcher,
    front: str,
    switch: str,
    message: str,
    category: str,
) -> None:
    with stack.faults_on(**{switch: message}):
        job_id = job_submit(alice, services[front], name=f"{category} failure on {front}")["id"]
        final = job_end(stack, alice.api, job_id)

    assert final["status"] == "failed", final
    assert final["error"] == {"category": category, "message": message}
    assert final["message"] == message and final["result_files"] == [] and final["progress"] < 90
    rows = history(alice.api, job_id)
    history_sane(rows)
    assert statuses(rows) == ["pending", "queued", *(["running"] if "running" in statuses(rows) else []), "failed"]
    assert rows[-1]["message"] == message and rows[-1]["remote_state"] in ("5", "EXECUTOR_ERROR")
    step = "Input Validation" if category == "validation" else "Quality Control"
    assert (step, message) in {(entry["step"], entry["message"]) for entry in logs(alice.api, job_id)}
    assert [item["state"] for item in remote_jobs(stack, alice, job_id)] == [5]


# --- (5): cancel, while queued on the node and while running there -----------------------------------------


@pytest.mark.parametrize("front", ["cloudgene", "wes"])
def test_a_job_cancelled_while_queued_on_the_node_ends_cancelled_there_too(
    stack: Stack, services: dict[str, dict[str, Any]], alice: Researcher, front: str
) -> None:
    # given a node whose worker is busy elsewhere (stopped), so a submitted job waits in its queue
    worker = stack.processes["node-worker"]
    worker.signal(signal.SIGSTOP)
    try:
        job_id = job_submit(alice, services[front], name=f"cancel queued on {front}")["id"]
        waiting = job_wait(
            stack,
            alice.api,
            job_id,
            lambda job: job["stage"] == "submitted" and job_get(alice.api, job_id)["remote_state"] in ("1", "QUEUED"),
            what="the job waiting in the node's queue",
        )
        if front == "cloudgene":
            assert waiting["queue_position"] == 1
        # when the owner cancels it
        asked = alice.api.post(f"/api/jobs/{job_id}/cancel/")
        assert asked["cancel_requested"] is True and asked["status"] == "queued"
        final = job_end(stack, alice.api, job_id, timeout=60)
    finally:
        worker.signal(signal.SIGCONT)

    # then it is cancelled here and there, and never ran
    assert (final["status"], final["stage"], final["error"], final["started_at"]) == (
        "cancelled",
        "submitted",
        None,
        None,
    )
    rows = history(alice.api, job_id)
    history_sane(rows)
    assert statuses(rows) == ["pending", "queued", "cancelled"]
    assert rows[-1]["remote_state"] in ("6", "CANCELED")
    assert [item["state"] for item in remote_jobs(stack, alice, job_id)] == [6]
    assert alice.api.call("POST", f"/api/jobs/{job_id}/cancel/", expect=409)


@pytest.mark.parametrize("front", ["cloudgene", "wes"])
def test_a_job_cancelled_while_running_stops_on_the_node(
    stack: Stack, services: dict[str, dict[str, Any]], alice: Researcher, front: str
) -> None:
    with stack.faults_on(hold_running=True, stop_delay_seconds=1):
        job_id = job_at(stack, alice, services[front], name=f"cancel running on {front}", stage="running")
        alice.api.post(f"/api/jobs/{job_id}/cancel/")
        final = job_end(stack, alice.api, job_id, timeout=60)

    assert (final["status"], final["stage"], final["result_files"]) == ("cancelled", "running", []), final
    rows = history(alice.api, job_id)
    history_sane(rows)
    assert statuses(rows) == ["pending", "queued", "running", "cancelled"]
    assert rows[-1]["remote_state"] in ("6", "CANCELED")
    assert [item["state"] for item in remote_jobs(stack, alice, job_id)] == [6]


# --- (6): the node's limit of jobs per user ----------------------------------------------------------------


@pytest.mark.parametrize("front", ["cloudgene", "wes"])
def test_a_job_over_the_nodes_limit_per_user_is_requeued_then_runs(
    stack: Stack, services: dict[str, dict[str, Any]], alice: Researcher, front: str
) -> None:
    service = services[front]
    with stack.faults_on(hold_running=True):
        first = job_submit(alice, service, name=f"the one the node runs on {front}")["id"]
        try:
            job_wait(stack, alice.api, first, lambda job: job["stage"] == "running", what="the first job running")
            second = job_submit(alice, service, name=f"one too many on {front}")["id"]
            requeued = job_wait(
                stack,
                alice.api,
                second,
                lambda job: job["status"] == "failed" or (job["message"].startswith("Re-queued") and not job["error"]),
                what="the second job re-queued",
            )
            assert (requeued["status"], requeued["stage"], requeued["error"]) == ("queued", "queued", None), requeued
            assert "Only 1 jobs per user" in requeued["message"] and requeued["external_job_id"] is None
            # and it keeps waiting for as long as the first one runs: more re-queues than a submit may be retried (5)
            wait_for(
                lambda: sum(row["message"].startswith("Re-queued") for row in history(alice.api, second)) > 6,
                timeout=60,
                what="the second job re-queued more than JOBS_SUBMIT_MAX_ATTEMPTS times",
            )
            assert job_get(alice.api, second)["status"] == "queued"
        finally:
            stack.faults(hold_running=False)
            job_end(stack, alice.api, first)
    final = job_end(stack, alice.api, second)

    assert final["status"] == "completed", final
    rows = history(alice.api, second)
    history_sane(rows)
    walked = [(row["stage"], row["message"].split(":")[0]) for row in rows]
    assert walked.index(("queued", "Re-queued")) < [stage for stage, _ in walked].index("submitted")
    assert [item["state"] for item in remote_jobs(stack, alice, second)] == [4]  # one remote job, not one per try


# --- (7): an expired token pauses the job until the owner replaces it --------------------------------------


def test_an_expired_token_pauses_the_job_and_a_replaced_one_resumes_it(
    stack: Stack, admin: Api, services: dict[str, dict[str, Any]]
) -> None:
    carol = researcher_new(stack, admin, services, "carol-e2e")
    short = stack.node_token("carol-e2e", days=1)  # replaces the token made above: carol's node token lasts a day
    credential = carol.credentials["cloudgene"]
    carol.api.patch(f"/api/credentials/{credential}/", json={"token": short.token})
    carol.node = short
    with stack.faults_on(hold_running=True):
        job_id = job_at(stack, carol, services["cloudgene"], name="outlives its token", stage="running")
        # when the node's clock passes the token's expiry
        stack.faults(clock_offset_seconds=2 * 86400)
        paused = job_wait(stack, carol.api, job_id, lambda job: job["auth_paused"], what="the job paused for auth")
        assert (paused["status"], paused["stage"], paused["error"]) == ("running", "running", None)
        assert "refused your token" in paused["auth_message"]
        notice = wait_for(
            lambda: [n for n in carol.api.get("/api/notifications/")["results"] if "token needed" in n["title"]],
            timeout=30,
            what="the owner told about the token",
        )
        assert notice[0]["data"]["job_id"] == job_id
        rows = history(carol.api, job_id)
        time.sleep(3)  # paused means no polling: nothing changes while the token is bad
        assert job_get(carol.api, job_id)["auth_paused"] is True and history(carol.api, job_id) == rows
        # then the owner stores a new token through the credentials API, and the job carries on by itself
        fresh = stack.node_token("carol-e2e")
        replaced = carol.api.patch(f"/api/credentials/{credential}/", json={"token": fresh.token})
        assert replaced["token_last4"] == fresh.token[-4:]
        carol.node = fresh
        job_wait(stack, carol.api, job_id, lambda job: not job["auth_paused"], what="the job resumed", timeout=30)
    final = job_end(stack, carol.api, job_id)

    assert final["status"] == "completed" and final["auth_paused"] is False and final["auth_message"] is None
    rows = history(carol.api, job_id)
    history_sane(rows)
    assert statuses(rows) == ["pending", "queued", "running", "completed"]
    assert [item["state"] for item in remote_jobs(stack, carol, job_id)] == [4]


# --- (8) and (9): processes killed or restarted at the worst moments ---------------------------------------


@pytest.mark.parametrize("front", ["cloudgene", "wes"])
def test_a_worker_killed_mid_submission_leaves_exactly_one_remote_job(
    stack: Stack, services: dict[str, dict[str, Any]], alice: Researcher, front: str
) -> None:
    # given a node that takes 6 s to answer anything, and a job whose submit request is on its way there (the WES
    # client asks for service-info first, which takes 6 s too)
    stack.faults(slow_seconds=6)
    try:
        job_id = job_at(stack, alice, services[front], name=f"killed mid-submission on {front}", stage="submitting")
        time.sleep(1.5 if front == "cloudgene" else 7.5)
        # when the worker dies with it (SIGKILL: no cleanup, no ack, the lease left to lapse) while the node, which
        # got the whole upload, is still making the job
        stack.processes["worker"].kill()
    finally:
        stack.faults(clear=True)
    assert job_get(alice.api, job_id)["stage"] == "submitting"
    stack.restart("worker")
    final = job_end(stack, alice.api, job_id)

    # then the job found its remote job instead of submitting again, and ends well on exactly that one
    assert final["status"] == "completed", final
    remote = remote_jobs(stack, alice, job_id)
    assert [(item["id"], item["state"]) for item in remote] == [(final["external_job_id"], 4)], remote
    rows = history(alice.api, job_id)
    history_sane(rows)
    assert statuses(rows) == ["pending", "queued", "running", "completed"]
    submitted = [row["message"] for row in rows if row["stage"] == "submitted"]
    assert submitted == ["Submitted (found on the service after a retry)."], rows
    assert [row["stage"] for row in rows].count("submitting") == 1  # never sent twice


def test_a_worker_killed_mid_download_stores_each_result_once(
    stack: Stack, services: dict[str, dict[str, Any]], alice: Researcher
) -> None:
    # given a job held at the end of its run, then a node slow to serve anything
    with stack.faults_on(hold_exporting=True):
        job_id = job_at(stack, alice, services["cloudgene"], name="worker killed mid-download", stage="exporting")
        stack.faults(slow_seconds=4, hold_exporting=False)
        # when the worker dies while it fetches the results
        job_wait(stack, alice.api, job_id, lambda job: job["stage"] == "downloading", what="downloading", timeout=60)
        time.sleep(2)
        stack.processes["worker"].kill()
    assert job_get(alice.api, job_id)["status"] == "running"
    stack.restart("worker")
    final = job_end(stack, alice.api, job_id)

    # then the job completes with every result stored once
    assert final["status"] == "completed", final
    names = [entry["name"] for entry in final["result_files"]]
    assert sorted(names) == sorted(set(names)) and len(names) == 5, names
    stored = alice.api.all_pages(f"/api/files/?kind=result&job={job_id}")
    assert sorted(item["name"] for item in stored) == sorted(name.split("/")[-1] for name in names), stored
    assert [item["state"] for item in remote_jobs(stack, alice, job_id)] == [4]
    history_sane(history(alice.api, job_id))


def test_restarts_of_the_web_server_the_database_and_the_worker_while_polling_lose_nothing(
    stack: Stack, services: dict[str, dict[str, Any]], alice: Researcher
) -> None:
    with stack.faults_on(hold_running=True):
        job_id = job_at(stack, alice, services["wes"], name="survives restarts", stage="running")
        before = history(alice.api, job_id)
        stack.restart("web")
        if stack.postgres is not None:
            assert stack.postgres.outage(3) > 0
        stack.restart("worker", kill=True)
        stack.restart("relay", kill=True)
        stack.restart("consumers", kill=True)
        polled = job_get(alice.api, job_id)
        assert (polled["status"], polled["stage"]) == ("running", "running")
        assert history(alice.api, job_id) == before  # nothing new while nothing happened, nothing lost either
    final = job_end(stack, alice.api, job_id)

    assert final["status"] == "completed", final
    rows = history(alice.api, job_id)
    history_sane(rows)
    assert rows[: len(before)] == before
    assert statuses(rows) == ["pending", "queued", "running", "completed"]
    entries = [(entry["step"], entry["message"]) for entry in logs(alice.api, job_id)]
    assert len(entries) == len(set(entries)) and entries, entries
    completed = wait_for(
        lambda: [
            n
            for n in alice.api.all_pages("/api/notifications/?page_size=100")
            if n["data"].get("job_id") == job_id and n["data"].get("status") == "completed"
        ],
        timeout=30,
        what="the completion notification (relay and consumers restarted meanwhile)",
    )
    assert len(completed) == 1
    assert [item["state"] for item in remote_jobs(stack, alice, job_id)] == [4]
