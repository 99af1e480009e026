"""The gateway's HTTP client to upstreams: one pooled httpx.AsyncClient per event loop, created on first use.

Daphne has no lifespan hook, so the client cannot be built at import time; it is made inside the running
loop and kept for the life of the process (keep-alive to upstreams is what makes the proxy cheap).
"""

from __future__ import annotations

import asyncio
import weakref

import httpx

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def http_client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=30),
            trust_env=False,  # never route upstream traffic through a proxy named in the environment
            follow_redirects=False,
        )
        _clients[loop] = client
    return client
