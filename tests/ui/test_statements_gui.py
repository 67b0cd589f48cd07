"""Statements on real widgets: the preview (pages, Save as, Print, E-mail against a real local SMTP
server), the batch dialog (three customers, Cancel), the settings tabs, and the delivery log on
the customer's Activity tab."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from aiosmtpd.controller import Controller
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog

from o2c_desktop.models import Role
from o2c_desktop.services import (
    contacts,
    customers,
    ledger,
    letterhead,
    mail_settings,
    statement_delivery,
)
from o2c_desktop.services.mail_settings import MailSettings
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.settings import SettingsDialog
from o2c_desktop.ui.dialogs.statement_batch import StatementBatchDialog, split_numbers
from o2c_desktop.ui.dialogs.statement_preview import StatementPreview
from o2c_desktop.ui.screens.customer_profile import CustomerProfile
from o2c_desktop.ui.signals import AppSignals
from tests.conftest import add_user
from tests.services.test_mail_settings import MemoryKeyring, memory_keyring  # noqa: F401
from tests.services.test_statement_mail import Mailbox, free_port
from tests.ui.conftest import Boxes

WAIT = 20_000
TODAY = date.today()
SHOTS = os.environ.get("O2C_SHOTS")  # a folder: save screenshots of the dialogs there


def shot(widget, name: str) -> None:  # type: ignore[no-untyped-def]
    if SHOTS:
        widget.grab().save(str(Path(SHOTS) / f"shot_{name}.png"))


@pytest.fixture(autouse=True)
def own_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Sent statements are kept in the data folder and settings in the config folder: per test."""
    monkeypatch.setenv("O2C_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("O2C_CONFIG_DIR", str(tmp_path / "config"))


def make_customer(ctx: UiContext, number: str, invoices: int = 3, email: str | None = None) -> int:
    row = customers.create_customer(
        ctx.db,
        ctx.actor,
        {"number": number, "name": f"Kunde {number} Zürich", "country": "DE", "email": email},
    )
    for k in range(invoices):
        ledger.post_invoice(
            ctx.db,
            ctx.actor,
            row.id,
            f"{number}-INV-{k + 1}",
            TODAY - timedelta(days=10 + 15 * k),
            Decimal("100.00") + k,
        )
    return row.id


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


def open_preview(ctx: UiContext, qtbot, customer_id: int, number: str) -> StatementPreview:  # type: ignore[no-untyped-def]
    dialog = StatementPreview(ctx, customer_id, number)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.rendered is not None and bool(dialog.page_labels), timeout=WAIT)
    return dialog


def test_preview_shows_the_pages_and_saves_a_pdf(
    ctx: UiContext,
    qtbot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    cid = make_customer(ctx, "S-1", invoices=3)
    dialog = open_preview(ctx, qtbot, cid, "S-1")
    assert len(dialog.page_labels) >= 1
    pixmap = dialog.page_labels[0].pixmap()
    assert not pixmap.isNull() and pixmap.height() > pixmap.width() > 300  # a portrait page
    assert "page" in dialog.status.text()
    assert dialog.first_preview_seconds is not None
    qtbot.wait(100)  # let the layout settle before the screenshot
    shot(dialog, "preview")
    width = pixmap.width()
    dialog.step_zoom(1)
    assert dialog.page_labels[0].pixmap().width() > width

    target = tmp_path / "out" / "statement-s1"
    target.parent.mkdir()
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "PDF (*.pdf)")
    )
    dialog.save_button.click()
    qtbot.waitUntil(lambda: dialog.saved is not None, timeout=WAIT)
    written = target.with_suffix(".pdf")
    assert written.read_bytes().startswith(b"%PDF")
    assert len(pdfium.PdfDocument(str(written))) == len(dialog.page_labels)
    [logged] = statement_delivery.deliveries_for_customer(ctx.db, cid)
    assert (logged.channel, logged.result, Path(logged.file_name).name) == (
        "file",
        "ok",
        "statement-s1.pdf",
    )


