"""Pulling inputs by URL over real HTTP on loopback: streamed, capped, http(s) only, and failing in plain words."""

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from apps.node import pipeline, states
from apps.node.demo import DemoChromosome
from apps.node.fetch import FetchError, pull_names, url_fetch
from apps.node.models import LogMessage, NodeJob, NodeUser, Panel
from apps.node.tests.conftest import job_with_input

pytestmark = pytest.mark.django_db(databases=["node"])


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, folder): a plain static file server on a random loopback port."""
    folder = tmp_path / "www"
    folder.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    httpd.shutdown()
    httpd.server_close()


def test_a_file_is_streamed_to_its_target(served: tuple[str, Path], tmp_path: Path) -> None:
    base, folder = served
    (folder / "chr20.vcf.gz").write_bytes(b"x" * 3_000_000)

    path = url_fetch(f"{base}/chr20.vcf.gz?sig=secret", tmp_path / "chr20.vcf.gz")

    assert (path.stat().st_size, sorted(item.name for item in tmp_path.iterdir())) == (
        3_000_000,
        ["chr20.vcf.gz", "www"],
    )


def test_a_file_over_the_limit_is_refused_and_nothing_is_left(
    served: tuple[str, Path], tmp_path: Path, settings: object
) -> None:
    settings.NODE_PULL_LIMIT_MB = 1  # type: ignore[attr-defined]
    base, folder = served
    (folder / "big.vcf.gz").write_bytes(b"x" * 1_500_000)

    with pytest.raises(FetchError) as refused:
        url_fetch(f"{base}/big.vcf.gz", tmp_path / "big.vcf.gz")

    assert str(refused.value) == f"{base}/big.vcf.gz: larger than this node's limit of 1 MB."
    assert sorted(item.name for item in tmp_path.iterdir()) == ["www"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("{base}/missing.vcf.gz?token=s3cret", "{base}/missing.vcf.gz: HTTP 404 File not found."),
        ("ftp://example.org/chr20.vcf.gz", "ftp://example.org/chr20.vcf.gz: only http and https URLs can be pulled."),
        ("http://169.254.169.254/latest", "169.254.169.254 resolves to 169.254.169.254, an address this node does not"),
    ],
)
def test_failures_say_why_without_the_query_string(
    served: tuple[str, Path], tmp_path: Path, url: str, message: str
) -> None:
    base, _ = served

    with pytest.raises(FetchError) as failed:
        url_fetch(url.format(base=base), tmp_path / "input.vcf.gz")

    assert str(failed.value).startswith(message.format(base=base))
    assert "s3cret" not in str(failed.value)


def test_names_keep_the_vcf_gz_name_numbered_when_shared() -> None:
    urls = ["http://a/x/chr20.vcf.gz", "http://b/chr20.vcf.gz?x=1", "http://c/download?id=3", "http://d/chr 22.vcf.gz"]

    assert pull_names(urls) == ["1-chr20.vcf.gz", "2-chr20.vcf.gz", "input.vcf.gz", "chr_22.vcf.gz"]


def test_a_job_pulls_its_inputs_and_a_dead_link_fails_validation(
    served: tuple[str, Path], user: NodeUser, panel: Panel, demo_files: list[DemoChromosome]
) -> None:
    base, folder = served
    (folder / "chr20.vcf.gz").write_bytes(demo_files[0].input.read_bytes())
    pulled = job_with_input(user, [], mode="qc_only", input_urls=[f"{base}/chr20.vcf.gz"])
    dead = job_with_input(user, [], mode="qc_only", input_urls=[f"{base}/gone.vcf.gz"])

    pipeline.run(pulled.pk)
    pipeline.run(dead.pk)

    error = LogMessage.objects.get(step__job_id=dead.pk, type=LogMessage.ERROR)
    first = LogMessage.objects.filter(step__job_id=pulled.pk).first()
    assert NodeJob.objects.get(pk=pulled.pk).state == states.SUCCESS
    assert first is not None and first.message.startswith("Downloaded chr20.vcf.gz (")
    assert (NodeJob.objects.get(pk=dead.pk).state, error.step.name, error.message) == (
        states.FAILED,
        "Input Validation",
        f"An input file could not be downloaded: {base}/gone.vcf.gz: HTTP 404 File not found.",
    )
