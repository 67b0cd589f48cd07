"""E-mailing statements: to whom, the message, SMTP with retries, and a delivery row per send.

A statement e-mail is never silently dropped: every send ends in a delivery-log row (channel
"email", result "ok" or "failed") whose detail holds the server's reply or the reason it failed,
try by try. Failures a later try may cure (connection refused or timed out, a 4xx reply such as
"451 try again", a dropped connection) are retried with a doubling pause; a permanent refusal
(5xx, a bad login, a TLS mismatch, an unknown host) fails at once, since retrying would only
delay the report. SMTP problems come back as a failed `SendResult`, never as an exception, so a
batch goes on with the next customer. A batch that cannot open an SMTP session at all (a bad
password, a TLS mismatch, a server unreachable for two customers in a row) stops trying and
logs each remaining statement as failed with that reason.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from o2c_desktop.db import Database
from o2c_desktop.errors import NotFound, O2CError
from o2c_desktop.models import Contact, Customer
from o2c_desktop.services import letterhead, statement_delivery
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.mail_settings import MailSettings, render_template, smtp_password
from o2c_desktop.services.statements.formatting import formats_for_country

if TYPE_CHECKING:
    from o2c_desktop.services.statements import StatementFile

TIMEOUT_SECONDS = 30.0
STOP_AFTER = 2  # customers in a row for whom the server could not be reached: stop trying
LOG_CHUNK = 500  # "not sent" rows logged per unit of work when a batch stops
NO_CONTACT = "no statement contact"


@dataclass(frozen=True)
class SendResult:
    """What happened to one customer's statement e-mail (also in the delivery log)."""

    customer_id: int
    customer_number: str
    recipients: tuple[str, ...]
    ok: bool
    detail: str
    attempts: int
    delivery_id: int | None = None

    @property
    def result(self) -> str:
        return "ok" if self.ok else "failed"

    def __str__(self) -> str:
        to = ", ".join(self.recipients) or "nobody"
        return f"{self.customer_number} → {to}: {self.result}: {self.detail}"


class SendFailure(Exception):
    """One failed try. `temporary`: another try may succeed. `session`: no SMTP session could
    be opened at all (unreachable, TLS, login, not set up), so the next customer would fail the
    same way; a batch stops trying after that rather than hammering the server."""

    def __init__(self, reason: str, temporary: bool, session: bool = False):
        super().__init__(reason)
        self.reason, self.temporary, self.session = reason, temporary, session


@dataclass(frozen=True)
class Attempts:
    """How one message went: sent or not, the server's reply or the reasons try by try."""

    ok: bool
    detail: str
    tries: int
    session_failure: SendFailure | None = None  # the last failure, when it was session-level


# -- who receives it, and what it says --------------------------------------------------------


@dataclass(frozen=True)
class _CustomerFacts:
    number: str
    name: str
    country: str | None
    recipients: tuple[str, ...]


def _facts(db: Database, customer_id: int) -> _CustomerFacts:
    with db.read() as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise NotFound(f"Customer #{customer_id} does not exist (any more).")
        contacts = session.scalars(
            select(Contact.email)
            .where(
                Contact.customer_id == customer_id,
                Contact.receives_statements.is_(True),
                Contact.email.is_not(None),
            )
            .order_by(Contact.is_primary.desc(), Contact.id)
        ).all()
        found = distinct_addresses(contacts) or distinct_addresses([customer.email])
        return _CustomerFacts(customer.number, customer.name, customer.country, tuple(found))


def distinct_addresses(addresses: Iterable[str | None]) -> list[str]:
    """Addresses in order, blanks and repeats (in any letter case) left out."""
    seen: dict[str, str] = {}
    for address in addresses:
        text = (address or "").strip()
        if text:
            seen.setdefault(text.lower(), text)
    return list(seen.values())


def statement_recipients(db: Database, customer_id: int) -> list[str]:
    """The e-mail addresses of the contacts marked "receives statements" (primary first); when
    none is marked, the customer's own e-mail; when that is empty too, nobody."""
    return list(_facts(db, customer_id).recipients)


def _company_name(db: Database) -> str:
    """{company}: the name on the letterhead, the same one the attached statement carries."""
    return letterhead.get_letterhead(db).company_name


