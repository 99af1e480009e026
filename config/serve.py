"""The web server of every deployable: uvicorn serving config.asgi (HTTP and WebSockets).

Uvicorn rather than daphne because the gateway streams multi-GB bodies: uvicorn applies flow control in
both directions (it stops reading a request while the app is not consuming it, and waits for the socket
before taking more response bytes), where daphne queues a whole request body in memory and buffers
responses without limit. One definition, used by the Procfile, the tests and the benchmark.
Usage: python -m config.serve [--host 127.0.0.1] [--port 8000]
"""

from __future__ import annotations

import argparse
import os

import uvicorn

from config.socket_body import SocketBodyProtocol


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    uvicorn.run(
        "config.asgi:application",
        host=args.host,
        port=args.port,
        lifespan="off",  # Django has no lifespan handlers; clients are created lazily per event loop
        http=SocketBodyProtocol,  # uvicorn's httptools protocol, letting the tus PATCH read its body from the socket
        ws="websockets",
        proxy_headers=True,  # behind nginx, REMOTE_ADDR becomes the client from X-Forwarded-For ...
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),  # ... only from these proxies
        server_header=False,
        access_log=os.environ.get("ACCESS_LOG", "1") == "1",
        timeout_graceful_shutdown=10,
        timeout_keep_alive=75,  # longer than the gateway pool's 30 s, so an upstream never closes a reused connection
    )


if __name__ == "__main__":
    main()
