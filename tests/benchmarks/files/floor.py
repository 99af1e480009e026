"""The files benchmark's second baseline: what this machine allows a chunked upload, without HTTP.

A plain copy says what the disk does; an upload also moves every byte over loopback TCP and hashes it, on the same
cores as the client sending it. This floor does that work and nothing else, in a process of its own: for every
chunk a length header, the body received into reused buffers, SHA-256 on a helper thread, writes on the receiving
thread through the product's appender (apps/files/appender.py), and once the chunk is synced and hashed (the sync
running while the hash catches up, as the product has it before it commits an offset) a one-byte acknowledgement
the client waits for. No HTTP, no
authentication, no database. It is a reference, not a proof: a server could overlap the writes differently and come
out a little ahead, but one that does a request's work besides stays well behind it.

    python -m tests.benchmarks.files.floor --receive TARGET   (prints its port, serves one connection)
"""

from __future__ import annotations

import argparse
import hashlib
import mmap
import queue
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

from apps.files.appender import Appender

BLOCK = 1024**2
DEPTH = 4  # blocks queued for hashing, at most
# before a buffer is refilled its previous block is DEPTH + 2 blocks old: one block is being received, DEPTH wait
# in the queue (the newest, since it is first in, first out) and the hashing thread has moved past the one before
BUFFERS = DEPTH + 2
RECEIVER_SECONDS = 120  # a receiver that stops answering fails the measurement instead of hanging it
HEADER = struct.Struct("!Q")
ROOT = Path(__file__).resolve().parents[3]


def file_blocks(source: Path, offset: int, length: int) -> Iterator[memoryview]:
    """`length` bytes of `source` from `offset` in one reused buffer, so the client spends as little CPU as it can:
    each block is valid only until the next one is asked for."""
    view = memoryview(bytearray(BLOCK))
    with source.open("rb", buffering=0) as handle:
        handle.seek(offset)
        left = length
        while left:
            read = handle.readinto(view[: min(BLOCK, left)])
            if not read:
                return
            left -= read
            yield view[:read]


def _recv_exactly(conn: socket.socket, view: memoryview) -> None:
    while view:
        got = conn.recv_into(view)
        if not got:
            raise ConnectionError("the sender went away mid-chunk")
        view = view[got:]


def _hash_all(waiting: queue.Queue[memoryview | None], digest: hashlib._Hash) -> None:
    while (view := waiting.get()) is not None:
        digest.update(view)
        waiting.task_done()


def receive(conn: socket.socket, target: Path) -> str:
    """Chunks until the sender closes; returns the SHA-256 of everything received."""
    digest = hashlib.sha256()
    waiting: queue.Queue[memoryview | None] = queue.Queue(maxsize=DEPTH)
    hashing = threading.Thread(target=_hash_all, args=(waiting, digest), daemon=True)
    hashing.start()
    buffers = [memoryview(mmap.mmap(-1, BLOCK)) for _ in range(BUFFERS)]
    target.write_bytes(b"")
    position, turn, header = 0, 0, memoryview(bytearray(HEADER.size))
    try:
        while conn.recv_into(header, HEADER.size, socket.MSG_WAITALL) == HEADER.size:
            (left,) = HEADER.unpack(header)
            with closing(Appender(target, position)) as appender:
                while left:
                    view = buffers[turn % BUFFERS][: min(BLOCK, left)]
                    turn += 1
                    _recv_exactly(conn, view)
                    waiting.put(view)
                    appender.write(view)
                    position += len(view)
                    left -= len(view)
                appender.finish(sync=True)  # while the hash catches up, as the product syncs
                waiting.join()  # the chunk is hashed, as the product's is before it commits
            conn.sendall(b"k")
    finally:
        waiting.put(None)
        hashing.join()
    return digest.hexdigest()


def floor_measure(source: Path, size: int, chunk: int, target: Path) -> tuple[float, str]:
    """Seconds to send `size` bytes of `source` in `chunk`s to a receiver process writing `target`, and the digest
    the receiver computed. `target` is left for the caller to check and delete."""
    with subprocess.Popen(
        [sys.executable, "-m", "tests.benchmarks.files.floor", "--receive", str(target)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    ) as receiver:
        try:
            assert receiver.stdout is not None
            port = receiver.stdout.readline().strip()
            if not port.isdigit():
                raise RuntimeError(f"the floor's receiver did not start (exit status {receiver.wait()})")
            with socket.create_connection(("127.0.0.1", int(port)), timeout=RECEIVER_SECONDS) as sock:
                started = time.perf_counter()
                for offset in range(0, size, chunk):
                    length = min(chunk, size - offset)
                    sock.sendall(HEADER.pack(length))
                    for block in file_blocks(source, offset, length):
                        sock.sendall(block)
                    if sock.recv(1) != b"k":
                        raise ConnectionError("the floor's receiver did not acknowledge a chunk")
                seconds = time.perf_counter() - started
            digest, _ = receiver.communicate(timeout=RECEIVER_SECONDS)
        finally:
            if receiver.poll() is None:
                receiver.kill()
                receiver.wait()
    if receiver.returncode != 0:
        raise RuntimeError(f"the floor's receiver exited with status {receiver.returncode}")
    return seconds, digest.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receive", type=Path, required=True, help="the file to write what arrives to")
    args = parser.parse_args()
    with socket.create_server(("127.0.0.1", 0)) as server:
        print(server.getsockname()[1], flush=True)
        conn, _ = server.accept()
        with conn:
            print(receive(conn, args.receive), flush=True)


if __name__ == "__main__":
    main()
