"""The department's SMTP settings for e-mailing statements, and the templates of those e-mails.

Everything but the password is a department setting in `app_settings` (key `statement_mail`),
so every workstation sends the same way and a change is audited like any other. The password
never goes into the database, a file or the audit log: like the database password
(`config.store_password`) it is kept in the OS keyring of the computer that sends, under an
account named after user, host and port, so changing the server asks for it again.
"""

from __future__ import annotations

import json
import string
from dataclasses import asdict, dataclass, fields, replace
from email.utils import parseaddr
from typing import Any, Literal

from o2c_desktop.config import KEYRING_SERVICE
from o2c_desktop.db import Database
from o2c_desktop.errors import FieldProblem, O2CError, ValidationFailed
from o2c_desktop.models import AppSetting
from o2c_desktop.services import app_settings
from o2c_desktop.services.auth import Actor, Permission
from o2c_desktop.services.customer_fields import EMAIL

SETTING_KEY = "statement_mail"
Security = Literal["starttls", "tls", "none"]
SECURITY_CHOICES: dict[str, str] = {
    "starttls": "STARTTLS (usually port 587)",
    "tls": "TLS from the start (usually port 465)",
    "none": "None (local relay only)",
}
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
TEMPLATE_FIELDS: dict[str, str] = {
    "customer_name": "the customer's name",
    "customer_number": "the customer's number",
    "statement_date": "the statement date, in the customer's locale",
    "total_due": "the total due with its currency",
    "company": "our company name (Settings → Company & letterhead)",
}
DEFAULT_SUBJECT = "Statement of account {customer_number} as of {statement_date}"
DEFAULT_BODY = (
    "Dear {customer_name},\n\n"
    "please find attached your statement of account as of {statement_date}.\n"
    "The total due is {total_due}.\n\n"
    "If anything on it does not match your records, just reply to this e-mail.\n\n"
    "Kind regards\n"
    "{company}\n"
)


@dataclass(frozen=True)
class MailSettings:
    """How statements are sent. `user` empty means the server takes mail without a login."""

    host: str = ""
    port: int = 587
    security: Security = "starttls"
    user: str = ""
    sender: str = ""
    subject_template: str = DEFAULT_SUBJECT
    body_template: str = DEFAULT_BODY

    @property
    def configured(self) -> bool:
        return bool(self.host and self.sender)

    @property
    def sender_address(self) -> str:
        """The bare address of `sender` ("Accounts <ar@example.com>" → "ar@example.com")."""
        return parseaddr(self.sender)[1]

    def describe(self) -> str:
        """One line for messages and the audit log (never a password)."""
        login = f"{self.user}@" if self.user else ""
        return f"{login}{self.host}:{self.port} ({self.security})"


# -- templates --------------------------------------------------------------------------------


