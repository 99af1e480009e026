"""`manage.py users_create_admin`: the first admin from the environment, idempotent, refusing weak passwords."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.users.models import Profile, User
from apps.users.tests.factories import actions, user_make

pytestmark = pytest.mark.django_db(databases=["users"])

STRONG = "granite-meadow-compass-63"


def run() -> str:
    out = StringIO()
    call_command("users_create_admin", stdout=out)
    return out.getvalue().strip()


@pytest.fixture
def admin_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("ADMIN_USERNAME", "platform-admin")
    monkeypatch.setenv("ADMIN_EMAIL", "admin@example.org")
    monkeypatch.setenv("ADMIN_PASSWORD", STRONG)
    return monkeypatch


def test_the_first_run_creates_the_admin_and_the_second_changes_nothing(admin_env: pytest.MonkeyPatch) -> None:
    first = run()
    second = run()

    admin = User.objects.get()
    assert (first, second) == ("admin 'platform-admin' created", "admin 'platform-admin' already up to date")
    assert (admin.role, admin.is_staff, admin.is_superuser, admin.email) == ("admin", True, True, "admin@example.org")
    assert admin.check_password(STRONG)
    assert Profile.objects.filter(user=admin).exists()
    assert actions() == ["admin_created"]


def test_a_changed_password_or_email_updates_the_admin(admin_env: pytest.MonkeyPatch) -> None:
    run()
    admin_env.setenv("ADMIN_EMAIL", "ops@example.org")
    admin_env.setenv("ADMIN_PASSWORD", "another-granite-meadow-7")

    output = run()

    admin = User.objects.get()
    assert output == "admin 'platform-admin' updated: email, password"
    assert admin.email == "ops@example.org" and admin.check_password("another-granite-meadow-7")
    assert actions() == ["admin_created", "admin_updated"]


def test_an_existing_account_of_that_name_is_promoted(admin_env: pytest.MonkeyPatch) -> None:
    user_make(username="platform-admin", email="admin@example.org", role="viewer")

    output = run()

    admin = User.objects.get()
    assert output == "admin 'platform-admin' updated: is_staff, is_superuser, password, role"
    assert (admin.role, admin.is_staff, admin.is_superuser) == ("admin", True, True)


def test_a_weak_password_is_refused_with_the_validators_messages(admin_env: pytest.MonkeyPatch) -> None:
    admin_env.setenv("ADMIN_PASSWORD", "admin123")

    with pytest.raises(CommandError) as refused:
        run()

    assert str(refused.value) == (
        "The admin password is not acceptable: "
        "The password is too similar to the username. "
        "This password is too short. It must contain at least 10 characters. "
        "This password is too common."
    )
    assert "admin123" not in str(refused.value)
    assert not User.objects.exists()


def test_missing_variables_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_USERNAME", "platform-admin")
    monkeypatch.delenv("ADMIN_EMAIL", raising=False)
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)

    with pytest.raises(CommandError) as refused:
        run()

    assert str(refused.value) == "set ADMIN_EMAIL, ADMIN_PASSWORD in the environment"
