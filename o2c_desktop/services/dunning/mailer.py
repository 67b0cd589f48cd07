"""Sending a run's e-mail letters through the statements' SMTP settings.

One connection for the run, through statement_mail (its settings, retries and failure rules),
so reminders go out exactly as statements do and land in the same delivery log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from o2c_desktop.db import Database
from o2c_desktop.errors import O2CError
from o2c_desktop.services.auth import Actor, Permission

MAIL_ATTEMPTS = 3
MAIL_BACKOFF_SECONDS = 2.0
NO_CONTACT = (
    'no statement contact: mark a contact "receives statements" or give the customer an '
    "e-mail address"
)


class Mailer:
    """One SMTP connection for the run's e-mail letters. Like a statement batch, it stops
    trying once no session can be opened (a bad login, a TLS mismatch, the server unreachable
    twice in a row): the remaining e-mail letters fail at once with that reason instead of each
    waiting for retries."""

    def __init__(self, settings: Any):
        from o2c_desktop.services import statement_mail

        self.mail = statement_mail
        self.settings = replace(settings, subject_template="{subject}", body_template="{body}")
        self.session = statement_mail.SmtpSession(settings)
        self.down: str | None = None
        self.in_a_row = 0

    def send(
        self,
        recipients: Sequence[str],
        subject: str,
        body: str,
        pdf: bytes,
        filename: str,
        cancel: Callable[[], bool] | None,
    ) -> tuple[bool, str]:
        """Send one letter (with retries): whether the server took it, and its reply or why
        not."""
        if self.down is not None:
            return False, f"not sent: the SMTP server failed for the letters before ({self.down})"
        message = self.mail.build_message(
            self.settings, recipients, {"subject": subject, "body": body}, pdf, filename
        )
        outcome = self.mail.deliver(
            self.session,
            message,
            attempts=MAIL_ATTEMPTS,
            backoff_seconds=MAIL_BACKOFF_SECONDS,
            cancelled=cancel,
        )
        failure = outcome.session_failure
        self.in_a_row = self.in_a_row + 1 if failure is not None else 0
        if failure is not None and (not failure.temporary or self.in_a_row >= self.mail.STOP_AFTER):
            self.down = failure.reason
        return outcome.ok, outcome.detail

    def close(self) -> None:
        self.session.close()


def open_mailer(db: Database, actor: Actor, run_id: int, emails: int) -> Mailer | None:
    """The SMTP connection when `emails` letters of the run go out by e-mail (None for none);
    refused before anything is written when no server is set up."""
    if not emails:
        return None
    actor.require(Permission.PRINT_STATEMENTS)
    from o2c_desktop.services.mail_settings import load_mail_settings

    settings = load_mail_settings(db)
    if not settings.configured:
        raise O2CError(
            f"{emails} letter(s) of dunning run #{run_id} go out by e-mail, but no SMTP server "
            "is set up: a credit manager or administrator can set one under Settings → E-mail "
            "(SMTP), or leave those letters out. Nothing was produced."
        )
    return Mailer(settings)
