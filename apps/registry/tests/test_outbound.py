"""The outbound URL guard: what a registered service URL may be and which addresses the platform refuses to call."""

from __future__ import annotations

from typing import Any

import pytest

from apps.registry.outbound import OutboundUrlError, base_url_normalize, outbound_url_check


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("HTTPS://ImputationServer.SPH.umich.edu/", "https://imputationserver.sph.umich.edu"),
        ("https://node.example.org/ga4gh/wes/v1/", "https://node.example.org/ga4gh/wes/v1"),
        ("http://127.0.0.1:8010/node/?x=1#frag", "http://127.0.0.1:8010/node"),
        ("http://[::1]:8010", "http://[::1]:8010"),
    ],
)
def test_base_urls_are_normalized_once(given: str, stored: str) -> None:
    assert base_url_normalize(given) == stored


@pytest.mark.parametrize(
    ("given", "field_message"),
    [
        ("ftp://files.example.org", "Use http(s)://"),
        ("javascript:alert(1)", "Use http(s)://"),
        ("https://alice:secret@node.example.org", "Remove user:password@ from the URL; tokens are stored per user."),
        ("https:///no-host", "Give the service's host name."),
    ],
)
def test_other_urls_are_refused_naming_the_field(given: str, field_message: str) -> None:
    with pytest.raises(OutboundUrlError) as refused:
        base_url_normalize(given)

    assert refused.value.details == {"base_url": [field_message]}


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://0.0.0.0/"])
def test_link_local_metadata_and_unspecified_addresses_are_never_called(url: str) -> None:
    with pytest.raises(OutboundUrlError, match="the platform will not call it"):
        outbound_url_check(url)


def test_link_local_can_be_allowed_by_setting(settings: Any) -> None:
    settings.REGISTRY_OUTBOUND_ALLOW_LINK_LOCAL = True

    outbound_url_check("http://169.254.169.254/")


def test_loopback_is_allowed_unless_private_addresses_are_denied(settings: Any) -> None:
    outbound_url_check("http://127.0.0.1:8010/")
    settings.REGISTRY_OUTBOUND_DENY_PRIVATE = True

    with pytest.raises(OutboundUrlError, match="private or loopback"):
        outbound_url_check("http://127.0.0.1:8010/")


def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(OutboundUrlError, match="does not resolve"):
        outbound_url_check("http://no-such-host.invalid/")
