"""E-mail through Django's backends (the in-memory one here): preferences, the profile's e-mail switch, quiet
hours (deferred, never dropped), hourly and daily digests in the user's time zone, retries of a refusing mail
server, and the minute sweep. Celery runs eagerly; `clock` moves django.utils.timezone.now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from django.core.mail import EmailMultiAlternatives

from apps.notifications.models import EmailDelivery, Notification
from apps.notifications.services.preferences import preference_update
from apps.notifications.tasks import DELIVER_RETRIES, emails_due
from apps.notifications.tests.factories import Clock, UsersStub, notification_make
from apps.notifications.tests.mailers import RefusingBackend

pytestmark = pytest.mark.django_db(databases=["notifications"])

FOOTER = (
    "All your notifications: http://127.0.0.1:8000/notifications\n"
    "Choose what you receive, digests and quiet hours: http://127.0.0.1:8000/settings\n\n"
)
Notify = Callable[..., Notification | None]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def notify(django_capture_on_commit_callbacks: Any) -> Notify:
    """Make a notification and commit it: what follows the commit (e-mail planning, sending) runs at once."""

    def make(user_id: int, title: str, **fields: Any) -> Notification | None:
        with django_capture_on_commit_callbacks(using="notifications", execute=True):
            made: Notification | None = notification_make(user_id, title, **fields)
        return made

    return make


def _titles(mail: list[EmailMultiAlternatives]) -> list[tuple[list[str], str]]:
    return [(message.to, str(message.subject)) for message in mail]


def test_an_immediate_email_has_a_text_and_an_html_part_in_the_users_time_zone(
    users: UsersStub, clock: Clock, notify: Notify, mailoutbox: list[EmailMultiAlternatives]
) -> None:
    users.add(31, first_name="Ada", timezone="Africa/Nairobi")

    made = notify(31, 'Job "chr22 run" completed', message="Your job finished; its results are ready to download.")

    [mail] = mailoutbox
    assert (mail.to, mail.from_email, mail.subject) == (
        ["user31@example.org"],
        "Imputation Platform <no-reply@localhost>",
        '[Imputation Platform] Job "chr22 run" completed',
    )
    assert mail.body == (
        'Hello Ada,\n\nJob "chr22 run" completed\n\nYour job finished; its results are ready to download.\n\n'
        "(Mon 2 Mar 2026, 12:00 EAT)\n\n" + FOOTER
    )
    [(html, kind)] = mail.alternatives
    assert kind == "text/html"
    assert '<h2 style="font-size: 1.2em;">Job &quot;chr22 run&quot; completed</h2>' in str(html)
    assert made is not None
    made.refresh_from_db()
    assert made.sent_at == clock.now
    delivery = EmailDelivery.objects.using("notifications").get()
    assert (delivery.status, delivery.kind, delivery.attempts) == ("sent", "single", 1)


def test_preferences_choose_which_types_are_emailed(
    users: UsersStub, clock: Clock, notify: Notify, mailoutbox: list[EmailMultiAlternatives]
) -> None:
    users.add(31)
    preference_update(user_id=31, changes={"channels": {"job_update": {"email": False}}})

    notify(31, "Job done", type="job_update")
    notify(31, "Service 3 is unavailable", type="service_alert")  # off by default: health flaps are noisy
    notify(31, "New sign-in", type="security")

    assert _titles(mailoutbox) == [(["user31@example.org"], "[Imputation Platform] New sign-in")]
    assert Notification.objects.using("notifications").filter(in_app=True).count() == 3


@pytest.mark.parametrize(
    ("account", "reason"),
    [
        ({"email_notifications": False}, "e-mail notifications are turned off in the profile"),
        ({"email": ""}, "the account has no e-mail address"),
        ({"is_active": False}, "the account is deactivated"),
        (None, "the user no longer exists"),
    ],
)
def test_no_email_for_an_account_that_cannot_or_will_not_take_it(
    users: UsersStub, clock: Clock, notify: Notify, mailoutbox: list[EmailMultiAlternatives], account: Any, reason: str
) -> None:
    if account is not None:
        users.add(31, **account)

    notify(31, "Job done")

    assert mailoutbox == []
    delivery = EmailDelivery.objects.using("notifications").get()
    assert (delivery.status, delivery.error) == ("skipped", reason)


def test_quiet_hours_defer_email_to_their_end_and_bundle_what_waited(
    users: UsersStub, clock: Clock, notify: Notify, mailoutbox: list[EmailMultiAlternatives]
) -> None:
    users.add(31, timezone="Africa/Johannesburg")  # UTC+2
    preference_update(user_id=31, changes={"quiet_hours": (time(22), time(7))})
    clock.set(at(2, 20, 30))  # 22:30 local

    first = notify(31, "Job one completed")
    clock.set(at(2, 23, 10))  # 01:10 local
    notify(31, "Job two failed")
    assert first is not None
    first.refresh_from_db()
    clock.set(at(3, 4, 59))  # 06:59 local
    emails_due()
    waited = list(mailoutbox)
    clock.set(at(3, 5, 0))  # 07:00 local: the window is over
    emails_due()

    assert first.email_due_at == at(3, 5, 0)
    assert waited == []
    [mail] = mailoutbox
    assert mail.subject == "[Imputation Platform] New notifications: 2 notifications"
    assert mail.body == (
        "Hello user31,\n\nHere is what happened since your last e-mail (2 notifications):\n\n"
        "* Job one completed (Mon 2 Mar, 22:30 SAST)\n\n"
        "* Job two failed (Tue 3 Mar, 01:10 SAST)\n\n" + FOOTER
    )


def test_urgent_notifications_are_emailed_even_in_quiet_hours(
    users: UsersStub, clock: Clock, notify: Notify, mailoutbox: list[EmailMultiAlternatives]
) -> None:
    users.add(31)
    preference_update(user_id=31, changes={"quiet_hours": (time(8), time(10))})

    notify(31, "Your account was locked", type="security", priority="urgent")
    notify(31, "Job done")

    assert _titles(mailoutbox) == [(["user31@example.org"], "[Imputation Platform] Your account was locked")]


def test_a_daily_digest_brings_the_days_notifications_at_eight_local_time(
    users: UsersStub, clock: Clock, notify: Notify, mailoutbox: list[EmailMultiAlternatives]
) -> None:
    users.add(32, first_name="Grace", timezone="Africa/Nairobi")  # UTC+3: 08:00 local is 05:00 UTC
    preference_update(user_id=32, changes={"digest": "daily"})

    notify(32, 'Job "a" completed', message="Your job finished.")
    clock.set(at(2, 15))
    notify(32, 'Job "b" failed', message="Your job failed.")
    clock.set(at(3, 4, 59))
    emails_due()
    before = list(mailoutbox)
    clock.set(at(3, 5))
    emails_due()
    clock.set(at(3, 5, 1))
    emails_due()

    assert before == []
    [mail] = mailoutbox
    assert (mail.to, mail.subject) == (
        ["user32@example.org"],
        "[Imputation Platform] Your daily digest: 2 notifications",
    )
    assert mail.body == (
        "Hello Grace,\n\nHere is what happened since your last e-mail (2 notifications):\n\n"
        '* Job "a" completed (Mon 2 Mar, 12:00 EAT)\n  Your job finished.\n\n'
        '* Job "b" failed (Mon 2 Mar, 18:00 EAT)\n  Your job failed.\n\n' + FOOTER
    )
    assert {n.sent_at for n in Notification.objects.using("notifications").all()} == {at(3, 5)}


def test_an_hourly_digest_goes_at_the_next_full_hour(
    users: UsersStub, clock: Clock, notify: Notify, mailoutbox: list[EmailMultiAlternatives]
) -> None:
    users.add(33)
    preference_update(user_id=33, changes={"digest": "hourly"})
    clock.set(at(2, 9, 10))

    notify(33, "One")
    notify(33, "Two")
    clock.set(at(2, 9, 59))
    emails_due()
    before = list(mailoutbox)
    clock.set(at(2, 10, 0))
    emails_due()

    assert before == []
    assert _titles(mailoutbox) == [
        (["user33@example.org"], "[Imputation Platform] Your hourly digest: 2 notifications")
    ]


def test_leaving_the_daily_digest_sends_what_was_waiting_at_once(
    users: UsersStub,
    clock: Clock,
    notify: Notify,
    mailoutbox: list[EmailMultiAlternatives],
    django_capture_on_commit_callbacks: Any,
) -> None:
    users.add(34)
    preference_update(user_id=34, changes={"digest": "daily"})
    notify(34, "Waiting for tomorrow")

    with django_capture_on_commit_callbacks(using="notifications", execute=True):
        preference_update(user_id=34, changes={"digest": "immediate"})

    assert _titles(mailoutbox) == [(["user34@example.org"], "[Imputation Platform] Waiting for tomorrow")]


def test_a_refusing_mail_server_is_retried_with_backoff_until_it_takes_the_mail(
    users: UsersStub, clock: Clock, notify: Notify, mailoutbox: list[EmailMultiAlternatives], settings: Any
) -> None:
    settings.EMAIL_BACKEND = "apps.notifications.tests.mailers.RefusingBackend"
    settings.NOTIFICATIONS_EMAIL_RETRY_SECONDS = 0  # eager retries run at once; the claim must be free again
    RefusingBackend.reset(refusals=2)
    users.add(31)

    notify(31, "Job done")

    assert _titles(mailoutbox) == [(["user31@example.org"], "[Imputation Platform] Job done")]
    delivery = EmailDelivery.objects.using("notifications").get()
    assert (delivery.status, delivery.attempts, delivery.error) == ("sent", 3, "")


def test_a_mail_server_that_keeps_refusing_is_given_up_on_record(
    users: UsersStub, clock: Clock, notify: Notify, mailoutbox: list[EmailMultiAlternatives], settings: Any
) -> None:
    settings.EMAIL_BACKEND = "apps.notifications.tests.mailers.RefusingBackend"
    settings.NOTIFICATIONS_EMAIL_RETRY_SECONDS = 0
    RefusingBackend.reset(refusals=100)
    users.add(31)

    notify(31, "Job done")

    delivery = EmailDelivery.objects.using("notifications").get()
    assert mailoutbox == []
    assert (delivery.status, delivery.attempts) == ("failed", DELIVER_RETRIES + 1)
    assert delivery.error == "SMTPServerDisconnected: Connection unexpectedly closed"


def test_the_minute_sweep_catches_up_on_what_a_lost_task_left(
    users: UsersStub, clock: Clock, mailoutbox: list[EmailMultiAlternatives]
) -> None:
    users.add(31)
    notification_make(31, "Planned by nobody")  # never committed: the planning task was never queued
    early = emails_due()
    clock.set(clock.now + timedelta(minutes=10))

    late = emails_due()

    assert early == {"users": 0, "deliveries": 0}
    assert late == {"users": 1, "deliveries": 0}
    assert _titles(mailoutbox) == [(["user31@example.org"], "[Imputation Platform] Planned by nobody")]


def test_the_minute_sweep_resends_a_delivery_whose_sender_was_lost(
    users: UsersStub, clock: Clock, mailoutbox: list[EmailMultiAlternatives]
) -> None:
    from apps.notifications.services.emails import user_emails_prepare

    users.add(31)
    notification_make(31, "Job done")
    delivery = user_emails_prepare(user_id=31)  # bundled, but its sending task never ran
    assert delivery is not None
    clock.set(clock.now + timedelta(minutes=10))

    swept = emails_due()

    assert swept == {"users": 0, "deliveries": 1}
    assert _titles(mailoutbox) == [(["user31@example.org"], "[Imputation Platform] Job done")]
