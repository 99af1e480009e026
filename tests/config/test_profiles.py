"""The profile functions that turn the environment into settings, tested without loading Django settings."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import environ
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.exceptions import ImproperlyConfigured

from config.settings.profiles import (
    ALIASES,
    DATABASE_ALIASES,
    RedisEndpoints,
    databases,
    fernet_keys,
    fernet_keys_problem,
    jwt_verifying_key,
    production_problems,
    public_pem_of,
    redis_endpoints,
    rsa_private_key,
    secret,
    token_key_problems,
)

GOOD_SECRET_KEY = "q7Hk2vN9pLx4RtW8mZc3Bf6Yj1Ds5Ga0Ue7Io2Kw9Nh4Vb8Xr3Tl6Pm1Qz5Jy0Cv"
GOOD_JWT_KEY = rsa_private_key().decode()


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


GOOD_INTERNAL_KEY = "k3Yq9ZpW2mXr7TbN5vLc8HjD4sGf6Ae1"
GOOD_VAULT_KEY = Fernet.generate_key().decode()
VAULT_KEYS_MISSING = (
    "USERS_VAULT_KEYS (or USERS_VAULT_KEYS_FILE) is missing; set one or more comma-separated Fernet keys"
)
VAULT_KEY_FORMAT = "each must be 32 url-safe base64-encoded bytes, as made by Fernet.generate_key()"


def _problems(**overrides: Any) -> list[str]:
    values: dict[str, Any] = {
        "debug": False,
        "secret_key": GOOD_SECRET_KEY,
        "jwt_signing_key": GOOD_JWT_KEY,
        "internal_service_key": GOOD_INTERNAL_KEY,
        "allowed_hosts": ["imputation.example.org"],
        "users_vault_keys": [GOOD_VAULT_KEY],
        "holds_users": True,
        "jwt_verifying_key": "",
    }
    values.update(overrides)
    keys = {
        name: values.pop(name) for name in ("holds_users", "jwt_signing_key", "jwt_verifying_key", "users_vault_keys")
    }
    return production_problems(**values, key_problems=token_key_problems(**keys))


def _clear_database_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    for alias in ALIASES:
        monkeypatch.delenv(f"DATABASE_URL_{alias.upper()}", raising=False)


def _generator(value: bytes) -> tuple[list[int], Any]:
    calls: list[int] = []

    def make() -> bytes:
        calls.append(1)
        return value

    return calls, make


# --- production_problems ---------------------------------------------------------------------------------


def test_good_production_values_have_no_problems() -> None:
    assert _problems() == []


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"debug": True}, "DEBUG is on; unset it or set DEBUG=0"),
        ({"secret_key": ""}, "SECRET_KEY is missing"),
        (
            {"secret_key": "django-insecure-" + "a1b2c3d4e5" * 5},
            "SECRET_KEY is a default or weak value; use 50+ random characters",
        ),
        (
            {"secret_key": "Change-Me-" + "x" * 50},
            "SECRET_KEY is a default or weak value; use 50+ random characters",
        ),
        ({"secret_key": GOOD_SECRET_KEY[:49]}, "SECRET_KEY is a default or weak value; use 50+ random characters"),
        (
            {"jwt_signing_key": ""},
            "JWT_SIGNING_KEY (or JWT_SIGNING_KEY_FILE) is missing; it must be an RSA private key in PEM",
        ),
        ({"jwt_signing_key": "just-a-shared-secret"}, "JWT_SIGNING_KEY is not an unencrypted PEM private key"),
        (
            {"jwt_signing_key": "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n"},
            "JWT_SIGNING_KEY is not an unencrypted PEM private key",
        ),
        (
            {"jwt_signing_key": _pem(ec.generate_private_key(ec.SECP256R1()))},
            "JWT_SIGNING_KEY is not an RSA key; RS256 needs one",
        ),
        (
            {"jwt_signing_key": _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))},
            "JWT_SIGNING_KEY has 1024 bits; use at least 2048",
        ),
        ({"internal_service_key": ""}, "INTERNAL_SERVICE_KEY is missing, shorter than 32 characters or not random"),
        (
            {"internal_service_key": GOOD_INTERNAL_KEY[:31]},
            "INTERNAL_SERVICE_KEY is missing, shorter than 32 characters or not random",
        ),
        ({"allowed_hosts": []}, "ALLOWED_HOSTS is empty; list the host names this deployment answers to"),
        ({"allowed_hosts": [""]}, "ALLOWED_HOSTS is empty; list the host names this deployment answers to"),
        ({"allowed_hosts": ["", "  "]}, "ALLOWED_HOSTS is empty; list the host names this deployment answers to"),
        (
            {"internal_service_key": "ab" * 20},
            "INTERNAL_SERVICE_KEY is missing, shorter than 32 characters or not random",
        ),
        (
            {"allowed_hosts": ["imputation.example.org", "*"]},
            "ALLOWED_HOSTS contains '*'; list the host names this deployment answers to",
        ),
        ({"users_vault_keys": []}, VAULT_KEYS_MISSING),
        (
            {"users_vault_keys": ["not-a-fernet-key"]},
            f"USERS_VAULT_KEYS holds a value that is not a Fernet key at position 1 of 1; {VAULT_KEY_FORMAT}",
        ),
        (
            {"users_vault_keys": [GOOD_VAULT_KEY, GOOD_VAULT_KEY[:-4]]},
            f"USERS_VAULT_KEYS holds a value that is not a Fernet key at position 2 of 2; {VAULT_KEY_FORMAT}",
        ),
        (
            {"users_vault_keys": ["bad-1", GOOD_VAULT_KEY, "bad-3"]},
            f"USERS_VAULT_KEYS holds a value that is not a Fernet key at positions 1, 3 of 3; {VAULT_KEY_FORMAT}",
        ),
    ],
    ids=[
        "debug",
        "secret-missing",
        "secret-django-insecure",
        "secret-change-me",
        "secret-49-chars",
        "jwt-missing",
        "jwt-not-pem",
        "jwt-public-key",
        "jwt-ec-key",
        "jwt-1024-bit-rsa",
        "internal-missing",
        "internal-31-chars",
        "hosts-empty",
        "hosts-blank-string",
        "hosts-whitespace",
        "internal-repetitive",
        "hosts-wildcard",
        "vault-missing",
        "vault-not-a-key",
        "vault-truncated-old-key",
        "vault-two-bad-keys",
    ],
)
def test_each_production_problem_is_reported_alone(overrides: dict[str, Any], problem: str) -> None:
    assert _problems(**overrides) == [problem]


def test_boundary_values_pass() -> None:
    assert _problems(secret_key=GOOD_SECRET_KEY[:50], internal_service_key=GOOD_INTERNAL_KEY) == []


def test_every_problem_is_reported_at_once_each_naming_its_variable() -> None:
    problems = _problems(
        debug=True, secret_key="", jwt_signing_key="", internal_service_key="", allowed_hosts=[""], users_vault_keys=[]
    )

    assert [problem.split(" ")[0] for problem in problems] == [
        "DEBUG",
        "SECRET_KEY",
        "INTERNAL_SERVICE_KEY",
        "ALLOWED_HOSTS",
        "JWT_SIGNING_KEY",
        "USERS_VAULT_KEYS",
    ]


def test_a_vault_key_problem_never_repeats_the_key() -> None:
    almost = GOOD_VAULT_KEY[:-1] + "!"

    problem = fernet_keys_problem("USERS_VAULT_KEYS", [almost])

    assert problem is not None
    assert almost not in problem


# --- databases ------------------------------------------------------------------------------------------


def test_embedded_databases_are_one_sqlite_file_per_alias_under_var_dir(tmp_path: Path) -> None:
    result = databases("embedded", environ.Env(), tmp_path)

    assert set(result) == {"default", *DATABASE_ALIASES}
    assert result["default"] == {}
    assert (tmp_path / "db").is_dir()
    for alias in ALIASES:
        config = result[alias]
        assert config["ENGINE"] == "django.db.backends.sqlite3"
        assert config["NAME"] == str(tmp_path / "db" / f"{alias}.sqlite3")
        assert config["TEST"] == {"DEPENDENCIES": []}
        assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert result["node"]["NAME"] == str(tmp_path / "node" / "node.sqlite3")  # the node's own, in every profile


def test_postgres_databases_parse_one_url_per_alias(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for alias in ALIASES:
        monkeypatch.setenv(
            f"DATABASE_URL_{alias.upper()}", f"postgres://fip_{alias}:pw-{alias}@db.internal:5433/{alias}"
        )

    result = databases("postgres", environ.Env(), tmp_path)

    assert set(result) == {"default", *DATABASE_ALIASES}
    assert result["default"] == {}
    for alias in ALIASES:
        assert result[alias] == {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": alias,
            "USER": f"fip_{alias}",
            "PASSWORD": f"pw-{alias}",
            "HOST": "db.internal",
            "PORT": 5433,
            "CONN_MAX_AGE": 0,
            "TEST": {"DEPENDENCIES": []},
        }
    assert not (tmp_path / "db").exists()


@pytest.fixture
def postgres_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    """A DATABASE_URL_<ALIAS> for every alias the postgres profile needs."""
    for alias in ALIASES:
        monkeypatch.setenv(f"DATABASE_URL_{alias.upper()}", f"postgres://fip:pw@db.internal:5432/{alias}")


def test_postgres_connections_outlive_requests_only_when_asked_and_are_then_checked_before_reuse(
    postgres_urls: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_CONN_MAX_AGE", "60")

    result = databases("postgres", environ.Env(), tmp_path)

    for alias in ALIASES:
        assert (result[alias]["CONN_MAX_AGE"], result[alias]["CONN_HEALTH_CHECKS"]) == (60, True)
    assert result["node"]["CONN_MAX_AGE"] == 0  # the node's stock handler starts a thread per request


def test_a_negative_connection_age_is_refused_naming_its_variable(
    postgres_urls: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_CONN_MAX_AGE", "-1")

    with pytest.raises(ImproperlyConfigured, match="DATABASE_CONN_MAX_AGE must be 0 or more seconds, not -1"):
        databases("postgres", environ.Env(), tmp_path)


@pytest.mark.parametrize("profile", ["postgres", "production"])
def test_every_missing_database_url_is_named(profile: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _clear_database_urls(monkeypatch)
    monkeypatch.setenv("DATABASE_URL_USERS", "postgres://u@127.0.0.1:5432/users")
    monkeypatch.setenv("DATABASE_URL_FILES", "postgres://u@127.0.0.1:5432/files")

    with pytest.raises(ImproperlyConfigured) as excinfo:
        databases(profile, environ.Env(), tmp_path)

    assert str(excinfo.value) == (
        f"profile {profile!r} needs one database per context; missing: DATABASE_URL_REGISTRY, DATABASE_URL_JOBS, "
        "DATABASE_URL_NOTIFICATIONS, DATABASE_URL_MONITORING, DATABASE_URL_LEGACY"
    )


def test_no_database_url_at_all_names_all_seven(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _clear_database_urls(monkeypatch)

    with pytest.raises(ImproperlyConfigured) as excinfo:
        databases("postgres", environ.Env(), tmp_path)

    message = str(excinfo.value)
    assert all(f"DATABASE_URL_{alias.upper()}" in message for alias in ALIASES)


# --- redis_endpoints ------------------------------------------------------------------------------------


def test_embedded_redis_without_redis_url_is_a_private_unix_socket(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    sock = tmp_path / "run" / "redis.sock"

    endpoints = redis_endpoints("embedded", environ.Env(), tmp_path)

    assert endpoints == RedisEndpoints(
        url=f"unix://{sock}", broker=f"redis+socket://{sock}", channels=f"unix://{sock}", embedded_socket=str(sock)
    )


@pytest.mark.parametrize("profile", ["embedded", "postgres", "production"])
def test_redis_url_is_used_everywhere_when_given(profile: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6380/2")

    endpoints = redis_endpoints(profile, environ.Env(), tmp_path)

    assert endpoints == RedisEndpoints(
        url="redis://cache.internal:6380/2",
        broker="redis://cache.internal:6380/2",
        channels="redis://cache.internal:6380/2",
        embedded_socket="",
    )


@pytest.mark.parametrize("profile", ["postgres", "production"])
def test_server_profiles_without_redis_url_refuse(
    profile: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)

    with pytest.raises(ImproperlyConfigured, match=rf"^profile '{profile}' needs REDIS_URL$"):
        redis_endpoints(profile, environ.Env(), tmp_path)


# --- secret ---------------------------------------------------------------------------------------------


@pytest.fixture
def no_fip_test_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIP_TEST_SECRET", raising=False)
    monkeypatch.delenv("FIP_TEST_SECRET_FILE", raising=False)


@pytest.mark.usefixtures("no_fip_test_secret")
@pytest.mark.parametrize("profile", ["embedded", "postgres"])
def test_a_missing_secret_is_generated_once_with_mode_0600_and_stays_stable(profile: str, tmp_path: Path) -> None:
    calls, make = _generator(b"generated-value-1")

    first = secret(environ.Env(), "FIP_TEST_SECRET", profile=profile, var_dir=tmp_path, make=make)
    second = secret(environ.Env(), "FIP_TEST_SECRET", profile=profile, var_dir=tmp_path, make=make)

    stored = tmp_path / "secrets" / "fip_test_secret"
    assert first == second == "generated-value-1"
    assert calls == [1]
    assert stored.read_bytes() == b"generated-value-1"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700


@pytest.mark.usefixtures("no_fip_test_secret")
def test_a_secret_generated_by_an_earlier_process_is_reused(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "fip_test_secret").write_bytes(b"from-an-earlier-run")
    calls, make = _generator(b"never-used")

    value = secret(environ.Env(), "FIP_TEST_SECRET", profile="embedded", var_dir=tmp_path, make=make)

    assert value == "from-an-earlier-run"
    assert calls == []


def test_a_secret_from_the_environment_wins_and_nothing_is_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FIP_TEST_SECRET", "from-the-environment")
    monkeypatch.delenv("FIP_TEST_SECRET_FILE", raising=False)
    calls, make = _generator(b"never-used")

    value = secret(environ.Env(), "FIP_TEST_SECRET", profile="embedded", var_dir=tmp_path, make=make)

    assert value == "from-the-environment"
    assert calls == []
    assert not (tmp_path / "secrets").exists()


@pytest.mark.parametrize("profile", ["embedded", "production"])
def test_a_secret_is_read_from_the_file_name_file_points_to(
    profile: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mounted = tmp_path / "mounted-secret"
    mounted.write_text("from-a-mounted-file")
    monkeypatch.delenv("FIP_TEST_SECRET", raising=False)
    monkeypatch.setenv("FIP_TEST_SECRET_FILE", str(mounted))
    calls, make = _generator(b"never-used")

    value = secret(environ.Env(), "FIP_TEST_SECRET", profile=profile, var_dir=tmp_path, make=make)

    assert value == "from-a-mounted-file"
    assert calls == []
    assert not (tmp_path / "secrets").exists()


def test_the_variable_itself_wins_over_its_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    mounted = tmp_path / "mounted-secret"
    mounted.write_text("from-a-mounted-file")
    monkeypatch.setenv("FIP_TEST_SECRET", "from-the-environment")
    monkeypatch.setenv("FIP_TEST_SECRET_FILE", str(mounted))

    value = secret(environ.Env(), "FIP_TEST_SECRET", profile="production", var_dir=tmp_path, make=lambda: b"")

    assert value == "from-the-environment"


@pytest.mark.usefixtures("no_fip_test_secret")
def test_production_never_generates_a_secret(tmp_path: Path) -> None:
    calls, make = _generator(b"must-not-appear")

    value = secret(environ.Env(), "FIP_TEST_SECRET", profile="production", var_dir=tmp_path, make=make)

    assert value == ""
    assert calls == []
    assert not (tmp_path / "secrets").exists()


# --- vault_keys -----------------------------------------------------------------------------------------


@pytest.fixture
def no_vault_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("USERS_VAULT_KEYS", raising=False)
    monkeypatch.delenv("USERS_VAULT_KEYS_FILE", raising=False)


@pytest.mark.usefixtures("no_vault_keys")
@pytest.mark.parametrize("profile", ["embedded", "postgres"])
def test_a_missing_vault_key_is_generated_once_as_a_fernet_key(profile: str, tmp_path: Path) -> None:
    first = fernet_keys(environ.Env(), "USERS_VAULT_KEYS", profile=profile, var_dir=tmp_path)
    second = fernet_keys(environ.Env(), "USERS_VAULT_KEYS", profile=profile, var_dir=tmp_path)

    assert first == second
    assert len(first) == 1
    assert fernet_keys_problem("USERS_VAULT_KEYS", first) is None
    assert (tmp_path / "secrets" / "users_vault_keys").read_text() == first[0]
    assert stat.S_IMODE((tmp_path / "secrets" / "users_vault_keys").stat().st_mode) == 0o600


def test_vault_keys_are_read_comma_separated_in_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    newer, older = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("USERS_VAULT_KEYS", f" {newer} ,{older},, ")

    keys = fernet_keys(environ.Env(), "USERS_VAULT_KEYS", profile="embedded", var_dir=tmp_path)

    assert keys == [newer, older]
    assert not (tmp_path / "secrets").exists()


@pytest.mark.usefixtures("no_vault_keys")
def test_production_never_generates_a_vault_key(tmp_path: Path) -> None:
    keys = fernet_keys(environ.Env(), "USERS_VAULT_KEYS", profile="production", var_dir=tmp_path)

    assert keys == []
    assert not (tmp_path / "secrets").exists()


def test_a_deployable_other_than_users_needs_only_the_verifying_key() -> None:
    public = public_pem_of(GOOD_JWT_KEY)

    assert _problems(holds_users=False, jwt_signing_key="", users_vault_keys=[], jwt_verifying_key=public) == []


@pytest.mark.parametrize(
    ("verifying_key", "problem"),
    [
        (
            "",
            "JWT_VERIFYING_KEY (or JWT_VERIFYING_KEY_FILE) is missing; deployables other than users verify "
            "tokens with the users context's RSA public key in PEM",
        ),
        ("not a key", "JWT_VERIFYING_KEY is not a PEM public key"),
        (
            GOOD_JWT_KEY,
            "JWT_VERIFYING_KEY is not a PEM public key",
        ),  # the private key is refused where the public one belongs
    ],
)
def test_a_verifier_without_a_usable_public_key_is_refused(verifying_key: str, problem: str) -> None:
    assert _problems(holds_users=False, jwt_signing_key="", users_vault_keys=[], jwt_verifying_key=verifying_key) == [
        problem
    ]


def test_the_signer_leaves_its_public_key_for_verifiers_outside_production(tmp_path: Path) -> None:
    env = environ.Env()

    signer = jwt_verifying_key(env, profile="embedded", var_dir=tmp_path, signing_key=GOOD_JWT_KEY)
    verifier = jwt_verifying_key(env, profile="embedded", var_dir=tmp_path, signing_key="")

    assert signer == verifier == public_pem_of(GOOD_JWT_KEY)
    assert "PRIVATE" not in (tmp_path / "secrets" / "jwt_verifying_key").read_text()


def test_production_verifiers_read_only_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = environ.Env()
    jwt_verifying_key(env, profile="embedded", var_dir=tmp_path, signing_key=GOOD_JWT_KEY)

    assert jwt_verifying_key(env, profile="production", var_dir=tmp_path, signing_key="") == ""
    monkeypatch.setenv("JWT_VERIFYING_KEY", "from-the-environment")
    assert jwt_verifying_key(env, profile="production", var_dir=tmp_path, signing_key="") == "from-the-environment"


def test_a_unix_socket_redis_url_is_spelled_for_kombu_as_well(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REDIS_URL", "unix:///run/redis/redis.sock")

    endpoints = redis_endpoints("postgres", environ.Env(), tmp_path)

    assert endpoints == RedisEndpoints(
        url="unix:///run/redis/redis.sock",
        broker="redis+socket:///run/redis/redis.sock",
        channels="unix:///run/redis/redis.sock",
        embedded_socket="",
    )
