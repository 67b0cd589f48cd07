"""Decision letters: what an approval, a conditional approval and a decline say (text taken out
of the PDF with pypdf), the letterhead and signature lines, a file qpdf accepts, and no letter
while a decision awaits its second approver (both engines)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from o2c_desktop.db import Database
from o2c_desktop.errors import NotFound, O2CError, PermissionDenied
from o2c_desktop.models import Role
from o2c_desktop.services import credit_applications as apps
from o2c_desktop.services import letterhead
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.credit_decisions import DecisionInput, confirm_decision, decide
from o2c_desktop.services.decision_letters import write_decision_letter
from tests.conftest import add_user
from tests.services.credit_support import APPLICANT, limit_change, pending, version

TODAY = date.today()


def text_of(path: Path) -> str:
    reader = PdfReader(str(path), strict=True)
    return "\n".join(page.extract_text() for page in reader.pages)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_approval_letter_names_terms_review_and_both_approvers(
    db: Database, admin: Actor, manager: Actor, clerk: Actor, tmp_path: Path
) -> None:
    letterhead.set_letterhead(
        db, admin, {"company_name": "Nordwind Handel GmbH", "address_lines": ["Kai 1"]}
    )
    max_ = add_user(db, admin, "max", Role.CREDIT_MANAGER)
    app = pending(db, clerk, {**APPLICANT, "requested_limit": "95000.50"})
    until = TODAY + timedelta(days=60)
    review = TODAY + timedelta(days=365)
    decide(
        db,
        manager,
        app.id,
        app.version,
        DecisionInput(
            "approved",
            "strong figures",
            credit_limit=Decimal("80000"),
            temporary_limit=Decimal("95000.50"),
            temporary_until=until,
            next_review_date=review,
        ),
    )
    with pytest.raises(O2CError, match="awaits a second approver"):
        write_decision_letter(db, manager, app.id, tmp_path)
    confirm_decision(db, max_, app.id, version(db, app.id))
    path = write_decision_letter(db, clerk, app.id, tmp_path)
    assert path == tmp_path / f"{app.number} decision.pdf"
    text = flat(text_of(path))
    # German customer: German number and date formats.
    assert "Nordwind Handel GmbH" in text
    assert "Nordlicht Handel GmbH" in text  # the addressee's legal name
    assert "Credit approved" in text
    assert app.number in text
    assert "EUR 80.000,00" in text
    assert f"EUR 95.000,50 until {until:%d.%m.%Y}" in text
    assert "Net 45 days (NET45)" in text
    assert f"{review:%d.%m.%Y}" in text
    assert "Maria" in text and "Max" in text
    assert "strong figures" not in text  # the approver's reasoning stays in the office


def test_conditional_and_declined_letters(
    db: Database, admin: Actor, manager: Actor, clerk: Actor, tmp_path: Path
) -> None:
    app = pending(db, clerk, {**APPLICANT, "country": "US", "city": "Boston", "postcode": "02110"})
    decide(
        db,
        manager,
        app.id,
        app.version,
        DecisionInput(
            "conditional",
            "young company",
            credit_limit="25000",
            conditions="A bank guarantee of USD 10,000 before the first delivery.",
        ),
    )
    text = flat(text_of(write_decision_letter(db, manager, app.id, tmp_path / "c.pdf")))
    assert "Credit approved on conditions" in text
    assert "Conditions: A bank guarantee of USD 10,000 before the first delivery." in text
    assert "EUR 25,000.00" in text  # a US address: US formats
    declined = limit_change(db, admin, clerk, "70000")
    decide(
        db,
        manager,
        declined.id,
        declined.version,
        DecisionInput("declined", "Payments average 45 days late."),
    )
    out = write_decision_letter(db, manager, declined.id, tmp_path / "d.pdf")
    text = flat(text_of(out))
    assert "Credit application declined" in text
    assert "Reason: Payments average 45 days late." in text
    assert "Kunde K-1" in text
    assert "Credit limit" not in text
    if shutil.which("qpdf"):
        check = subprocess.run(["qpdf", "--check", str(out)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_no_letter_without_a_decision_or_for_collectors(
    db: Database, admin: Actor, clerk: Actor, collector: Actor, tmp_path: Path
) -> None:
    app = pending(db, clerk)
    folder = tmp_path / "letters"
    folder.mkdir()
    with pytest.raises(O2CError, match="no final decision yet"):
        write_decision_letter(db, clerk, app.id, folder)
    with pytest.raises(PermissionDenied):
        write_decision_letter(db, collector, app.id, folder)
    assert not list(folder.iterdir())


def test_no_letter_for_a_lapsed_first_approval_or_a_bad_id(
    db: Database, admin: Actor, manager: Actor, clerk: Actor, tmp_path: Path
) -> None:
    folder = tmp_path / "letters"
    folder.mkdir()
    app = limit_change(db, admin, clerk, "60000")
    decide(db, manager, app.id, app.version, DecisionInput("approved", "ok", credit_limit="60000"))
    with pytest.raises(O2CError, match="awaits a second approver"):
        write_decision_letter(db, clerk, app.id, folder)
    apps.return_to_verification(db, clerk, app.id, version(db, app.id), "new figures")
    with pytest.raises(O2CError) as caught:
        write_decision_letter(db, clerk, app.id, folder)
    assert str(caught.value) == (
        f"Application {app.number} has no final decision yet: a decision letter is written once "
        "it is decided."
    )
    for bad in (2**40, True, "1"):
        with pytest.raises(NotFound):
            write_decision_letter(db, clerk, bad, folder)  # type: ignore[arg-type]
    assert not list(folder.iterdir())
