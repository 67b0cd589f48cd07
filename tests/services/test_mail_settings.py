"""SMTP settings: validated, audited, only for managers; the password only in the keyring."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import KeyringError
from sqlalchemy import select

from o2c_desktop.config import KEYRING_SERVICE
from o2c_desktop.db import Database
from o2c_desktop.errors import O2CError, PermissionDenied, ValidationFailed
from o2c_desktop.models import AppSetting, AuditEntry
from o2c_desktop.services import mail_settings
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.mail_settings import MailSettings


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps secrets in a dict (the OS keyring stays untouched)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.secrets.pop((service, username), None)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


GOOD = MailSettings(
    host=" smtp.example.com ",
    port=587,
    security="starttls",
    user="ar-robot",
    sender="Accounts Receivable <ar@example.com>",
)


def test_defaults_until_saved(db: Database) -> None:
    loaded = mail_settings.load_mail_settings(db)
    assert loaded == MailSettings()
    assert not loaded.configured


def test_save_and_load_round_trip_with_password_in_keyring_only(
    db: Database, manager: Actor, memory_keyring: MemoryKeyring
) -> None:
    saved = mail_settings.save_mail_settings(db, manager, GOOD, password="pa55-w0rd")
    assert saved.host == "smtp.example.com"
    assert mail_settings.load_mail_settings(db) == saved
    assert mail_settings.smtp_password(saved) == "pa55-w0rd"
    assert memory_keyring.secrets == {
        (KEYRING_SERVICE, "smtp:ar-robot@smtp.example.com:587"): "pa55-w0rd"
    }
    with db.read() as session:
        stored = session.get(AppSetting, mail_settings.SETTING_KEY)
        assert stored is not None and "pa55-w0rd" not in stored.value
        audited = session.execute(
            select(AuditEntry.field, AuditEntry.new_value, AuditEntry.username).where(
                AuditEntry.record_id == mail_settings.SETTING_KEY
            )
        ).all()
    fields = {field: (new, who) for field, new, who in audited}
    assert fields["host"] == ("smtp.example.com", manager.username)
    assert all("pa55-w0rd" not in (new or "") for _f, new, _w in audited)
    assert "password" in fields


def test_second_save_audits_only_what_changed(db: Database, manager: Actor) -> None:
    mail_settings.save_mail_settings(db, manager, GOOD)
    mail_settings.save_mail_settings(db, manager, replace(GOOD, port=2525))
    with db.read() as session:
        changed = session.execute(
            select(AuditEntry.field, AuditEntry.old_value, AuditEntry.new_value).where(
                AuditEntry.record_id == mail_settings.SETTING_KEY, AuditEntry.action == "update"
            )
        ).all()
    assert [tuple(row) for row in changed] == [("port", "587", "2525")]


def test_a_collector_may_not_change_the_settings(db: Database, collector: Actor) -> None:
    with pytest.raises(PermissionDenied, match="credit manager"):
        mail_settings.save_mail_settings(db, collector, GOOD)
    assert mail_settings.load_mail_settings(db) == MailSettings()


def test_unknown_placeholder_is_named(db: Database, manager: Actor) -> None:
    bad = MailSettings(
        host="smtp.example.com",
        sender="ar@example.com",
        subject_template="Statement {customer_numbr}",
        body_template="Dear {customer_name}, you owe {total_due:.2f} {",
    )
    with pytest.raises(ValidationFailed) as caught:
        mail_settings.save_mail_settings(db, manager, bad)
    subject = caught.value.for_field("subject_template")
    assert subject and "unknown placeholder {customer_numbr}" in subject[0]
    assert "{customer_number}" in subject[0]  # the message lists what may be used
    assert caught.value.for_field("body_template")  # the lone "{" is reported
    assert mail_settings.load_mail_settings(db) == MailSettings()


def test_bad_fields_are_reported_each_by_name() -> None:
    with pytest.raises(ValidationFailed) as caught:
        mail_settings.validate(
            MailSettings(host="smtp example", port=0, security="ssl", sender="nobody")  # type: ignore[arg-type]
        )
    assert {p.field for p in caught.value.problems} == {"host", "port", "security", "sender"}
    assert "1 to 65535" in caught.value.for_field("port")[0]


def test_template_with_spec_and_escaped_braces() -> None:
    assert mail_settings.template_problems("s", "Use {{braces}} for {company}") == []
    problems = mail_settings.template_problems("s", "{total_due!r}")
    assert problems and "takes no format" in problems[0].message
    assert mail_settings.render_template("{{x}} {company}", {"company": "Acme"}) == "{x} Acme"


class LockedKeyring(MemoryKeyring):
    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringError("the keyring is locked")


def test_a_refused_keyring_saves_nothing(db: Database, manager: Actor) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(LockedKeyring())
    try:
        with pytest.raises(O2CError, match=r"SMTP password cannot be kept.*keyring is locked"):
            mail_settings.save_mail_settings(db, manager, GOOD, password="pa55-w0rd")
    finally:
        keyring.set_keyring(previous)
    assert mail_settings.load_mail_settings(db) == MailSettings()
