"""A real Prometheus against the product: the alerting rules in compose/prometheus/ pass `promtool`, and a
Prometheus server scrapes the business metrics from a real web server process (with the scrape token) and loads
and evaluates those rules.

Needs the Debian package `prometheus` (promtool and the server): skipped without it, failed in CI
(REQUIRE_SERVICES=1), where .ci/run installs it.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from apps.monitoring.tests.conftest import tool_required
from tests.servers import ROOT, Server, deployable_env, free_port, manage, server_start

RULES = ROOT / "compose" / "prometheus" / "alerts.yml"
CONFIG = ROOT / "compose" / "prometheus" / "prometheus.yml"
TOKEN = "scrape-token-of-this-test-0123456789"
SEED = """
import uuid
from datetime import UTC, datetime, timedelta
from apps.monitoring.models import JobFact
now = datetime.now(UTC)
for status, category in (("completed", ""), ("completed", ""), ("failed", "remote_error")):
    JobFact.objects.using("monitoring").create(
        job_id=uuid.uuid4(), user_id=7, service_id=3, status=status, failure_category=category,
        created_at=now - timedelta(hours=1), created_day=now.date(), started_at=now - timedelta(minutes=50),
        completed_at=now, queue_seconds=600.0, duration_seconds=3000.0, event_at=now,
    )
"""


def test_the_alerting_rules_and_the_compose_config_pass_promtool() -> None:
    promtool = tool_required("promtool")

    rules = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    config = subprocess.run([promtool, "check", "config", str(CONFIG)], capture_output=True, text=True, check=False)

    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 10 rules found" in rules.stdout
    assert config.returncode == 0, config.stdout + config.stderr


@pytest.fixture
def product(tmp_path: Path) -> Iterator[Server]:
    """The product's web server (monolith mode, embedded databases of this test's own) holding three jobs."""
    env = deployable_env("monolith", tmp_path, METRICS_TOKEN=TOKEN, REDIS_URL=settings.REDIS_URL)
    manage("migrate", "monitoring", "--database", "monitoring", "--verbosity", "0", env=env)
    manage("shell", "-c", SEED, env=env)
    server = server_start(env, log=tmp_path / "web.log")
    yield server
    server.stop()


def _query(prometheus: str, path: str, **params: str) -> Any:
    url = f"{prometheus}{path}?{urllib.parse.urlencode(params)}" if params else f"{prometheus}{path}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())["data"]


def _prometheus_start(target: str, tmp_path: Path) -> tuple[str, Server]:
    binary = tool_required("prometheus")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ["{RULES}"]
scrape_configs:
  - job_name: fip-web
    metrics_path: /metrics
    authorization: {{type: Bearer, credentials: "{TOKEN}"}}
    static_configs: [{{targets: ["{target}"]}}]
"""
    )
    argv = [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}"]
    argv += [f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    return f"http://127.0.0.1:{port}", Server(f"http://127.0.0.1:{port}", process)


@pytest.mark.redis
def test_a_real_prometheus_scrapes_the_business_metrics_and_evaluates_the_rules(
    product: Server, tmp_path: Path
) -> None:
    prometheus, process = _prometheus_start(product.url.removeprefix("http://"), tmp_path)
    try:
        deadline = time.monotonic() + 60
        jobs: list[dict[str, Any]] = []
        db: list[dict[str, Any]] = []
        up: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not (jobs and db):
            time.sleep(1)
            try:
                jobs = _query(prometheus, "/api/v1/query", query="fip_jobs")["result"]
                # the scrape's own queries open the monitoring connection: from the second scrape on
                db = _query(prometheus, "/api/v1/query", query='django_db_execute_total{alias="monitoring"}')["result"]
                up = _query(prometheus, "/api/v1/query", query='up{job="fip-web"}')["result"]
            except OSError:
                continue  # not listening yet
        durations = _query(prometheus, "/api/v1/query", query="fip_job_duration_seconds_count")["result"]
        rules = _query(prometheus, "/api/v1/rules")["groups"]
    finally:
        process.stop()

    assert [r["value"][1] for r in up] == ["1"], (tmp_path / "prometheus.log").read_text()[-2000:]
    assert sorted((r["metric"]["status"], r["value"][1]) for r in jobs) == [("completed", "2"), ("failed", "1")]
    assert {r["metric"]["service"] for r in jobs} == {"3"}
    assert [r["value"][1] for r in durations] == ["2"]
    assert db and float(db[0]["value"][1]) > 0
    [group] = rules
    assert group["name"] == "fip-platform"
    assert {rule["name"] for rule in group["rules"]} >= {"FipServiceDown", "FipWorkerMissing", "FipMonitoringStale"}
    assert {rule["health"] for rule in group["rules"]} == {"ok"}, [r.get("lastError") for r in group["rules"]]
