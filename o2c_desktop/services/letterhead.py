"""The company letterhead printed on statements: name, address, bank details, logo, footer.

A department-wide setting (AppSetting "letterhead", JSON), changed only by someone who may edit
settings, validated (an IBAN with a wrong check digit would send the customer's money nowhere)
and audited field by field. Until someone sets it, statements carry a neutral placeholder
company and the logo shipped in resources/letterhead/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from o2c_desktop.db import Database
from o2c_desktop.errors import (
    ConflictDetails,
    ConflictError,
    FieldProblem,
    ValidationFailed,
)
from o2c_desktop.models import AppSetting, User
from o2c_desktop.models.base import utcnow
from o2c_desktop.paths import resource
from o2c_desktop.services import app_settings
from o2c_desktop.services.auth import Actor, Permission

SETTING_KEY = "letterhead"
DEFAULT_LOGO = "letterhead/logo.png"
LOGO_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_ADDRESS_LINES = 4
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_BIC = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
# Longest text per field: what fits the letterhead's lines at its font size.
_LIMITS = {
    "company_name": 80,
    "address_lines": 80,
    "country": 2,
    "phone": 40,
    "email": 120,
    "website": 120,
    "tax_id": 40,
    "bank_name": 80,
    "iban": 42,
    "bic": 11,
    "contact_name": 80,
    "contact_phone": 40,
    "contact_email": 120,
    "logo_path": 500,
    "footer_text": 300,
}
LABELS = {
    "company_name": "Company name",
    "address_lines": "Address",
    "country": "Country",
    "phone": "Phone",
    "email": "E-mail",
    "website": "Website",
    "tax_id": "Tax / VAT number",
    "bank_name": "Bank",
    "iban": "IBAN",
    "bic": "BIC",
    "contact_name": "Contact for queries",
    "contact_phone": "Contact phone",
    "contact_email": "Contact e-mail",
    "logo_path": "Logo",
    "footer_text": "Footer",
}


@dataclass(frozen=True)
class Letterhead:
    """What a statement says about the company sending it. Empty text = not printed;
    `logo_path` None = the logo shipped with the app; `country` (ISO code) is the company's,
    so a customer in the same country gets no country line in its address."""

    company_name: str = "Your Company Ltd"
    address_lines: tuple[str, ...] = ("1 Example Street", "London EC1A 1BB")
    country: str = "GB"
    phone: str = "+44 20 7946 0000"
    email: str = "accounts@example.com"
    website: str = "www.example.com"
    tax_id: str = "VAT GB 123 4567 89"
    bank_name: str = "Example Bank plc"
    iban: str = "GB82 WEST 1234 5698 7654 32"
    bic: str = "EXMPGB2L"
    contact_name: str = "Credit department"
    contact_phone: str = "+44 20 7946 0001"
    contact_email: str = "credit@example.com"
    logo_path: str | None = None
    footer_text: str = "Registered in England and Wales, company no. 01234567."

    def logo_file(self) -> Path:
        """The image to print: the chosen file, else the logo shipped with the app."""
        return Path(self.logo_path) if self.logo_path else resource(DEFAULT_LOGO)


DEFAULT_LETTERHEAD = Letterhead()


def iban_is_valid(iban: str) -> bool:
    """ISO 13616 check: move the country and check digits to the end, letters to numbers,
    the whole number modulo 97 must be 1."""
    compact = re.sub(r"\s+", "", iban).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", compact):
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def format_iban(iban: str) -> str:
    """Groups of four, as printed on paper ("GB82 WEST 1234 …")."""
    compact = re.sub(r"\s+", "", iban).upper()
    return " ".join(compact[k : k + 4] for k in range(0, len(compact), 4))


def _text(raw: Mapping[str, Any], name: str, problems: list[FieldProblem]) -> str:
    value = raw.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(FieldProblem(LABELS[name], "must be text", value=str(value)))
        return ""
    value = " ".join(value.split())
    if len(value) > _LIMITS[name]:
        problems.append(
            FieldProblem(LABELS[name], f"longer than {_LIMITS[name]} characters", value=value[:40])
        )
    return value


def validate_letterhead(
    raw: Letterhead | Mapping[str, Any], *, check_logo: bool = True
) -> Letterhead:
    """A clean Letterhead from user input (a Letterhead or a mapping of its fields), or
    ValidationFailed naming every bad field. `check_logo` opens the chosen image; reading the
    stored setting skips that (a logo moved since is reported when a statement is printed,
    rather than making the whole setting unreadable)."""
    data = asdict(raw) if isinstance(raw, Letterhead) else dict(raw)
    problems: list[FieldProblem] = []
    unknown = sorted(set(data) - {f.name for f in fields(Letterhead)})
    for name in unknown:
        problems.append(FieldProblem(name, "not a letterhead field"))
    values = {
        name: _text(data, name, problems)
        for name in _LIMITS
        if name not in ("address_lines", "logo_path")
    }
    lines = data.get("address_lines") or ()
    if isinstance(lines, str):
        lines = lines.splitlines()
    address: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, str):
            problems.append(FieldProblem(f"Address line {number}", "must be text"))
            continue
        line = " ".join(line.split())
        if len(line) > _LIMITS["address_lines"]:
            problems.append(
                FieldProblem(
                    f"Address line {number}",
                    f"longer than {_LIMITS['address_lines']} characters",
                    value=line[:40],
                )
            )
        if line:
            address.append(line)
    if len(address) > MAX_ADDRESS_LINES:
        problems.append(FieldProblem("Address", f"at most {MAX_ADDRESS_LINES} lines"))
    if not values["company_name"]:
        problems.append(FieldProblem("Company name", "required: statements print it"))
    values["country"] = values["country"].upper()
    if values["country"] and not _COUNTRY.match(values["country"]):
        problems.append(
            FieldProblem("Country", "a two-letter ISO code such as GB", value=values["country"])
        )
    for name in ("email", "contact_email"):
        if values[name] and not _EMAIL.match(values[name]):
            problems.append(FieldProblem(LABELS[name], "not an e-mail address", value=values[name]))
    if values["iban"]:
        if iban_is_valid(values["iban"]):
            values["iban"] = format_iban(values["iban"])
        else:
            problems.append(
                FieldProblem("IBAN", "not a valid IBAN (check digits wrong?)", value=values["iban"])
            )
    values["bic"] = values["bic"].replace(" ", "").upper()
    if values["bic"] and not _BIC.match(values["bic"]):
        problems.append(FieldProblem("BIC", "8 or 11 letters and digits", value=values["bic"]))
    logo = data.get("logo_path")
    logo_path: str | None = None
    if logo not in (None, ""):
        logo_path = str(logo).strip()
        problem = _logo_problem(Path(logo_path)) if check_logo else None
        if problem:
            problems.append(FieldProblem("Logo", problem, value=logo_path))
    if problems:
        raise ValidationFailed(problems, "Letterhead")
    return Letterhead(**values, address_lines=tuple(address), logo_path=logo_path)


def _logo_problem(path: Path) -> str | None:
    if len(str(path)) > _LIMITS["logo_path"]:
        return f"path longer than {_LIMITS['logo_path']} characters"
    if path.suffix.lower() not in LOGO_SUFFIXES:
        return "a PNG or JPEG image is needed"
    if not path.is_file():
        return "no such file"
    try:
        from reportlab.lib.utils import ImageReader

        width, height = ImageReader(str(path)).getSize()
    except Exception as exc:  # any decoder failure means "not an image we can print"
        return f"cannot be read as an image ({type(exc).__name__})"
    if width < 16 or height < 16:
        return "too small to print (at least 16 × 16 pixels)"
    return None


def _read(session: Session) -> Letterhead:
    def parse(raw: Any) -> Letterhead:
        if not isinstance(raw, dict):
            raise ValueError("not an object")
        return validate_letterhead(raw, check_logo=False)

    return app_settings.read(
        session,
        SETTING_KEY,
        DEFAULT_LETTERHEAD,
        parse,
        "an administrator or credit manager can set the letterhead again under Settings.",
    )


def get_letterhead(db: Database) -> Letterhead:
    """The department's letterhead (the placeholder until someone sets it)."""
    with db.read() as session:
        return _read(session)


