"""Settings for pytest: the active profile's databases, with state under var/test/ so a running product is untouched.

In the embedded profile the tests get their own private Redis (the root conftest.py starts it on the socket
named here); with REDIS_URL set they use that server instead.
"""

import os
from pathlib import Path

# never the product's var/: a test run must not touch a running instance's data or its Redis socket
os.environ["VAR_DIR"] = os.environ.get("TEST_VAR_DIR", str(Path(__file__).resolve().parents[2] / "var" / "test"))

from config.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if os.environ.get("TEST_CHANNEL_LAYER", "memory") == "memory":  # the product as processes (tests/e2e) sets "redis"
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 (WhiteNoise warns on every request when it is missing)
