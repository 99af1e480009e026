"""Settings for pytest: the active profile's databases, with state under var/test/ so a running product is untouched.

In the embedded profile the tests get their own private Redis (tests/conftest.py starts it on the socket
named here); with REDIS_URL set they use that server instead.
"""

import os
from pathlib import Path

os.environ.setdefault("VAR_DIR", str(Path(__file__).resolve().parents[2] / "var" / "test"))

from config.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