def _changes(old: Letterhead, new: Letterhead) -> dict[str, tuple[Any, Any]]:
    def shown(value: Any) -> Any:
        return "\n".join(value) if isinstance(value, tuple) else value

    return {
        f.name: (shown(getattr(old, f.name)), shown(getattr(new, f.name)))
        for f in fields(Letterhead)
        if getattr(old, f.name) != getattr(new, f.name)
    }


def set_letterhead(
    db: Database,
    actor: Actor,
    letterhead: Letterhead | Mapping[str, Any],
    *,
    expected: Letterhead | None = None,
) -> Letterhead:
    """Save the letterhead (validated, one audit row per changed field).

    `expected` is the letterhead the editor started from: if someone saved a different one in
    the meantime, ConflictError says who and what, and nothing is written."""
    actor.require(Permission.EDIT_SETTINGS)
    checked = validate_letterhead(letterhead)
    value = json.dumps(asdict(checked), ensure_ascii=False)
    with db.write() as session:
        stored = session.get(AppSetting, SETTING_KEY, with_for_update=True)
        current = _read(session)
        if expected is not None and current != expected:
            who = (
                session.get(User, stored.updated_by_id) if stored and stored.updated_by_id else None
            )
            at = stored.updated_at if stored is not None else utcnow()
            theirs = {LABELS[k]: str(new) for k, (_old, new) in _changes(expected, current).items()}
            raise ConflictError(
                ConflictDetails(
                    "Letterhead",
                    "settings",
                    who.display_name if who else "another user",
                    f"{at:%Y-%m-%d %H:%M} UTC",
                    theirs,
                )
            )
        changes = _changes(current, checked)
        if not changes:
            return checked
        app_settings.store(session, actor, SETTING_KEY, value, changes)
    return checked


def with_changes(letterhead: Letterhead, **values: Any) -> Letterhead:
    """A copy with some fields changed (screens build the edited letterhead this way)."""
    return replace(letterhead, **values)
