"""Profile fields that must hold a valid value: IANA time zones and ISO country codes."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.users.models import Profile, User


def test_an_iana_time_zone_is_accepted() -> None:
    Profile(user=User(pk=1), timezone="Africa/Nairobi", country="KE").full_clean(exclude=["user"])


@pytest.mark.parametrize("name", ["Mars/Olympus", "EAT", "africa/nairobi", ""])
def test_a_name_that_is_not_an_iana_time_zone_is_refused(name: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Profile(user=User(pk=1), timezone=name).full_clean(exclude=["user"])

    assert list(refused.value.message_dict) == ["timezone"]


@pytest.mark.parametrize("code", ["ke", "KEN", "K1"])
def test_a_country_must_be_an_alpha_2_code(code: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Profile(user=User(pk=1), country=code).full_clean(exclude=["user"])

    assert list(refused.value.message_dict) == ["country"]
    assert refused.value.message_dict["country"][0] == "Use an ISO 3166-1 alpha-2 country code such as 'ZA'."
