from datetime import timedelta

import pytest
from django.utils import timezone

from apps.node.models import NodeUser
from apps.node.tokens import token_check, token_create, token_revoke

pytestmark = pytest.mark.django_db(databases=["node"])


def test_a_fresh_token_is_valid_and_names_its_user() -> None:
    user = NodeUser.objects.create(username="bob")
    token = token_create(user, days=30)

    check = token_check(token)

    assert (check.status, check.message, check.user) == (200, "API Token is valid.", user)


def test_an_expired_token_is_401() -> None:
    user = NodeUser.objects.create(username="bob")
    token = token_create(user, days=1)

    check = token_check(token, now=timezone.now() + timedelta(days=2))

    assert (check.status, check.message) == (401, "API Token expired.")


def test_a_newer_token_revokes_the_older_one_with_403() -> None:
    user = NodeUser.objects.create(username="bob")
    old = token_create(user)
    new = token_create(user)

    assert (token_check(old).status, token_check(new).status) == (403, 200)


def test_a_revoked_token_is_403_and_garbage_is_401() -> None:
    user = NodeUser.objects.create(username="bob")
    token = token_create(user, days=-1)
    token_revoke(user)

    assert (token_check(token).status, token_check("not-a-token").status) == (403, 401)
