"""Statement e-mail against a real SMTP server (aiosmtpd on 127.0.0.1) started by each test:
delivered with the PDF attached, retried after a temporary refusal, and every outcome logged."""

from __future__ import annotations

import email
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from email.message import EmailMessage
from email.policy import default as default_policy
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from reportlab.pdfgen import canvas

from o2c_desktop.db import Database
from o2c_desktop.errors import O2CError
from o2c_desktop.services import (
    contacts,
    customers,
    letterhead,
    statement_delivery,
    statement_mail,
)
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.mail_settings import MailSettings, store_smtp_password
from o2c_desktop.services.statements import StatementFile
from tests.services.test_mail_settings import MemoryKeyring, memory_keyring  # noqa: F401

AS_OF = date(2025, 5, 31)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Mailbox:
    """An SMTP handler: keeps what arrives; `refuse` replies are used up first, `always` for
    every message."""

    refuse: list[str] = field(default_factory=list)
    always: str | None = None
    received: list[EmailMessage] = field(default_factory=list)
    envelopes: list[Any] = field(default_factory=list)
    tries: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.tries += 1
        if self.always:
            return self.always
        if self.refuse:
            return self.refuse.pop(0)
        self.envelopes.append(envelope)
        self.received.append(
            email.message_from_bytes(envelope.original_content, policy=default_policy)  # type: ignore[arg-type]
        )
        return "250 2.0.0 Ok: queued as TEST42"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A plain SMTP server on a free port of 127.0.0.1: (handler, port)."""
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


def plain_settings(port: int, **changes: Any) -> MailSettings:
    return replace(
        MailSettings(
            host="127.0.0.1",
            port=port,
            security="none",
            sender="Accounts <ar@seller.example>",
            subject_template="Statement {customer_number} as of {statement_date}",
            body_template="Dear {customer_name}, you owe {total_due}. {company}",
        ),
        **changes,
    )


def small_pdf(path: Path) -> Path:
    drawing = canvas.Canvas(str(path))
    drawing.setTitle("Statement")
    drawing.drawString(72, 720, "Statement of account")
    drawing.save()
    return path


def statement_file(customer_id: int, number: str, folder: Path) -> StatementFile:
    path = small_pdf(folder / f"{number}-{AS_OF}.pdf")
    return StatementFile(
        customer_id=customer_id,
        customer_number=number,
        path=path,
        sha256=sha256(path.read_bytes()).hexdigest(),
        pages=1,
        total_due=Decimal("1234.50"),
        currency="EUR",
    )


@pytest.fixture
def customer(db: Database, admin: Actor) -> int:
    """A German customer with two statement contacts and one contact who gets none."""
    row = customers.create_customer(
        db,
        admin,
        {
            "number": "C-100",
            "name": "Zürich Ödön GmbH",
            "email": "info@zod.example",
            "country": "DE",
        },
    )
    for name, address, statements in (
        ("Ann Payable", "ann@zod.example", True),
        ("Bob Buyer", "bob@zod.example", False),
        ("Cid Controller", "cid@zod.example", True),
    ):
        contacts.add_contact(
            db, admin, row.id, {"name": name, "email": address, "receives_statements": statements}
        )
    return row.id


def test_recipients_are_statement_contacts_else_the_customer_email(
    db: Database, admin: Actor, customer: int
) -> None:
    assert statement_mail.statement_recipients(db, customer) == [
        "ann@zod.example",
        "cid@zod.example",
    ]
    plain = customers.create_customer(
        db, admin, {"number": "C-101", "name": "Plain", "email": "ap@plain.example"}
    )
    assert statement_mail.statement_recipients(db, plain.id) == ["ap@plain.example"]
    nobody = customers.create_customer(db, admin, {"number": "C-102", "name": "Nobody"})
    assert statement_mail.statement_recipients(db, nobody.id) == []


def test_statement_arrives_with_pdf_and_templated_subject(
    db: Database, admin: Actor, customer: int, mailbox: tuple[Mailbox, int], tmp_path: Path
) -> None:
    box, port = mailbox
    letterhead.set_letterhead(
        db, admin, letterhead.with_changes(letterhead.DEFAULT_LETTERHEAD, company_name="Seller AG")
    )
    file = statement_file(customer, "C-100", tmp_path)
    result = statement_mail.send_statement(
        db, admin, plain_settings(port), file, as_of=AS_OF, backoff_seconds=0.01
    )
    assert result.ok, result.detail
    assert result.attempts == 1
    assert "250 2.0.0 Ok: queued as TEST42" in result.detail
    [message] = box.received
    assert message["Subject"] == "Statement C-100 as of 31.05.2025"  # the customer's way
    assert message["To"] == "ann@zod.example, cid@zod.example"
    assert message["Message-ID"].endswith("@seller.example>")
    assert message["Date"]
    assert sorted(box.envelopes[0].rcpt_tos) == ["ann@zod.example", "cid@zod.example"]
    body = message.get_body(("plain",))
    assert body is not None
    assert "Dear Zürich Ödön GmbH, you owe 1.234,50 EUR. Seller AG" in body.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "C-100-2025-05-31.pdf"
    assert attachment.get_content() == file.path.read_bytes()

    [logged] = statement_delivery.deliveries_for_customer(db, customer)
    assert (logged.channel, logged.result) == ("email", "ok")
    assert logged.sha256 == file.sha256
    assert logged.recipient == "ann@zod.example, cid@zod.example"
    assert "queued as TEST42" in (logged.detail or "")


def test_a_temporary_refusal_is_retried(
    db: Database, admin: Actor, customer: int, mailbox: tuple[Mailbox, int], tmp_path: Path
) -> None:
    box, port = mailbox
    box.refuse = ["451 4.3.0 try again"]
    result = statement_mail.send_statement(
        db,
        admin,
        plain_settings(port),
        statement_file(customer, "C-100", tmp_path),
        as_of=AS_OF,
        backoff_seconds=0.01,
    )
    assert result.ok, result.detail
    assert (result.attempts, box.tries, len(box.received)) == (2, 2, 1)
    assert "451 4.3.0 try again" in result.detail  # the earlier try is reported too
    [logged] = statement_delivery.deliveries_for_customer(db, customer)
    assert logged.result == "ok"


def test_a_server_that_always_refuses_is_logged_as_failed(
    db: Database, admin: Actor, customer: int, mailbox: tuple[Mailbox, int], tmp_path: Path
) -> None:
    box, port = mailbox
    box.always = "452 4.3.1 mailbox full"
    result = statement_mail.send_statement(
        db,
        admin,
        plain_settings(port),
        statement_file(customer, "C-100", tmp_path),
        as_of=AS_OF,
        attempts=3,
        backoff_seconds=0.01,
    )
    assert not result.ok
    assert (result.attempts, box.tries) == (3, 3)
    assert "452 4.3.1 mailbox full" in result.detail
    assert "gave up after 3 tries" in result.detail
    [logged] = statement_delivery.deliveries_for_customer(db, customer)
    assert (logged.channel, logged.result) == ("email", "failed")
    assert "mailbox full" in (logged.detail or "")


def test_a_permanent_refusal_is_not_retried(
    db: Database, admin: Actor, customer: int, mailbox: tuple[Mailbox, int], tmp_path: Path
) -> None:
    box, port = mailbox
    box.always = "554 5.7.1 rejected by policy"
    result = statement_mail.send_statement(
        db,
        admin,
        plain_settings(port),
        statement_file(customer, "C-100", tmp_path),
        as_of=AS_OF,
        backoff_seconds=5,  # would make the test slow if it were retried
    )
    assert not result.ok
    assert (result.attempts, box.tries) == (1, 1)
    assert "554 5.7.1 rejected by policy" in result.detail


def test_unreachable_server_fails_with_a_clear_message(
    db: Database, admin: Actor, customer: int, tmp_path: Path
) -> None:
    port = free_port()  # nobody listens there
    result = statement_mail.send_statement(
        db,
        admin,
        plain_settings(port),
        statement_file(customer, "C-100", tmp_path),
        as_of=AS_OF,
        backoff_seconds=0.01,
    )
    assert not result.ok
    assert f"127.0.0.1:{port} refused the connection" in result.detail
    assert "Traceback" not in result.detail
    assert result.attempts == 3
    [logged] = statement_delivery.deliveries_for_customer(db, customer)
    assert logged.result == "failed"
    assert "refused the connection" in (logged.detail or "")


def test_customer_without_recipient_is_a_logged_failure(
    db: Database, admin: Actor, mailbox: tuple[Mailbox, int], tmp_path: Path
) -> None:
    box, port = mailbox
    nobody = customers.create_customer(db, admin, {"number": "C-102", "name": "Nobody"})
    result = statement_mail.send_statement(
        db, admin, plain_settings(port), statement_file(nobody.id, "C-102", tmp_path), as_of=AS_OF
    )
    assert not result.ok
    assert result.detail.startswith("no statement contact")
    assert box.tries == 0
    [logged] = statement_delivery.deliveries_for_customer(db, nobody.id)
    assert (logged.result, logged.recipient) == ("failed", None)
    assert (logged.detail or "").startswith("no statement contact")


def test_batch_reuses_one_connection_and_reports_each(
    db: Database, admin: Actor, customer: int, mailbox: tuple[Mailbox, int], tmp_path: Path
) -> None:
    box, port = mailbox
    other = customers.create_customer(
        db, admin, {"number": "C-103", "name": "Other", "email": "ap@other.example"}
    )
    nobody = customers.create_customer(db, admin, {"number": "C-104", "name": "Nobody"})
    files = [
        statement_file(customer, "C-100", tmp_path),
        statement_file(other.id, "C-103", tmp_path),
        statement_file(nobody.id, "C-104", tmp_path),
    ]
    seen: list[tuple[int, int]] = []
    results = statement_mail.send_batch(
        db,
        admin,
        plain_settings(port),
        files,
        as_of=AS_OF,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert [r.ok for r in results] == [True, True, False]
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert [m["To"] for m in box.received] == [
        "ann@zod.example, cid@zod.example",
        "ap@other.example",
    ]


def test_batch_stops_trying_a_dead_server_but_logs_everyone(
    db: Database, admin: Actor, customer: int, tmp_path: Path
) -> None:
    port = free_port()  # nobody listens there
    files = [statement_file(customer, "C-100", tmp_path)] * 4
    seen: list[tuple[int, int]] = []
    results = statement_mail.send_batch(
        db,
        admin,
        plain_settings(port),
        files,
        as_of=AS_OF,
        backoff_seconds=0.01,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert [r.attempts for r in results] == [3, 3, 0, 0]  # two customers tried, then stopped
    assert all(not r.ok for r in results)
    assert results[3].detail.startswith("not sent: the SMTP server failed")
    assert "refused the connection" in results[3].detail
    assert seen[-1] == (4, 4)
    logged = statement_delivery.deliveries_for_customer(db, customer)
    assert [d.result for d in logged] == ["failed"] * 4


def test_batch_with_a_missing_password_tries_nobody(
    db: Database,
    admin: Actor,
    customer: int,
    tmp_path: Path,
    memory_keyring: MemoryKeyring,  # noqa: F811
) -> None:
    files = [statement_file(customer, "C-100", tmp_path)] * 3
    results = statement_mail.send_batch(
        db, admin, plain_settings(free_port(), user="robot"), files, as_of=AS_OF
    )
    assert "no SMTP password for robot" in results[0].detail
    assert [r.attempts for r in results] == [1, 0, 0]
    assert len(statement_delivery.deliveries_for_customer(db, customer)) == 3


def test_batch_goes_on_after_a_customer_deleted_meanwhile(
    db: Database, admin: Actor, customer: int, mailbox: tuple[Mailbox, int], tmp_path: Path
) -> None:
    box, port = mailbox
    gone = customers.create_customer(db, admin, {"number": "C-105", "name": "Gone"})
    files = [
        statement_file(gone.id, "C-105", tmp_path),
        statement_file(customer, "C-100", tmp_path),
    ]
    customers.delete_customer(db, admin, gone.id, gone.version)
    results = statement_mail.send_batch(db, admin, plain_settings(port), files, as_of=AS_OF)
    assert [r.ok for r in results] == [False, True]
    assert "does not exist" in results[0].detail
    assert len(box.received) == 1


def test_batch_stops_when_cancelled(
    db: Database, admin: Actor, customer: int, mailbox: tuple[Mailbox, int], tmp_path: Path
) -> None:
    box, port = mailbox
    files = [statement_file(customer, "C-100", tmp_path)] * 3
    results = statement_mail.send_batch(
        db,
        admin,
        plain_settings(port),
        files,
        as_of=AS_OF,
        cancelled=lambda: len(box.received) >= 1,
    )
    assert len(results) == 1 and len(box.received) == 1


# -- STARTTLS, implicit TLS and login, with a self-signed certificate the test trusts ---------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _server_context(certificate: tuple[Path, Path]) -> Any:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def _authenticator(
    _server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any
) -> AuthResult:
    ok = (data.login, data.password) == (b"robot", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: the server replies 535


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_and_login_with_the_keyring_password(
    db: Database,
    admin: Actor,
    customer: int,
    tmp_path: Path,
    certificate: tuple[Path, Path],
    memory_keyring: MemoryKeyring,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    security: str,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # trust the test's certificate
    box = Mailbox()
    context = _server_context(certificate)
    options: dict[str, Any] = (
        {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
        if security == "starttls"
        # aiosmtpd offers AUTH on implicit TLS only with auth_require_tls off (it checks STARTTLS)
        else {"ssl_context": context, "auth_require_tls": False}
    )
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=_authenticator,
        **options,
    )
    controller.start()
    try:
        settings = plain_settings(controller.port, security=security, user="robot")
        file = statement_file(customer, "C-100", tmp_path)
        missing = statement_mail.send_statement(db, admin, settings, file, as_of=AS_OF)
        assert not missing.ok and "no SMTP password for robot" in missing.detail
        store_smtp_password(settings, "wrong")
        refused = statement_mail.send_statement(db, admin, settings, file, as_of=AS_OF)
        assert not refused.ok and "login as robot refused: 535" in refused.detail
        assert refused.attempts == 1
        store_smtp_password(settings, "s3cret")
        sent = statement_mail.send_statement(db, admin, settings, file, as_of=AS_OF)
        assert sent.ok, sent.detail
        assert len(box.received) == 1
    finally:
        controller.stop()
    results = [d.result for d in statement_delivery.deliveries_for_customer(db, customer)]
    assert sorted(results) == ["failed", "failed", "ok"]


def test_starttls_against_a_server_without_it_is_a_clear_failure(
    mailbox: tuple[Mailbox, int],
) -> None:
    _box, port = mailbox
    with pytest.raises(O2CError, match=r"does not offer STARTTLS.*security setting"):
        statement_mail.send_test_email(
            plain_settings(port, security="starttls"), "me@seller.example"
        )


def test_test_email_arrives(mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    reply = statement_mail.send_test_email(plain_settings(port), "me@seller.example")
    assert "queued as TEST42" in reply
    assert box.received[0]["Subject"] == "O2C Desktop: test e-mail"
