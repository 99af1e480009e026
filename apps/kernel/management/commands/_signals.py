"""Graceful stop for the long-running event commands: SIGINT/SIGTERM finish the current batch, then exit."""

import signal
import threading


def stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    return stop
