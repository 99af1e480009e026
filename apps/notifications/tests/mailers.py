"""E-mail backends for the e-mail tests: Django's in-memory one behind a mail server that refuses at first."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from typing import Any

from django.core.mail.backends.locmem import EmailBackend
from django.core.mail.message import EmailMessage


class RefusingBackend(EmailBackend):
    """Refuses the first `refusals` messages (as a mail server going away would), then delivers to mail.outbox."""

    refusals = 0
    attempts = 0

    def send_messages(self, messages: Sequence[EmailMessage]) -> int:
        type(self).attempts += 1
        if type(self).attempts <= type(self).refusals:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)

    @classmethod
    def reset(cls, refusals: int) -> Any:
        cls.refusals, cls.attempts = refusals, 0
        return cls
