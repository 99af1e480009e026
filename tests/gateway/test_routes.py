"""The route table on its own: parsing, validation messages that name the domain and key, longest-prefix matching."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from gateway.routes import (
    DOMAINS,
    Canary,
    RateLimits,
    RouteTableError,
    Shadow,
    Timeouts,
    route_table_load,
    route_table_parse,
)

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_KEYS = (
    "anonymous, breaker_reset, breaker_threshold, canary, connect_timeout, eject_seconds, prefixes, read_timeout, "
    "retries, shadow, target, upstreams"
)


def jobs(**overrides: Any) -> dict[str, Any]:
    """A table with one valid jobs domain, changed by `overrides` (a value of None removes the key)."""
    domain: dict[str, Any] = {"prefixes": ["/api/jobs/"], "target": "app"}
    domain.update(overrides)
    return {"domains": {"jobs": {key: value for key, value in domain.items() if value is not None}}}


def parse_error(data: dict[str, Any]) -> str:
    with pytest.raises(RouteTableError) as caught:
        route_table_parse(data)
    return str(caught.value)


# --- the shipped table and what a valid table yields ----------------------------------------------------


def test_the_shipped_table_loads_with_every_domain_exactly_once() -> None:
    table = route_table_load(ROOT / "config" / "routes.toml")

    assert sorted(route.domain for route in table.routes) == sorted(DOMAINS)
    assert len(table.routes) == len(DOMAINS)
    assert all(prefix.startswith("/api/") for route in table.routes for prefix in route.prefixes)
    assert table.match("/api/auth/login/") is table.route("users")
    assert table.route("users").is_anonymous("/api/auth/login/")
    assert not table.route("users").is_anonymous("/api/users/me/")


def test_a_valid_domain_keeps_its_settings_and_inherits_the_defaults() -> None:
    data = jobs(
        target="remote",
        upstreams=["http://127.0.0.1:8003/", "https://jobs.internal"],
        anonymous=["/api/jobs/public/"],
        read_timeout=90,
        shadow={"target": "app", "volatile": ["generated_at"], "timeout": 1.5},
        canary={"target": "legacy", "percent": 12.5},
    )
    data["defaults"] = {"connect_timeout": 1.0, "retries": 0}

    route = route_table_parse(data).route("jobs")

    assert route.upstreams == ("http://127.0.0.1:8003", "https://jobs.internal")  # trailing slash dropped
    assert route.anonymous == ("/api/jobs/public/",)
    assert route.timeouts == Timeouts(connect_timeout=1.0, read_timeout=90, retries=0)
    assert route.shadow == Shadow(target="app", volatile=frozenset({"generated_at"}), timeout=1.5)
    assert route.canary == Canary(target="legacy", percent=12.5)


# --- longest prefix wins ----------------------------------------------------------------------------------


def test_the_longest_prefix_wins_across_domains() -> None:
    table = route_table_parse(
        {
            "domains": {
                "registry": {"prefixes": ["/api/services/"], "target": "app"},
                "jobs": {"prefixes": ["/api/services/jobs/"], "target": "legacy"},
            }
        }
    )

    assert table.match("/api/services/jobs/").domain == "jobs"  # type: ignore[union-attr]
    assert table.match("/api/services/jobs/42/").domain == "jobs"  # type: ignore[union-attr]
    assert table.match("/api/services/3/").domain == "registry"  # type: ignore[union-attr]
    assert table.match("/api/services/jobsx/").domain == "registry"  # type: ignore[union-attr]
    assert table.match("/api/services") is None  # a prefix ends with '/': the bare path is not claimed
    assert table.match("/api/other/") is None


def test_the_longest_prefix_wins_whatever_order_the_domains_are_declared_in() -> None:
    table = route_table_parse(
        {
            "domains": {
                "jobs": {"prefixes": ["/api/services/jobs/"], "target": "legacy"},
                "registry": {"prefixes": ["/api/services/"], "target": "app"},
            }
        }
    )

    assert table.match("/api/services/jobs/1/").domain == "jobs"  # type: ignore[union-attr]
    assert table.match("/api/services/1/").domain == "registry"  # type: ignore[union-attr]


# --- validation: every message names the domain and key -------------------------------------------------


def test_an_unknown_top_level_key_is_refused() -> None:
    message = parse_error({**jobs(), "domain": {}})

    assert message == "(top level): unknown key(s) domain; allowed: defaults, domains, rate_limits"


def test_an_unknown_domain_key_is_refused() -> None:
    message = parse_error(jobs(tagret="remote"))

    assert message == f"domains.jobs: unknown key(s) tagret; allowed: {DOMAIN_KEYS}"


def test_an_unknown_default_key_is_refused() -> None:
    message = parse_error({**jobs(), "defaults": {"read_timout": 3}})

    assert message == (
        "defaults: unknown key(s) read_timout; allowed: breaker_reset, breaker_threshold, connect_timeout, "
        "eject_seconds, read_timeout, retries"
    )


def test_an_unknown_shadow_or_canary_key_is_refused() -> None:
    shadow = parse_error(jobs(shadow={"target": "legacy", "volatil": ["x"]}))
    canary = parse_error(jobs(canary={"target": "legacy", "percentage": 5}))

    assert shadow == "domains.jobs.shadow: unknown key(s) volatil; allowed: sample_percent, target, timeout, volatile"
    assert canary == "domains.jobs.canary: unknown key(s) percentage; allowed: percent, target"


def test_an_unknown_domain_name_is_refused() -> None:
    message = parse_error({"domains": {"billing": {"prefixes": ["/api/billing/"], "target": "app"}}})

    assert message == "domains.billing: unknown domain; known: users, registry, jobs, files, notifications, monitoring"


@pytest.mark.parametrize("missing", ["target", "prefixes"])
def test_a_domain_without_target_or_prefixes_is_refused(missing: str) -> None:
    message = parse_error(jobs(**{missing: None}))

    assert message == "domains.jobs: needs `prefixes` and `target`"


def test_a_domain_that_is_not_a_table_is_refused() -> None:
    message = parse_error({"domains": {"jobs": "app"}})

    assert message == "domains.jobs: must be a table"


def test_domains_that_are_not_a_table_are_refused() -> None:
    message = parse_error({"domains": ["jobs"]})

    assert message == "domains: must be a table with at least one domain"


def test_a_table_without_domains_is_refused() -> None:
    """An empty or half-written file must not silently route nothing (and so authenticate nothing)."""
    assert parse_error({}) == "domains: must be a table with at least one domain"


def test_an_anonymous_prefix_outside_the_domains_prefixes_is_refused() -> None:
    message = parse_error(jobs(anonymous=["/api/files/"]))

    assert message == "domains.jobs.anonymous: '/api/files/' lies outside the domain's prefixes"


@pytest.mark.parametrize("target", ["cloud", "", "App"])
def test_an_unknown_target_is_refused(target: str) -> None:
    message = parse_error(jobs(target=target))

    assert message == f"domains.jobs.target: must be one of legacy, app, remote, got {target!r}"


@pytest.mark.parametrize("prefix", ["api/jobs/", "/api/jobs", "api/jobs", ""])
def test_a_prefix_without_leading_and_trailing_slash_is_refused(prefix: str) -> None:
    message = parse_error(jobs(prefixes=[prefix]))

    assert message == f"domains.jobs.prefixes: prefix {prefix!r} must start and end with '/'"


@pytest.mark.parametrize("prefixes", [[], "/api/jobs/"])
def test_prefixes_must_be_a_non_empty_list(prefixes: Any) -> None:
    message = parse_error(jobs(prefixes=prefixes))

    assert message == "domains.jobs.prefixes: must be a non-empty list of URL prefixes"


def test_an_anonymous_prefix_without_slashes_is_refused() -> None:
    message = parse_error(jobs(anonymous=["/api/jobs/public"]))

    assert message == "domains.jobs.anonymous: prefix '/api/jobs/public' must start and end with '/'"


def test_the_same_prefix_in_two_domains_names_the_second_domain_and_the_first_owner() -> None:
    message = parse_error(
        {
            "domains": {
                "registry": {"prefixes": ["/api/services/", "/api/shared/"], "target": "app"},
                "jobs": {"prefixes": ["/api/jobs/", "/api/shared/"], "target": "app"},
            }
        }
    )

    assert message == "domains.jobs.prefixes: '/api/shared/' is already routed to 'registry'"


def test_nested_prefixes_within_one_domain_are_refused() -> None:
    message = parse_error(jobs(prefixes=["/api/jobs/", "/api/templates/", "/api/jobs/runs/"]))

    assert message == "domains.jobs.prefixes: '/api/jobs/' and '/api/jobs/runs/' overlap within one domain"


def test_a_repeated_prefix_within_one_domain_is_refused() -> None:
    message = parse_error(jobs(prefixes=["/api/jobs/", "/api/jobs/"]))

    assert message == "domains.jobs.prefixes: '/api/jobs/' and '/api/jobs/' overlap within one domain"


def test_a_remote_target_without_upstreams_is_refused() -> None:
    absent = parse_error(jobs(target="remote"))
    empty = parse_error(jobs(target="remote", upstreams=[]))

    assert absent == empty == "domains.jobs.upstreams: a remote target needs at least one upstream URL"


def test_a_remote_canary_without_upstreams_is_refused() -> None:
    message = parse_error(jobs(canary={"target": "remote", "percent": 5}))

    assert message == "domains.jobs.upstreams: a remote target needs at least one upstream URL"


def test_a_remote_shadow_without_upstreams_is_refused() -> None:
    message = parse_error(jobs(shadow={"target": "remote"}))

    assert message == "domains.jobs.upstreams: a remote target needs at least one upstream URL"


def test_upstreams_without_a_remote_target_are_accepted_for_a_later_flip() -> None:
    route = route_table_parse(jobs(upstreams=["http://127.0.0.1:8003"])).route("jobs")

    assert (route.target, route.upstreams) == ("app", ("http://127.0.0.1:8003",))


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1:8003", "http://127.0.0.1:8003/?debug=1", "127.0.0.1:8003", "http://", "", 8003],
)
def test_a_bad_upstream_url_is_refused(url: Any) -> None:
    message = parse_error(jobs(target="remote", upstreams=["http://127.0.0.1:8003", url]))

    assert message == f"domains.jobs.upstreams: {url!r} is not an http(s) URL without a query"


def test_upstreams_must_be_a_list() -> None:
    message = parse_error(jobs(target="remote", upstreams="http://127.0.0.1:8003"))

    assert message == "domains.jobs.upstreams: must be a list of http(s) URLs"


@pytest.mark.parametrize(
    ("percent", "expected"),
    [
        (120, "must be between 0 and 100, got 120"),
        (-1, "must be between 0 and 100, got -1"),
        (100.5, "must be between 0 and 100, got 100.5"),
        ("ten", "must be a number, got 'ten'"),
        (True, "must be a number, got True"),
        (None, "must be a number, got None"),  # percent missing
    ],
)
def test_a_bad_canary_percentage_is_refused(percent: Any, expected: str) -> None:
    message = parse_error(jobs(canary={"target": "legacy", "percent": percent}))

    assert message == f"domains.jobs.canary.percent: {expected}"


@pytest.mark.parametrize("percent", [0, 100, 0.5])
def test_canary_percentages_at_and_within_the_bounds_are_accepted(percent: float) -> None:
    route = route_table_parse(jobs(canary={"target": "legacy", "percent": percent})).route("jobs")

    assert route.canary == Canary(target="legacy", percent=percent)


def test_a_nan_canary_percentage_is_refused() -> None:
    message = parse_error(jobs(canary={"target": "legacy", "percent": math.nan}))

    assert message == "domains.jobs.canary.percent: must be between 0 and 100, got nan"


def test_a_bad_shadow_sample_percentage_is_refused() -> None:
    message = parse_error(jobs(shadow={"target": "legacy", "sample_percent": 101}))

    assert message == "domains.jobs.shadow.sample_percent: must be between 0 and 100, got 101"


def test_a_shadow_to_the_target_itself_is_refused() -> None:
    message = parse_error(jobs(shadow={"target": "app"}))

    assert message == "domains.jobs.shadow.target: mirrors to 'app', the target itself"


def test_a_canary_to_the_target_itself_is_refused() -> None:
    message = parse_error(jobs(canary={"target": "app", "percent": 10}))

    assert message == "domains.jobs.canary.target: sends the canary to 'app', the target itself"


def test_a_shadow_or_canary_without_a_valid_target_is_refused() -> None:
    shadow = parse_error(jobs(shadow={"volatile": ["x"]}))
    canary = parse_error(jobs(canary={"target": "elsewhere", "percent": 10}))

    assert shadow == "domains.jobs.shadow.target: must be one of legacy, app, remote, got None"
    assert canary == "domains.jobs.canary.target: must be one of legacy, app, remote, got 'elsewhere'"


@pytest.mark.parametrize("key", ["connect_timeout", "read_timeout", "breaker_reset", "eject_seconds"])
@pytest.mark.parametrize("value", [0, -1, -0.5])
def test_a_zero_or_negative_timeout_is_refused(key: str, value: float) -> None:
    message = parse_error(jobs(**{key: value}))

    assert message == f"domains.jobs.{key}: must be at least 0.001, got {value!r}"


def test_a_zero_or_negative_default_timeout_names_the_defaults_table() -> None:
    message = parse_error({**jobs(), "defaults": {"read_timeout": 0}})

    assert message == "defaults.read_timeout: must be at least 0.001, got 0"


def test_a_zero_shadow_timeout_is_refused() -> None:
    message = parse_error(jobs(shadow={"target": "legacy", "timeout": 0}))

    assert message == "domains.jobs.shadow.timeout: must be at least 0.001, got 0"


@pytest.mark.parametrize("value", [1.5, "2", True])
def test_retries_must_be_a_whole_number(value: Any) -> None:
    message = parse_error(jobs(retries=value))

    assert message == f"domains.jobs.retries: must be a whole number, got {value!r}"


def test_retries_may_be_zero_but_not_negative() -> None:
    accepted = route_table_parse(jobs(retries=0)).route("jobs").timeouts.retries
    message = parse_error(jobs(retries=-1))

    assert accepted == 0
    assert message == "domains.jobs.retries: must be at least 0, got -1"


def test_a_breaker_threshold_must_be_a_whole_number() -> None:
    message = parse_error(jobs(breaker_threshold=2.5))

    assert message == "domains.jobs.breaker_threshold: must be a whole number, got 2.5"


@pytest.mark.parametrize("value", ["yes", 1, "true"])
def test_rate_limits_fail_open_must_be_a_bool(value: Any) -> None:
    message = parse_error({**jobs(), "rate_limits": {"fail_open": value}})

    assert message == "rate_limits.fail_open: must be true or false"


@pytest.mark.parametrize(("key", "value"), [("per_ip", 0), ("per_user", -5), ("window_seconds", 0)])
def test_rate_limits_must_be_at_least_one(key: str, value: int) -> None:
    message = parse_error({**jobs(), "rate_limits": {key: value}})

    assert message == f"rate_limits.{key}: must be at least 1, got {value}"


def test_rate_limits_must_be_whole_numbers() -> None:
    message = parse_error({**jobs(), "rate_limits": {"per_ip": 2.5}})

    assert message == "rate_limits.per_ip: must be a whole number, got 2.5"


def test_an_unknown_rate_limit_key_is_refused() -> None:
    message = parse_error({**jobs(), "rate_limits": {"per_client": 3}})

    assert message == "rate_limits: unknown key(s) per_client; allowed: fail_open, per_ip, per_user, window_seconds"


def test_rate_limits_are_read() -> None:
    table = route_table_parse({**jobs(), "rate_limits": {"per_ip": 3, "per_user": 5, "fail_open": False}})

    assert table.rate_limits == RateLimits(window_seconds=60, per_ip=3, per_user=5, fail_open=False)


# Sub-tables given as scalars: the checks iterate them as tables and crash with a TypeError (not a
# RouteTableError), so `gateway check` shows a traceback and the hot reload cannot record the error.
def test_defaults_that_are_not_a_table_are_refused() -> None:
    message = parse_error({**jobs(), "defaults": 5})

    assert message.startswith("defaults: ")


def test_rate_limits_that_are_not_a_table_are_refused() -> None:
    message = parse_error({**jobs(), "rate_limits": 100})

    assert message.startswith("rate_limits: ")


@pytest.mark.parametrize("key", ["shadow", "canary"])
def test_a_shadow_or_canary_that_is_not_a_table_is_refused(key: str) -> None:
    message = parse_error(jobs(**{key: True}))

    assert message.startswith(f"domains.jobs.{key}: ")


def test_shadow_volatile_must_be_a_list_of_field_names() -> None:
    message = parse_error(jobs(shadow={"target": "legacy", "volatile": "generated_at"}))

    assert message.startswith("domains.jobs.shadow.volatile: ")


# --- loading from a file ---------------------------------------------------------------------------------


def test_invalid_toml_is_refused_naming_the_file_and_the_position(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text('[domains.jobs]\nprefixes = ["/api/jobs/"]\ntarget = app\n')

    with pytest.raises(RouteTableError) as caught:
        route_table_load(path)

    assert str(caught.value) == f"{path}: not valid TOML: Invalid value (at line 3, column 10)"


def test_a_missing_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"

    with pytest.raises(RouteTableError) as caught:
        route_table_load(path)

    assert str(caught.value) == f"{path}: cannot read: No such file or directory"


def test_an_unreadable_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.mkdir()  # a directory cannot be read as a file, even by root

    with pytest.raises(RouteTableError) as caught:
        route_table_load(path)

    assert str(caught.value) == f"{path}: cannot read: Is a directory"


def test_a_valid_file_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(
        '[rate_limits]\nper_ip = 3\n\n[domains.jobs]\nprefixes = ["/api/jobs/"]\ntarget = "remote"\n'
        'upstreams = ["http://127.0.0.1:8003"]\n'
    )

    table = route_table_load(path)

    assert table.rate_limits.per_ip == 3
    assert table.match("/api/jobs/1/") == table.route("jobs")
    assert table.route("jobs").upstreams == ("http://127.0.0.1:8003",)