def template_values(
    facts: _CustomerFacts, file: StatementFile, as_of: date, company: str
) -> dict[str, str]:
    """The placeholders' values, written as on the statement itself: numbers and dates the
    customer's way (31.05.2025, 1.234,50 EUR for DE), words in English."""
    formats = formats_for_country(facts.country)

    def one_line(text: str) -> str:  # a name with a line break must not break the header
        return " ".join(text.split())

    return {
        "customer_name": one_line(facts.name),
        "customer_number": one_line(facts.number),
        "statement_date": formats.date(as_of),
        "total_due": f"{formats.money(file.total_due, file.currency)} {file.currency}",
        "company": one_line(company),
    }


def build_message(
    settings: MailSettings,
    recipients: Sequence[str],
    values: dict[str, str],
    attachment: bytes,
    filename: str,
) -> EmailMessage:
    """The e-mail: templated subject and body, the PDF attached under its file name."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = render_template(settings.subject_template, values)
    message["Date"] = formatdate(localtime=True)
    domain = settings.sender_address.rpartition("@")[2] or None
    message["Message-ID"] = make_msgid("statement", domain=domain)
    message.set_content(render_template(settings.body_template, values))
    message.add_attachment(attachment, maintype="application", subtype="pdf", filename=filename)
    return message


# -- SMTP ---------------------------------------------------------------------------------------


class _RecordsReply:
    """Keeps the server's answer to DATA ("250 2.0.0 Ok: queued as …") for the delivery log."""

    last_reply: str = ""

    def data(self, msg: Any) -> tuple[int, bytes]:
        code, text = super().data(msg)  # type: ignore[misc]
        self.last_reply = f"{code} {_text(text)}"
        return code, text


class _SMTP(_RecordsReply, smtplib.SMTP):
    pass