def test_activity_kind_renders_again(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    cid = make_customer(ctx, "S-2", invoices=2)
    dialog = open_preview(ctx, qtbot, cid, "S-2")
    first = dialog.rendered
    assert not dialog.period_from.isEnabled()
    dialog.kind.setCurrentIndex(1)
    assert dialog.period_from.isEnabled()
    qtbot.waitUntil(
        lambda: dialog.rendered is not first and dialog.rendered is not None, timeout=WAIT
    )
    assert dialog.rendered is not None and dialog.rendered.request.kind == "activity"


def test_print_paints_every_page_and_is_logged(
    ctx: UiContext,
    qtbot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    cid = make_customer(ctx, "S-3", invoices=2)
    dialog = open_preview(ctx, qtbot, cid, "S-3")
    printed = tmp_path / "printed.pdf"
    dialog.printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    dialog.printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    dialog.printer.setOutputFileName(str(printed))
    monkeypatch.setattr(QPrintDialog, "exec", lambda self: QDialog.DialogCode.Accepted)
    dialog.print_button.click()
    qtbot.waitUntil(
        lambda: len(statement_delivery.deliveries_for_customer(ctx.db, cid)) == 1, timeout=WAIT
    )
    assert len(pdfium.PdfDocument(str(printed))) == len(dialog.page_labels)
    [logged] = statement_delivery.deliveries_for_customer(ctx.db, cid)
    assert (logged.channel, logged.result) == ("print", "ok")
    assert logged.sha256 == dialog.rendered.sha256  # type: ignore[union-attr]


def test_email_from_the_preview_arrives(
    ctx: UiContext,
    qtbot,
    boxes: Boxes,
    smtp: tuple[Mailbox, int],  # type: ignore[no-untyped-def]
) -> None:
    box, port = smtp
    cid = make_customer(ctx, "S-4", invoices=2, email="ap@s4.example")
    mail_settings.save_mail_settings(
        ctx.db,
        ctx.actor,
        MailSettings(host="127.0.0.1", port=port, security="none", sender="ar@seller.example"),
    )
    dialog = open_preview(ctx, qtbot, cid, "S-4")
    dialog.email_button.click()
    qtbot.waitUntil(lambda: dialog.last_send is not None, timeout=WAIT)
    assert dialog.last_send is not None and dialog.last_send.ok, dialog.last_send
    [message] = box.received
    assert message["To"] == "ap@s4.example"
    assert "S-4" in message["Subject"]
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename().startswith("S-4-")
    assert attachment.get_content().startswith(b"%PDF")
    assert any("sent to ap@s4.example" in text for text in boxes.texts("information"))
    channels = sorted(d.channel for d in statement_delivery.deliveries_for_customer(ctx.db, cid))
    assert channels == ["email", "file"]  # the copy kept in the data folder, then the e-mail


def test_email_without_smtp_settings_says_how_to_set_it_up(
    ctx: UiContext,
    qtbot,
    boxes: Boxes,  # type: ignore[no-untyped-def]
) -> None:
    cid = make_customer(ctx, "S-5", invoices=1, email="ap@s5.example")
    dialog = open_preview(ctx, qtbot, cid, "S-5")
    dialog.email_button.click()
    qtbot.waitUntil(lambda: bool(boxes.texts("critical")), timeout=WAIT)
    assert "E-mail (SMTP)" in boxes.texts("critical")[0]
    assert statement_delivery.deliveries_for_customer(ctx.db, cid) == []


def test_profile_button_opens_the_preview_and_lists_deliveries(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    cid = make_customer(ctx, "S-6", invoices=1)
    profile = CustomerProfile(ctx, cid)
    qtbot.addWidget(profile)
    qtbot.waitUntil(lambda: profile.detail is not None, timeout=WAIT)
    assert profile.deliveries.model.rowCount() == 0
    dialog = profile.open_statement()
    assert isinstance(dialog, StatementPreview)
    qtbot.waitUntil(lambda: dialog.rendered is not None, timeout=WAIT)
    statement_delivery.record_delivery(
        ctx.db,
        ctx.actor,
        customer_id=cid,
        statement_date=TODAY,
        kind="open-items",
        file=Path("/tmp/S-6.pdf"),
        sha256="ab" * 32,
        channel="print",
        result="ok",
    )
    ctx.signals.customer_changed.emit(cid)
    qtbot.waitUntil(lambda: profile.deliveries.model.rowCount() == 1, timeout=WAIT)
    shown = [
        profile.deliveries.proxy.index(0, c).data()
        for c in range(profile.deliveries.proxy.columnCount())
    ]
    assert "print" in shown and "S-6.pdf" in shown and "abababababab" in shown
    dialog.close()
    profile.resize(1100, 700)
    profile.tabs.setCurrentWidget(profile.activity_tab)
    qtbot.wait(50)
    shot(profile, "activity")


def _batch(ctx: UiContext, qtbot, folder: Path, numbers: list[str]) -> StatementBatchDialog:  # type: ignore[no-untyped-def]
    dialog = StatementBatchDialog(ctx, today=TODAY + timedelta(days=40))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.email_note.text() != "", timeout=WAIT)
    dialog.out_dir.setText(str(folder))
    dialog.use_numbers.setChecked(True)
    dialog.numbers.setText(", ".join(numbers))
    return dialog


def test_batch_writes_one_file_per_customer_and_a_summary(
    ctx: UiContext,
    qtbot,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    numbers = ["B-1", "B-2", "B-3"]
    for number in numbers:
        make_customer(ctx, number, invoices=2)
    make_customer(ctx, "B-9", invoices=1)  # not picked
    dialog = _batch(ctx, qtbot, tmp_path / "batch", numbers)
    dialog.use_combined.setChecked(True)
    dialog.run_button.click()
    assert dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=60_000)
    written = sorted(p.name for p in (tmp_path / "batch").glob("B-*.pdf"))
    as_of = dialog.outcome.batch.files[0].path.stem.split("-", 2)[2]  # type: ignore[union-attr]
    assert written == [f"{n}-{as_of}.pdf" for n in numbers]
    assert (tmp_path / "batch" / f"statements-{as_of}.pdf").exists()
    text = dialog.summary.toPlainText()
    assert "3 of 3 statements written" in text
    assert "Combined PDF" in text
    assert dialog.progress.value() == dialog.progress.maximum()
    assert dialog.run_button.isEnabled() and not dialog.cancel_button.isEnabled()
    shot(dialog, "batch")


def test_batch_then_email_reports_each_customer(
    ctx: UiContext,
    qtbot,
    tmp_path: Path,
    smtp: tuple[Mailbox, int],  # type: ignore[no-untyped-def]
) -> None:
    box, port = smtp
    make_customer(ctx, "M-1", invoices=1, email="ap@m1.example")
    second = make_customer(ctx, "M-2", invoices=1)
    contacts.add_contact(
        ctx.db,
        ctx.actor,
        second,
        {"name": "Ann", "email": "ann@m2.example", "receives_statements": True},
    )
    make_customer(ctx, "M-3", invoices=1)  # nobody to send it to
    mail_settings.save_mail_settings(
        ctx.db,
        ctx.actor,
        MailSettings(host="127.0.0.1", port=port, security="none", sender="ar@seller.example"),
    )
    dialog = _batch(ctx, qtbot, tmp_path / "mailed", ["M-1", "M-2", "M-3"])
    assert dialog.use_email.isEnabled()
    dialog.use_email.setChecked(True)
    dialog.run_button.click()
    qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=60_000)
    assert sorted(m["To"] for m in box.received) == ["ann@m2.example", "ap@m1.example"]
    text = dialog.summary.toPlainText()
    assert "E-mail: 2 sent, 1 failed" in text
    assert "M-3: no statement contact" in text


def test_batch_can_be_cancelled(ctx: UiContext, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    numbers = [f"K-{k:02d}" for k in range(40)]
    for number in numbers:
        make_customer(ctx, number, invoices=1)
    dialog = _batch(ctx, qtbot, tmp_path / "cancelled", numbers)
    dialog.run_button.click()
    dialog.cancel_button.click()  # before the first chunk is done
    qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=60_000)
    assert dialog.outcome is not None and dialog.outcome.batch.cancelled
    assert len(list((tmp_path / "cancelled").glob("K-*.pdf"))) < len(numbers)
    assert "Cancelled" in dialog.summary.toPlainText()


def test_batch_names_unknown_customer_numbers(
    ctx: UiContext,
    qtbot,
    tmp_path: Path,
    boxes: Boxes,  # type: ignore[no-untyped-def]
) -> None:
    make_customer(ctx, "U-1", invoices=1)
    dialog = _batch(ctx, qtbot, tmp_path / "unknown", ["U-1", "U-404"])
    dialog.run_button.click()
    qtbot.waitUntil(lambda: bool(boxes.texts("critical")), timeout=WAIT)
    assert "U-404" in boxes.texts("critical")[0]
    assert not (tmp_path / "unknown").exists() or not list((tmp_path / "unknown").iterdir())


def test_split_numbers() -> None:
    assert split_numbers("A-1, A-2;A-3\nA-1  A-4") == ["A-1", "A-2", "A-3", "A-4"]


# -- settings ---------------------------------------------------------------------------------


def _settings(ctx: UiContext, qtbot) -> SettingsDialog:  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(None, ctx=ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.letterhead is not None and dialog.mail is not None
    qtbot.waitUntil(
        lambda: dialog.letterhead.loaded is not None and dialog.mail.loaded is not None,  # type: ignore[union-attr]
        timeout=WAIT,
    )
    return dialog


def test_settings_round_trip(
    ctx: UiContext,
    qtbot,  # type: ignore[no-untyped-def]
    boxes: Boxes,
    memory_keyring: MemoryKeyring,  # noqa: F811
) -> None:
    dialog = _settings(ctx, qtbot)
    lh, mail = dialog.letterhead, dialog.mail
    assert lh is not None and mail is not None
    lh.inputs["company_name"].setText("Seller & Söhne AG")
    lh.address.setPlainText("Hauptstraße 1\n8001 Zürich")
    lh.inputs["country"].setText("CH")
    lh.inputs["iban"].setText("CH9300762011623852957")
    lh.inputs["bic"].setText("")
    mail.host.setText("smtp.seller.example")
    mail.security.setCurrentIndex(mail.security.findData("tls"))
    assert mail.port.value() == 465  # followed the usual port of implicit TLS
    mail.user.setText("ar-robot")
    mail.password.setText("smtp-s3cret")
    mail.sender.setText("Seller AR <ar@seller.example>")
    mail.subject.setText("Statement {customer_number} from {company}")
    shot(dialog, "settings_database")
    dialog.tabs.setCurrentWidget(lh)
    shot(dialog, "settings_letterhead")
    dialog.tabs.setCurrentWidget(mail)
    shot(dialog, "settings_smtp")
    with qtbot.waitSignal(dialog.accepted, timeout=WAIT):
        dialog.save()
    assert boxes.texts("information") == ["Saved."]  # the database choice did not change

    head = letterhead.get_letterhead(ctx.db)
    assert head.company_name == "Seller & Söhne AG"
    assert head.address_lines == ("Hauptstraße 1", "8001 Zürich")
    assert head.iban == "CH93 0076 2011 6238 5295 7"
    saved = mail_settings.load_mail_settings(ctx.db)
    assert (saved.host, saved.port, saved.security, saved.user) == (
        "smtp.seller.example",
        465,
        "tls",
        "ar-robot",
    )
    assert saved.subject_template == "Statement {customer_number} from {company}"
    assert mail_settings.smtp_password(saved) == "smtp-s3cret"

    again = _settings(ctx, qtbot)  # the next opening shows what was saved
    assert again.letterhead.inputs["company_name"].text() == "Seller & Söhne AG"  # type: ignore[union-attr]
    assert again.mail.host.text() == "smtp.seller.example"  # type: ignore[union-attr]
    assert again.mail.password.text() == ""  # type: ignore[union-attr]  # never read back


def test_settings_errors_stay_next_to_the_field(ctx: UiContext, qtbot, boxes: Boxes) -> None:  # type: ignore[no-untyped-def]
    dialog = _settings(ctx, qtbot)
    mail = dialog.mail
    assert mail is not None
    mail.host.setText("smtp.seller.example")
    mail.sender.setText("ar@seller.example")
    mail.subject.setText("Statement {customer_nr}")
    dialog.save()
    qtbot.waitUntil(lambda: dialog.banner.isVisible(), timeout=WAIT)
    assert dialog.tabs.currentWidget() is mail
    assert "{customer_nr}" in mail.errors["subject_template"].text()
    assert dialog.isVisible()  # stays open with the input kept
    assert mail_settings.load_mail_settings(ctx.db) == MailSettings()


def test_settings_are_read_only_for_a_collector(ctx: UiContext, qtbot) -> None:  # type: ignore[no-untyped-def]
    colin = add_user(ctx.db, ctx.actor, "colin", Role.COLLECTOR)
    dialog = _settings(UiContext(ctx.db, colin, AppSignals()), qtbot)
    assert dialog.letterhead is not None and dialog.mail is not None
    assert not dialog.letterhead.inputs["company_name"].isEnabled()
    assert not dialog.mail.host.isEnabled()
    assert dialog.letterhead.inputs["company_name"].text() == "Your Company Ltd"
    assert "credit manager" in dialog.mail.note.text()


def test_send_test_email_from_settings(
    ctx: UiContext,
    qtbot,
    boxes: Boxes,
    smtp: tuple[Mailbox, int],
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    box, port = smtp
    dialog = _settings(ctx, qtbot)
    mail = dialog.mail
    assert mail is not None
    mail.host.setText("127.0.0.1")
    mail.security.setCurrentIndex(mail.security.findData("none"))
    mail.port.setValue(port)
    mail.sender.setText("ar@seller.example")
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("me@seller.example", True))
    mail.test_button.click()
    qtbot.waitUntil(lambda: "Sent." in mail.test_result.text(), timeout=WAIT)
    assert box.received[0]["To"] == "me@seller.example"
    workers.wait_for_all()
