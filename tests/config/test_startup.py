"""Starting the project from a clean environment, in a subprocess, exactly as an operator would.

Settings are process-global, so profiles other than the one pytest runs under can only be tried in a fresh
interpreter; the environment is built from scratch so the developer's own variables cannot leak in.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from config.settings.profiles import ALIASES

ROOT = Path(__file__).resolve().parents[2]

PRINT_DATABASES = """
import json
import django
from django.conf import settings
django.setup()
print(json.dumps({alias: [config["ENGINE"], config["NAME"]] for alias, config in settings.DATABASES.items()}))
"""


def _run(argv: list[str], tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        **variables,
    }
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _database_urls(url: str = "postgres://u@127.0.0.1:1/x") -> dict[str, str]:
    return {f"DATABASE_URL_{alias.upper()}": url for alias in ALIASES}


def _rsa_key_file(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = tmp_path / "jwt-signing-key.pem"
    path.write_bytes(pem)
    return path


def _failure(result: subprocess.CompletedProcess[str]) -> str:
    """The last line of the traceback: the exception and its message."""
    assert result.returncode != 0, result.stdout
    return result.stderr.strip().splitlines()[-1]


def test_embedded_profile_starts_with_no_variables_and_keeps_its_state_under_var_dir(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"

    check = _run(["manage.py", "check"], tmp_path)
    printed = _run(["-c", PRINT_DATABASES], tmp_path)

    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "System check identified no issues (0 silenced)."
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == {
        "default": ["django.db.backends.dummy", ""],
        **{alias: ["django.db.backends.sqlite3", str(var_dir / "db" / f"{alias}.sqlite3")] for alias in ALIASES},
        "node": ["django.db.backends.sqlite3", str(var_dir / "node" / "node.sqlite3")],
    }
    assert sorted(p.name for p in (var_dir / "secrets").iterdir()) == [
        "files_encryption_keys",
        "internal_service_key",
        "jobs_encryption_keys",
        "jwt_signing_key",
        "jwt_verifying_key",
        "secret_key",
        "users_vault_keys",
    ]


def test_production_with_unsafe_settings_refuses_to_start_naming_every_problem(tmp_path: Path) -> None:
    result = _run(
        ["manage.py", "check"],
        tmp_path,
        PLATFORM_PROFILE="production",
        DEBUG="1",
        REDIS_URL="redis://127.0.0.1:1/0",
        **_database_urls(),
    )

    last_line = _failure(result)
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: refusing to start in production: ")
    for variable in (
        "DEBUG",
        "SECRET_KEY",
        "JWT_SIGNING_KEY",
        "INTERNAL_SERVICE_KEY",
        "ALLOWED_HOSTS",
        "USERS_VAULT_KEYS",
    ):
        assert variable in last_line
    assert not (tmp_path / "var" / "secrets").exists()


def test_production_with_good_settings_passes_the_deploy_checks(tmp_path: Path) -> None:
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        PLATFORM_PROFILE="production",
        SECRET_KEY="k" + secrets.token_urlsafe(48)[:63],
        JWT_SIGNING_KEY_FILE=str(_rsa_key_file(tmp_path)),
        INTERNAL_SERVICE_KEY=secrets.token_urlsafe(32),
        USERS_VAULT_KEYS=f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}",
        FILES_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        JOBS_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="imputation.example.org",
        REDIS_URL="redis://127.0.0.1:1/0",
        **_database_urls(),
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."
    assert not (tmp_path / "var" / "secrets").exists()


def test_postgres_profile_names_the_missing_database_url(tmp_path: Path) -> None:
    urls = _database_urls()
    del urls["DATABASE_URL_NOTIFICATIONS"]

    result = _run(
        ["manage.py", "check"], tmp_path, PLATFORM_PROFILE="postgres", REDIS_URL="redis://127.0.0.1:1/0", **urls
    )

    assert _failure(result) == (
        "django.core.exceptions.ImproperlyConfigured: "
        "profile 'postgres' needs one database per context; missing: DATABASE_URL_NOTIFICATIONS"
    )


def test_an_unknown_profile_names_the_allowed_ones(tmp_path: Path) -> None:
    result = _run(["manage.py", "check"], tmp_path, PLATFORM_PROFILE="bogus")

    assert _failure(result) == (
        "django.core.exceptions.ImproperlyConfigured: "
        "PLATFORM_PROFILE must be one of embedded, postgres, production, not 'bogus'"
    )


def test_an_idle_timeout_for_upload_bodies_that_is_not_positive_stops_the_start(tmp_path: Path) -> None:
    result = _run(["manage.py", "check"], tmp_path, FILES_TUS_BODY_IDLE_SECONDS="0")

    assert _failure(result) == (
        "django.core.exceptions.ImproperlyConfigured: FILES_TUS_BODY_IDLE_SECONDS must be positive, not 0"
    )


def test_a_malformed_vault_key_stops_any_profile_without_repeating_it(tmp_path: Path) -> None:
    result = _run(["manage.py", "check"], tmp_path, USERS_VAULT_KEYS=f"{Fernet.generate_key().decode()},not-a-key")

    last_line = _failure(result)
    assert last_line == (
        "django.core.exceptions.ImproperlyConfigured: USERS_VAULT_KEYS holds a value that is not a Fernet key at "
        "position 2 of 2; each must be 32 url-safe base64-encoded bytes, as made by Fernet.generate_key()"
    )
    assert "not-a-key" not in result.stderr