class _SMTPS(_RecordsReply, smtplib.SMTP_SSL):
    pass


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def _failure(exc: BaseException, settings: MailSettings, timeout: float) -> SendFailure:
    """Turn whatever smtplib or the network raised into one line and a retry decision."""
    where = f"{settings.host}:{settings.port}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        reasons = "; ".join(
            f"{addr}: {code} {_text(msg)}" for addr, (code, msg) in exc.recipients.items()
        )
        return SendFailure(f"recipient refused: {reasons}", all(400 <= c < 500 for c in codes))
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return SendFailure(
            f"login as {settings.user} refused: {exc.smtp_code} {_text(exc.smtp_error)}", False
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return SendFailure(f"{exc.smtp_code} {_text(exc.smtp_error)}", 400 <= exc.smtp_code < 500)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SendFailure(f"{where}: {exc} Check the security setting.", False)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return SendFailure(f"{where} closed the connection ({exc})", True)
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return SendFailure(
            f"TLS with {where} failed ({exc}); check the port and the security setting", False
        )
    if isinstance(exc, socket.gaierror):
        return SendFailure(f"cannot find the host {settings.host!r} ({exc.strerror})", False)
    if isinstance(exc, ConnectionRefusedError):
        return SendFailure(
            f"{where} refused the connection: is the SMTP server running, is the port right?",
            True,
        )
    if isinstance(exc, TimeoutError):
        return SendFailure(f"no answer from {where} within {timeout:g} s", True)
    if isinstance(exc, OSError):
        return SendFailure(f"cannot reach {where}: {exc.strerror or exc}", True)
    if isinstance(exc, smtplib.SMTPException):
        return SendFailure(f"{where}: {exc}", False)
    raise exc


class SmtpSession:
    """One connection, opened on first use and reused for the next message; after any failure
    it is dropped and the next try connects afresh. Not shared between threads."""

    def __init__(
        self, settings: MailSettings, password: str | None = None, timeout: float = TIMEOUT_SECONDS
    ):
        self.settings, self.timeout = settings, timeout
        self.password = password if password is not None else smtp_password(settings)
        self._smtp: _SMTP | _SMTPS | None = None

    def _connect(self) -> _SMTP | _SMTPS:
        s = self.settings
        if not s.configured:
            raise SendFailure(
                "e-mail is not set up: enter the SMTP server and sender under "
                "Settings → E-mail (SMTP)",
                False,
            )
        if s.user and not self.password:
            raise SendFailure(
                f"no SMTP password for {s.user} on this computer: enter it under "
                "Settings → E-mail (SMTP)",
                False,
            )
        context = ssl.create_default_context()
        smtp: _SMTP | _SMTPS
        if s.security == "tls":
            smtp = _SMTPS(s.host, s.port, timeout=self.timeout, context=context)
        else:
            smtp = _SMTP(s.host, s.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if s.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise SendFailure(
                        f"{s.host}:{s.port} does not offer STARTTLS; check the port and the "
                        "security setting",
                        False,
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.user:
                smtp.login(s.user, self.password or "")
        except BaseException:
            _close(smtp)
            raise
        return smtp

    def send(self, message: EmailMessage) -> str:
        """Send one message; returns the server's reply, raises SendFailure."""
        if self._smtp is None:
            try:
                self._smtp = self._connect()
            except SendFailure as failure:
                failure.session = True
                raise
            except (smtplib.SMTPException, OSError) as exc:
                failure = _failure(exc, self.settings, self.timeout)
                failure.session = True
                raise failure from None
        try:
            refused = self._smtp.send_message(message)
            reply = self._smtp.last_reply or "accepted"
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise _failure(exc, self.settings, self.timeout) from None
        if refused:
            reply += "; refused: " + "; ".join(
                f"{addr}: {code} {_text(msg)}" for addr, (code, msg) in refused.items()
            )
        return reply

    def close(self) -> None:
        if self._smtp is not None:
            _close(self._smtp)
            self._smtp = None

    def __enter__(self) -> SmtpSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _pause(seconds: float, cancelled: Callable[[], bool] | None) -> bool:
    """Sleep, waking early when cancelled; True when the pause ran out (not cancelled)."""
    if cancelled is None:
        time.sleep(seconds)
        return True
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if cancelled():
            return False
        time.sleep(min(left, 0.1))
    return not cancelled()


def deliver(
    session: SmtpSession,
    message: EmailMessage,
    *,
    attempts: int = 3,
    backoff_seconds: float = 2.0,
    cancelled: Callable[[], bool] | None = None,
) -> Attempts:
    """Send with retries, pausing backoff, 2×backoff, … between tries."""
    history: list[str] = []
    last: SendFailure | None = None
    for attempt in range(1, max(attempts, 1) + 1):
        try:
            reply = session.send(message)
        except SendFailure as failure:
            last = failure
            history.append(f"try {attempt}: {failure.reason}")
            at_session = failure if failure.session else None
            if not failure.temporary:
                return Attempts(False, "; ".join(history), attempt, at_session)
            if attempt < attempts and not _pause(backoff_seconds * 2 ** (attempt - 1), cancelled):
                history.append("cancelled before the next try")
                return Attempts(False, "; ".join(history), attempt, at_session)
        else:
            earlier = f" (after {'; '.join(history)})" if history else ""
            return Attempts(True, reply + earlier, attempt)
    detail = "; ".join(history) + f"; gave up after {attempts} tries"
    return Attempts(False, detail, attempts, last if last is not None and last.session else None)


# -- the use cases ------------------------------------------------------------------------------


def _send_one(
    db: Database,
    actor: Actor,
    settings: MailSettings,
    session: SmtpSession,
    file: StatementFile,
    *,
    as_of: date,
    kind: str,
    attempts: int,
    backoff_seconds: float,
    company: str,
    cancelled: Callable[[], bool] | None = None,
) -> tuple[SendResult, SendFailure | None]:
    """Send one statement and log it; also the session-level failure, if that is why it failed."""
    facts = _facts(db, file.customer_id)
    recipients = facts.recipients
    tries = 0
    session_failure = None
    if not recipients:
        ok, detail = (
            False,
            f'{NO_CONTACT}: mark a contact "receives statements" or give the customer '
            "an e-mail address",
        )
    else:
        try:
            attachment = Path(file.path).read_bytes()
        except OSError as exc:
            ok, detail = False, f"cannot read {file.path}: {exc.strerror}"
        else:
            values = template_values(facts, file, as_of, company)
            message = build_message(settings, recipients, values, attachment, Path(file.path).name)
            outcome = deliver(
                session,
                message,
                attempts=attempts,
                backoff_seconds=backoff_seconds,
                cancelled=cancelled,
            )
            ok, detail, tries = outcome.ok, outcome.detail, outcome.tries
            session_failure = outcome.session_failure
    delivery_id = statement_delivery.record_delivery(
        db,
        actor,
        customer_id=file.customer_id,
        statement_date=as_of,
        kind=kind,
        file=Path(file.path),
        sha256=file.sha256,
        channel="email",
        result="ok" if ok else "failed",
        detail=detail,
        recipient=", ".join(recipients) or None,
    )
    result = SendResult(
        file.customer_id, file.customer_number, recipients, ok, detail, tries, delivery_id
    )
    return result, session_failure


def _not_tried(
    db: Database,
    actor: Actor,
    files: Sequence[StatementFile],
    *,
    as_of: date,
    kind: str,
    reason: str,
) -> list[SendResult]:
    """Log the statements a stopped batch did not send (failed, with the reason) and say so."""
    detail = f"not sent: the SMTP server failed for the customers before ({reason})"
    results: list[SendResult] = []
    for start in range(0, len(files), LOG_CHUNK):
        part = files[start : start + LOG_CHUNK]
        ids = statement_delivery.record_deliveries(
            db,
            actor,
            [
                statement_delivery.DeliveryEntry(
                    f.customer_id, as_of, kind, Path(f.path), f.sha256, "email", "failed", detail
                )
                for f in part
            ],
        )
        results += [
            SendResult(f.customer_id, f.customer_number, (), False, detail, 0, row_id)
            for f, row_id in zip(part, ids, strict=True)
        ]
    return results


def send_statement(
    db: Database,
    actor: Actor,
    settings: MailSettings,
    file: StatementFile,
    *,
    as_of: date,
    attempts: int = 3,
    backoff_seconds: float = 2.0,
    kind: str = "open-items",
) -> SendResult:
    """E-mail one written statement to the customer's statement contacts, retrying temporary
    failures; the outcome is in the delivery log and in the returned result."""
    actor.require(Permission.PRINT_STATEMENTS)
    with SmtpSession(settings) as session:
        result, _failure_kind = _send_one(
            db,
            actor,
            settings,
            session,
            file,
            as_of=as_of,
            kind=kind,
            attempts=attempts,
            backoff_seconds=backoff_seconds,
            company=_company_name(db),
        )
    return result


def send_batch(
    db: Database,
    actor: Actor,
    settings: MailSettings,
    files: Sequence[StatementFile],
    *,
    as_of: date,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    attempts: int = 3,
    backoff_seconds: float = 2.0,
    kind: str = "open-items",
) -> list[SendResult]:
    """E-mail many statements over one SMTP connection, each logged as it goes.

    Cancel stops before the next customer (what was sent stays sent and logged); the results
    then list only the customers tried. When no SMTP session can be opened (a wrong password,
    a TLS mismatch, or the server unreachable for two customers in a row), the rest are not
    tried: each is logged as failed with that reason and returned as such, so a dead server
    costs seconds rather than retries for every customer, and a bad login does not lock the
    account."""
    actor.require(Permission.PRINT_STATEMENTS)
    company = _company_name(db)
    results: list[SendResult] = []
    down = 0
    with SmtpSession(settings) as session:
        for index, file in enumerate(files):
            if cancelled is not None and cancelled():
                break
            try:
                result, failure = _send_one(
                    db,
                    actor,
                    settings,
                    session,
                    file,
                    as_of=as_of,
                    kind=kind,
                    attempts=attempts,
                    backoff_seconds=backoff_seconds,
                    company=company,
                    cancelled=cancelled,
                )
            except NotFound as gone:  # deleted since its statement was written: nothing to log
                result, failure = (
                    SendResult(file.customer_id, file.customer_number, (), False, str(gone), 0),
                    None,
                )
            results.append(result)
            down = down + 1 if failure is not None else 0
            rest = files[index + 1 :]
            if failure is not None and rest and (not failure.temporary or down >= STOP_AFTER):
                results += _not_tried(
                    db, actor, rest, as_of=as_of, kind=kind, reason=failure.reason
                )
            if progress is not None:
                progress(len(results), len(files))
            if len(results) == len(files):
                break
    return results


def send_test_email(settings: MailSettings, to: str, password: str | None = None) -> str:
    """One plain message to `to` with the given settings (the Settings dialog's "Send test
    e-mail…"): the server's reply, or O2CError saying why it failed."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = "O2C Desktop: test e-mail"
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(
        "test", domain=settings.sender_address.rpartition("@")[2] or None
    )
    message.set_content(
        f"This test e-mail was sent through {settings.describe()}.\n"
        "Statements will be sent the same way.\n"
    )
    with SmtpSession(settings, password) as session:
        outcome = deliver(session, message, attempts=1)
    if not outcome.ok:
        reason = outcome.detail.removeprefix("try 1: ")
        raise O2CError(f"The test e-mail to {to} was not sent: {reason}")
    return outcome.detail
