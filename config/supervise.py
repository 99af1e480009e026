"""Keep one long-running process alive under the run command: restart it with backoff when it dies.

Honcho stops the whole stack when any process exits; the worker, relay and consumers are wrapped in this
so a crash is visible (/readyz turns 503) and healed, while SIGINT/SIGTERM still stop everything cleanly.
Usage: python -m config.supervise <command> [args...]
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

MAX_BACKOFF_SECONDS = 30.0
HEALTHY_AFTER_SECONDS = 60.0


def supervise(argv: list[str]) -> int:
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    backoff = 1.0
    code = 0
    while not stopping:
        started = time.monotonic()
        child = subprocess.Popen(argv)
        code = child.wait()
        if stopping:
            return code
        if time.monotonic() - started > HEALTHY_AFTER_SECONDS:
            backoff = 1.0
        print(f"supervise: {argv[0]} exited with {code}; restarting in {backoff:.0f}s", file=sys.stderr, flush=True)
        deadline = time.monotonic() + backoff
        while time.monotonic() < deadline and not stopping:
            time.sleep(0.1)
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
    return code


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m config.supervise <command> [args...]")
    sys.exit(supervise(sys.argv[1:]))
