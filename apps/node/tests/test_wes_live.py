"""The WES connector against a real node process (DEPLOYABLE=node, NODE_EXECUTOR=inline) running real Beagle jobs."""

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from apps.connectors.base import connector_for
from apps.connectors.values import Connector, InputFile, JobSubmission, RemoteStatus
from apps.connectors.wes import WesConnector
from tests.servers import deployable_env, manage, server_start

_SEED = """
import json
from pathlib import Path
from apps.node.demo import demo_build
from apps.node.models import NodeUser
from apps.node.tokens import token_create
_, made = demo_build(Path({folder!r}), slug="demo-hg19", build="hg19", chromosomes=("20",), panel_samples=150,
                     study_samples=20, length=500_000, seed=3)
print(json.dumps({{"token": token_create(NodeUser.objects.create(username="alice")), "input": str(made[0].input)}}))
"""


@dataclass(frozen=True)
class LiveNode:
    url: str
    token: str
    input: Path


@pytest.fixture(scope="module")
def live_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    var_dir = tmp_path_factory.mktemp("live-node")
    env = deployable_env("node", var_dir, NODE_EXECUTOR="inline")
    manage("migrate_all", "--verbosity", "0", env=env)
    seeded = json.loads(manage("shell", "-c", _SEED.format(folder=str(var_dir / "demo")), env=env).splitlines()[-1])
    server = server_start(env, log=var_dir / "server.log")
    try:
        yield LiveNode(url=f"{server.url}/ga4gh/wes/v1", token=seeded["token"], input=Path(seeded["input"]))
    finally:
        server.stop()


def _submission(node: LiveNode, job_id: str) -> JobSubmission:
    return JobSubmission(
        job_id=job_id,
        refpanel="demo-hg19",
        password="Secret-Pass-1",
        files=(InputFile(node.input, name="chr20.vcf.gz"),),
        phasing="beagle",
    )


def _until_finished(connector: Connector, run_id: str, token: str) -> RemoteStatus:
    deadline = time.monotonic() + 180
    status = connector.status(run_id, token=token)
    while not status.finished and time.monotonic() < deadline:
        time.sleep(0.5)
        status = connector.status(run_id, token=token)
    return status


def test_a_submitted_run_completes_and_its_results_download_and_unzip(live_node: LiveNode, tmp_path: Path) -> None:
    with connector_for(api_type="wes", base_url=live_node.url) as connector:
        assert isinstance(connector, WesConnector)
        health = connector.health()
        panels = connector.list_panels()
        run_id = connector.submit(_submission(live_node, "platform-1"), token=live_node.token).remote_job_id

        status = _until_finished(connector, run_id, live_node.token)
        results = connector.results(run_id, token=live_node.token)
        archive = next(item for item in results if item.name == "chr_20.zip")
        downloaded = connector.download(archive, dest=tmp_path / "chr_20.zip", token=live_node.token)
        found = connector.find_by_job_name("platform-1", token=live_node.token)
        tasks = [entry.source for entry in connector.logs(run_id, token=live_node.token)]

    unzip = subprocess.run(["unzip", "-P", "Secret-Pass-1", "-o", str(downloaded.path), "-d", str(tmp_path)])
    assert health.status == "healthy"
    assert [(panel.slug, panel.build, panel.populations) for panel in panels] == [("demo-hg19", "hg19", ("mixed",))]
    assert (status.raw_state, status.finished) == ("COMPLETE", True)
    assert sorted((item.group, item.name) for item in results) == [
        ("qc_report", "qc_report.txt"),
        ("results", "chr_20.zip"),
        ("results", "statistics/chunks-excluded.txt"),
        ("results", "statistics/snps-excluded.txt"),
        ("results", "statistics/typed-only.txt"),
    ]
    assert (downloaded.size, downloaded.sha256) == (archive.size, archive.sha256)
    assert (unzip.returncode, (tmp_path / "chr20.dose.vcf.gz").exists()) == (0, True)
    assert [ref.remote_job_id for ref in found] == [run_id]
    assert [name for name in dict.fromkeys(tasks) if name != "imputationserver2"] == [
        "Input Validation",
        "Quality Control",
        "Phasing and Imputation with Beagle",
        "Compression and Encryption",
    ]


def test_a_cancelled_run_ends_canceled(live_node: LiveNode) -> None:
    with connector_for(api_type="wes", base_url=live_node.url) as connector:
        run_id = connector.submit(_submission(live_node, "platform-2"), token=live_node.token).remote_job_id

        asked = connector.cancel(run_id, token=live_node.token)
        status = _until_finished(connector, run_id, live_node.token)

    assert asked.raw_state in ("CANCELING", "CANCELED")
    assert (status.raw_state, status.state, status.finished) == ("CANCELED", "cancelled", True)
