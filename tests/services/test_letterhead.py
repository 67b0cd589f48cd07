"""The letterhead setting: defaults, validation that names each bad field, permission, audit per
field, the conflict when someone saved first, and that statements print what was saved."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import select

from o2c_desktop.db import Database
from o2c_desktop.errors import ConflictError, O2CError, PermissionDenied, ValidationFailed
from o2c_desktop.models import AppSetting, AuditEntry
from o2c_desktop.services import customers, ledger
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.letterhead import (
    DEFAULT_LETTERHEAD,
    SETTING_KEY,
    format_iban,
    get_letterhead,
    iban_is_valid,
    set_letterhead,
    validate_letterhead,
)
from o2c_desktop.services.statements import StatementRequest, render_statement

NEW = replace(
    DEFAULT_LETTERHEAD,
    company_name="Nordwind Handels GmbH",
    address_lines=("Hafenstraße 5", "20457 Hamburg"),
    country="DE",
    iban="de89 3704 0044 0532 0130 00",
    bic="cobadeffxxx",
    tax_id="USt-IdNr. DE123456789",
    footer_text="Amtsgericht Hamburg HRB 12345 · Geschäftsführerin: Åsa Öberg",
)


def test_default_until_someone_sets_it(db: Database) -> None:
    head = get_letterhead(db)
    assert head == DEFAULT_LETTERHEAD
    assert head.logo_file().is_file() and head.logo_file().suffix == ".png"
    assert iban_is_valid(head.iban)


def test_iban_check() -> None:
    assert iban_is_valid("DE89 3704 0044 0532 0130 00")
    assert not iban_is_valid("DE88 3704 0044 0532 0130 00")  # one digit off
    assert not iban_is_valid("not an iban")
    assert format_iban("de89370400440532013000") == "DE89 3704 0044 0532 0130 00"


def test_save_cleans_validates_and_audits(db: Database, manager: Actor) -> None:
    saved = set_letterhead(db, manager, NEW)
    assert saved.iban == "DE89 3704 0044 0532 0130 00"
    assert saved.bic == "COBADEFFXXX"
    assert get_letterhead(db) == saved
    with db.read() as session:
        rows = session.execute(
            select(AuditEntry.field, AuditEntry.old_value, AuditEntry.new_value).where(
                AuditEntry.table_name == "app_settings", AuditEntry.record_id == SETTING_KEY
            )
        ).all()
    changed = {field: (old, new) for field, old, new in rows}
    assert set(changed) == {
        "company_name",
        "address_lines",
        "country",
        "iban",
        "bic",
        "tax_id",
        "footer_text",
    }
    assert changed["company_name"] == ("Your Company Ltd", "Nordwind Handels GmbH")
    assert changed["address_lines"][1] == "Hafenstraße 5\n20457 Hamburg"
    # Saving the same again writes nothing.
    set_letterhead(db, manager, saved)
    with db.read() as session:
        count = len(
            session.scalars(
                select(AuditEntry.id).where(AuditEntry.table_name == "app_settings")
            ).all()
        )
    assert count == len(rows)


def test_bad_input_names_every_field(db: Database, manager: Actor, tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as refused:
        set_letterhead(
            db,
            manager,
            {
                **NEW.__dict__,
                "company_name": "  ",
                "iban": "DE88 3704 0044 0532 0130 00",
                "bic": "12",
                "email": "accounts(at)example.com",
                "country": "Germany",
                "logo_path": str(tmp_path / "missing.png"),
                "address_lines": ["1", "2", "3", "4", "5"],
                "colour": "blue",
            },
        )
    fields = {p.field for p in refused.value.problems}
    assert fields == {
        "Company name",
        "IBAN",
        "BIC",
        "E-mail",
        "Country",
        "Logo",
        "Address",
        "colour",
    }
    assert get_letterhead(db) == DEFAULT_LETTERHEAD


def test_logo_must_be_an_image(tmp_path: Path) -> None:
    text = tmp_path / "logo.png"
    text.write_text("not a picture")
    with pytest.raises(ValidationFailed, match="cannot be read as an image"):
        validate_letterhead({**NEW.__dict__, "logo_path": str(text)})
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (4, 4), "red").save(tiny)
    with pytest.raises(ValidationFailed, match="too small"):
        validate_letterhead({**NEW.__dict__, "logo_path": str(tiny)})


def test_only_managers_may_change_it(db: Database, collector: Actor, clerk: Actor) -> None:
    for actor in (collector, clerk):
        with pytest.raises(PermissionDenied, match="change department settings"):
            set_letterhead(db, actor, NEW)
    assert get_letterhead(db) == DEFAULT_LETTERHEAD


def test_someone_saved_first(db: Database, manager: Actor, admin: Actor) -> None:
    loaded = get_letterhead(db)
    set_letterhead(db, admin, replace(loaded, phone="+49 40 111"), expected=loaded)
    with pytest.raises(ConflictError) as conflict:
        set_letterhead(db, manager, replace(loaded, phone="+49 40 222"), expected=loaded)
    assert "Phone is now +49 40 111" in str(conflict.value)
    assert admin.display_name in str(conflict.value)
    assert get_letterhead(db).phone == "+49 40 111"


def test_a_damaged_setting_says_so(db: Database) -> None:
    with db.write() as session:
        session.add(AppSetting(key=SETTING_KEY, value="{not json"))
    with pytest.raises(O2CError, match="The setting letterhead is damaged"):
        get_letterhead(db)


def test_statements_print_the_saved_letterhead(db: Database, admin: Actor, tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    Image.new("RGBA", (120, 60), (200, 30, 30, 255)).save(logo)
    set_letterhead(db, admin, replace(NEW, logo_path=str(logo)))
    customer = customers.create_customer(
        db, admin, {"number": "H-1", "name": "Hafen AG", "country": "DE", "currency": "EUR"}
    ).id
    ledger.post_invoice(db, admin, customer, "H-INV-1", date(2025, 3, 1), "99.00")
    pdf = render_statement(db, admin, StatementRequest(customer, date(2025, 3, 31)))
    reader = PdfReader(io.BytesIO(pdf))
    text = reader.pages[0].extract_text()
    assert "Nordwind Handels GmbH" in text
    assert "DE89 3704 0044 0532 0130 00" in text and "COBADEFFXXX" in text
    assert "Geschäftsführerin: Åsa Öberg" in text
    assert "GERMANY" not in text  # same country as the company: no country line
    assert reader.metadata.author == "Nordwind Handels GmbH"
    images = reader.pages[0].images
    assert [image.image.size for image in images] == [(120, 60)]
    logo.unlink()  # a logo deleted after it was chosen: a clear message, not a traceback
    with pytest.raises(O2CError, match=r"letterhead logo .* is missing"):
        render_statement(db, admin, StatementRequest(customer, date(2025, 3, 31)))