def template_problems(field: str, template: str) -> list[FieldProblem]:
    """What is wrong with a subject or body template: unknown placeholders or broken braces."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:  # "Single '}' encountered in format string" and friends
        return [
            FieldProblem(field, f"{exc}; write {{{{ or }}}} for a literal brace", value=template)
        ]
    problems = []
    known = ", ".join(f"{{{name}}}" for name in TEMPLATE_FIELDS)
    for _text, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            shown = f"{{{name}}}" if name else "{}"
            problems.append(FieldProblem(field, f"unknown placeholder {shown}; use one of {known}"))
        elif spec or conversion:
            problems.append(
                FieldProblem(field, f"placeholder {{{name}}} takes no format: write {{{name}}}")
            )
    return problems


def render_template(template: str, values: dict[str, str]) -> str:
    """Fill a template checked by `template_problems` (every placeholder has a value)."""
    return template.format_map(values)


# -- validation and storage -------------------------------------------------------------------


def validate(settings: MailSettings) -> MailSettings:
    """Trimmed, checked settings, or ValidationFailed naming each bad field."""
    cleaned = replace(
        settings,
        host=settings.host.strip(),
        user=settings.user.strip(),
        sender=settings.sender.strip(),
        subject_template=settings.subject_template.strip(),
    )
    problems: list[FieldProblem] = []
    if not cleaned.host:
        problems.append(FieldProblem("host", "required (the SMTP server, e.g. smtp.example.com)"))
    elif any(c.isspace() for c in cleaned.host) or "/" in cleaned.host:
        problems.append(FieldProblem("host", "a host name or address only", value=cleaned.host))
    if not isinstance(cleaned.port, int) or not 1 <= cleaned.port <= 65535:
        problems.append(FieldProblem("port", "must be 1 to 65535", value=str(cleaned.port)))
    if cleaned.security not in SECURITY_CHOICES:
        problems.append(
            FieldProblem(
                "security",
                "must be one of " + ", ".join(SECURITY_CHOICES),
                value=str(cleaned.security),
            )
        )
    if not cleaned.sender:
        problems.append(FieldProblem("sender", "required (the From address customers see)"))
    elif not EMAIL.match(cleaned.sender_address):
        problems.append(
            FieldProblem(
                "sender",
                "not an e-mail address (ar@example.com or Accounts <ar@example.com>)",
                value=cleaned.sender,
            )
        )
    if not cleaned.subject_template:
        problems.append(FieldProblem("subject_template", "required"))
    elif "\n" in cleaned.subject_template:
        problems.append(FieldProblem("subject_template", "must be one line"))
    problems += template_problems("subject_template", cleaned.subject_template)
    problems += template_problems("body_template", cleaned.body_template)
    if problems:
        raise ValidationFailed(problems, "E-mail settings")
    return cleaned


def _from_json(raw: Any) -> MailSettings:
    if not isinstance(raw, dict):
        raise ValueError("not an object")
    known = {f.name for f in fields(MailSettings)}
    return MailSettings(**{k: v for k, v in raw.items() if k in known})


def load_mail_settings(db: Database) -> MailSettings:
    """The saved settings (defaults, not configured, until someone saves them)."""
    with db.read() as session:
        return app_settings.read(
            session,
            SETTING_KEY,
            MailSettings(),
            _from_json,
            "a credit manager or administrator can enter the e-mail settings again under Settings.",
        )


def save_mail_settings(
    db: Database, actor: Actor, settings: MailSettings, password: str | None = None
) -> MailSettings:
    """Check and save the settings (audited); a given password goes to the keyring, not the
    database. `password=None` keeps the one stored for this user and server."""
    actor.require(Permission.EDIT_SETTINGS)
    checked = validate(settings)
    value = json.dumps(asdict(checked), sort_keys=True)
    with db.write() as session:
        stored = session.get(AppSetting, SETTING_KEY)
        old = _from_json(json.loads(stored.value)) if stored is not None else None
        changes: dict[str, tuple[Any, Any]] = {
            f.name: (getattr(old, f.name) if old else None, getattr(checked, f.name))
            for f in fields(MailSettings)
            if old is None or getattr(old, f.name) != getattr(checked, f.name)
        }
        if password:
            changes["password"] = (None, "(new password, kept in the keyring)")
            store_smtp_password(checked, password)  # before commit: a refused keyring saves nothing
        app_settings.store(session, actor, SETTING_KEY, value, changes)
    return checked


# -- the password, in the keyring ---------------------------------------------------------------


def keyring_account(settings: MailSettings) -> str:
    """Key of the SMTP password: another user or server is another secret."""
    return f"smtp:{settings.user}@{settings.host}:{settings.port}"


def store_smtp_password(settings: MailSettings, password: str) -> None:
    """Put the SMTP password into the OS keyring, or say plainly why it cannot be kept."""
    try:
        import keyring
        from keyring.errors import KeyringError

        keyring.set_password(KEYRING_SERVICE, keyring_account(settings), password)
    except (ImportError, KeyringError, RuntimeError) as exc:
        raise O2CError(
            f"The SMTP password cannot be kept: no usable system keyring on this computer ({exc})."
            " Install or unlock a keyring (e.g. GNOME Keyring, KWallet) and save again."
        ) from None


def smtp_password(settings: MailSettings) -> str | None:
    """The keyring's SMTP password for these settings; None when there is none or no keyring."""
    if not settings.user:
        return None
    try:
        import keyring
        from keyring.errors import KeyringError

        return keyring.get_password(KEYRING_SERVICE, keyring_account(settings))
    except (ImportError, KeyringError, RuntimeError):
        return None
