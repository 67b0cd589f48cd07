"""Customer → Statement…: the statement rendered in the app, then saved, printed or e-mailed.

The PDF is made by the statements service on a worker thread and its pages are rasterised there
too (pypdfium2: PySide6-Essentials has no QtPdf), so the window stays responsive for a
300-item statement. Printing paints each page again at the printer's resolution (up to 300 dpi)
rather than scaling the screen images. Save, print and e-mail each leave a delivery-log row.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
from PySide6.QtCore import QDate, QEventLoop, QRect, Qt, QTimer
from PySide6.QtGui import QImage, QKeySequence, QPainter, QPixmap, QShortcut, QWheelEvent
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDateEdit,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.config import data_dir
from o2c_desktop.errors import O2CError
from o2c_desktop.services import mail_settings, statement_delivery, statement_mail, statements
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.widgets.messages import show_error, show_info

SCREEN_DPI = 150  # crisp up to ~150 % zoom; a page is ~6.5 MB as an RGB image
PRINT_DPI = 300
ZOOMS = (0.5, 0.67, 0.75, 0.9, 1.0, 1.25, 1.5, 2.0)
DEFAULT_PATTERN = "{customer}-{date}.pdf"
KIND_CHOICES = (("Open items", "open-items"), ("Activity for a period", "activity"))
_pdfium = threading.Lock()  # pdfium is not thread-safe: one document operation at a time


def iter_page_images(pdf: bytes, dpi: float) -> Iterator[QImage]:
    """Each page of a PDF as an RGB image at `dpi`, one at a time (printing 20 pages at 300 dpi
    never holds more than one in memory)."""
    with _pdfium:
        document = pdfium.PdfDocument(pdf)
        try:
            for index in range(len(document)):
                page = document[index]
                bitmap = page.render(scale=dpi / 72, rev_byteorder=True)
                image = QImage(
                    bytes(bitmap.buffer),
                    bitmap.width,
                    bitmap.height,
                    bitmap.stride,
                    QImage.Format.Format_RGB888,
                ).copy()  # own the pixels: the buffer dies with the bitmap
                image.setDotsPerMeterX(round(dpi / 0.0254))
                image.setDotsPerMeterY(round(dpi / 0.0254))
                page.close()
                yield image
        finally:
            document.close()


def statement_file_name(pattern: str, customer_number: str, as_of: date) -> str:
    """The default file name, as the batch names its files ({customer}-{date}.pdf)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in customer_number)
    name = pattern.format(customer=safe, date=as_of.isoformat())
    return name if name.lower().endswith(".pdf") else name + ".pdf"


@dataclass(frozen=True)
class Rendered:
    """One rendering: the request it answers, the PDF and its pages for the screen."""

    request: statements.StatementRequest
    pdf: bytes
    pages: list[QImage]
    seconds: float

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.pdf).hexdigest()


def _qdate(day: date) -> QDate:
    return QDate(day.year, day.month, day.day)


def _date(edit: QDateEdit) -> date:
    value = edit.date()
    return date(value.year(), value.month(), value.day())


class _PageArea(QScrollArea):
    """The pages on a grey desk; Ctrl+wheel zooms."""

    def __init__(self, dialog: StatementPreview):
        super().__init__()
        self.dialog = dialog
        self.setWidgetResizable(True)
        self.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.desk = QWidget(objectName="statementDesk")
        self.desk.setStyleSheet("#statementDesk { background: #7a7f85; }")
        self.column = QVBoxLayout(self.desk)
        self.column.setSpacing(14)
        self.column.setContentsMargins(20, 20, 20, 20)
        self.column.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.setWidget(self.desk)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.dialog.step_zoom(1 if event.angleDelta().y() > 0 else -1)
            event.accept()
        else:
            super().wheelEvent(event)


class StatementPreview(QDialog):
    """Kind, date, pages; Save as…, Print…, E-mail, Close (Escape)."""

    def __init__(
        self,
        ctx: UiContext,
        customer_id: int,
        customer_number: str,
        parent: Any = None,
        *,
        as_of: date | None = None,
    ):
        super().__init__(parent)
        self.ctx, self.customer_id, self.customer_number = ctx, customer_id, customer_number
        self.setWindowTitle(f"Statement – {customer_number}")
        self.opened_at = time.perf_counter()
        self.first_preview_seconds: float | None = None
        self.rendered: Rendered | None = None
        self.printer: QPrinter | None = None
        self.saved: statements.StatementFile | None = None
        self.last_send: statement_mail.SendResult | None = None
        self.zoom = 1.0
        self._generation = 0
        self._busy = 0

        today = as_of or date.today()
        self.kind = QComboBox(objectName="statementKind")
        for text, value in KIND_CHOICES:
            self.kind.addItem(text, value)
        self.period_from = QDateEdit(_qdate(today.replace(day=1)), objectName="periodFrom")
        self.as_of = QDateEdit(_qdate(today), objectName="statementDate")
        for edit in (self.period_from, self.as_of):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        self.from_label = QLabel("&From")
        self.from_label.setBuddy(self.period_from)
        date_label = QLabel("Statement &date")
        date_label.setBuddy(self.as_of)
        kind_label = QLabel("&Kind")
        kind_label.setBuddy(self.kind)
        self.zoom_out = QToolButton(text="−", toolTip="Zoom out (Ctrl+-)")
        self.zoom_in = QToolButton(text="+", toolTip="Zoom in (Ctrl++)")
        self.zoom_label = QLabel("100 %", objectName="zoomLabel")
        self.zoom_label.setMinimumWidth(48)
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.fit_button = QToolButton(text="Fit width")

        top = QHBoxLayout()
        top.addWidget(kind_label)
        top.addWidget(self.kind)
        top.addSpacing(12)
        top.addWidget(self.from_label)
        top.addWidget(self.period_from)
        top.addSpacing(12)
        top.addWidget(date_label)
        top.addWidget(self.as_of)
        top.addStretch(1)
        top.addWidget(self.zoom_out)
        top.addWidget(self.zoom_label)
        top.addWidget(self.zoom_in)
        top.addWidget(self.fit_button)

        self.area = _PageArea(self)
        self.page_labels: list[QLabel] = []
        self.status = QLabel(objectName="previewStatus")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.save_button = QPushButton("&Save as…")
        self.print_button = QPushButton("&Print…")
        self.email_button = QPushButton("&E-mail")
        self.close_button = QPushButton("Close")
        self.email_button.setToolTip("Send to the customer's statement contacts")
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        for button in (self.save_button, self.print_button, self.email_button, self.close_button):
            button.setAutoDefault(False)
            buttons.addWidget(button)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.area, 1)
        layout.addLayout(buttons)

        self._rerender = QTimer(self, singleShot=True, interval=250)
        self._rerender.timeout.connect(self.render_preview)
        self.kind.currentIndexChanged.connect(self._options_changed)
        self.period_from.dateChanged.connect(self._options_changed)
        self.as_of.dateChanged.connect(self._options_changed)
        self.zoom_in.clicked.connect(lambda: self.step_zoom(1))
        self.zoom_out.clicked.connect(lambda: self.step_zoom(-1))
        self.fit_button.clicked.connect(self.fit_width)
        self.save_button.clicked.connect(self.save_as)
        self.print_button.clicked.connect(self.print_statement)
        self.email_button.clicked.connect(self.email)
        self.close_button.clicked.connect(self.reject)
        for keys, step in (("Ctrl++", 1), ("Ctrl+=", 1), ("Ctrl+-", -1)):
            QShortcut(QKeySequence(keys), self, lambda s=step: self.step_zoom(s))
        QShortcut(QKeySequence.StandardKey.Print, self, self.print_statement)
        QShortcut(QKeySequence.StandardKey.Save, self, self.save_as)
        self.resize(940, 1000)
        self._enable()
        self.render_preview()

    # -- what to show ----------------------------------------------------------------------
    def request(self) -> statements.StatementRequest:
        activity = self.kind.currentData() == "activity"
        return statements.StatementRequest(
            customer_id=self.customer_id,
            as_of=_date(self.as_of),
            kind=self.kind.currentData(),
            period_from=_date(self.period_from) if activity else None,
        )

    def default_name(self) -> str:
        return statement_file_name(DEFAULT_PATTERN, self.customer_number, _date(self.as_of))

    def _options_changed(self) -> None:
        self._enable()
        self._rerender.start()

    def _enable(self) -> None:
        activity = self.kind.currentData() == "activity"
        self.period_from.setEnabled(activity)
        self.from_label.setEnabled(activity)
        ready = self.rendered is not None and self._busy == 0
        for button in (self.save_button, self.print_button, self.email_button):
            button.setEnabled(ready)

    def render_preview(self) -> None:
        """Make the PDF and its page images on a worker; only the newest request is shown."""
        self._generation += 1
        generation, request = self._generation, self.request()
        ctx = self.ctx
        self.status.setText("Rendering the statement…")

        def job() -> Rendered:
            started = time.perf_counter()
            pdf = statements.render_statement(ctx.db, ctx.actor, request)
            pages = list(iter_page_images(pdf, SCREEN_DPI))
            return Rendered(request, pdf, pages, time.perf_counter() - started)

        def done(rendered: Rendered) -> None:
            if generation == self._generation:
                self._show(rendered)

        def failed(error: O2CError) -> None:
            if generation == self._generation:
                self.rendered = None
                self._clear_pages()
                self.status.setText(str(error))
                self._enable()

        workers.submit(job, owner=self, on_done=done, on_failed=failed)

    def _clear_pages(self) -> None:
        for label in self.page_labels:
            label.deleteLater()
        self.page_labels = []

    def _show(self, rendered: Rendered) -> None:
        self.rendered = rendered
        self._clear_pages()
        for number in range(1, len(rendered.pages) + 1):
            label = QLabel(objectName=f"page{number}")
            label.setStyleSheet("background: white; border: 1px solid #555;")
            self.area.column.addWidget(label, 0, Qt.AlignmentFlag.AlignHCenter)
            self.page_labels.append(label)
        if self.first_preview_seconds is None:
            self.first_preview_seconds = time.perf_counter() - self.opened_at
            self.fit_width()  # the first time: a page as wide as the window allows
        else:
            self._apply_zoom()
        count = len(rendered.pages)
        self.status.setText(
            f"{count} page{'s' if count != 1 else ''} · rendered in {rendered.seconds:.2f} s"
        )
        self._enable()

    # -- zoom ------------------------------------------------------------------------------
    def _apply_zoom(self) -> None:
        if self.rendered is None:
            return
        screen_dpi = self.logicalDpiX() or 96
        for label, image in zip(self.page_labels, self.rendered.pages, strict=True):
            width = round(image.width() * screen_dpi / SCREEN_DPI * self.zoom)
            label.setPixmap(
                QPixmap.fromImage(image).scaledToWidth(
                    max(width, 50), Qt.TransformationMode.SmoothTransformation
                )
            )
        self.zoom_label.setText(f"{round(self.zoom * 100)} %")

    def set_zoom(self, zoom: float) -> None:
        self.zoom = min(max(zoom, ZOOMS[0]), ZOOMS[-1])
        self._apply_zoom()

    def step_zoom(self, step: int) -> None:
        if step > 0:
            bigger = [z for z in ZOOMS if z > self.zoom + 0.001]
            self.set_zoom(bigger[0] if bigger else ZOOMS[-1])
        else:
            smaller = [z for z in ZOOMS if z < self.zoom - 0.001]
            self.set_zoom(smaller[-1] if smaller else ZOOMS[0])

    def fit_width(self) -> None:
        if self.rendered is None or not self.rendered.pages:
            return
        screen_dpi = self.logicalDpiX() or 96
        natural = self.rendered.pages[0].width() * screen_dpi / SCREEN_DPI
        margins = self.area.column.contentsMargins()
        available = self.area.viewport().width() - margins.left() - margins.right() - 4
        scroll_bar = self.area.verticalScrollBar()
        if not scroll_bar.isVisible():  # it appears once the pages are taller than the window
            available -= scroll_bar.sizeHint().width()
        self.set_zoom(available / natural)

    # -- actions ---------------------------------------------------------------------------
    def _run(self, job: Any, on_done: Any, message: str) -> None:
        """A background action with the buttons disabled until it reports."""
        self._busy += 1
        self._enable()
        self.status.setText(message)

        def finish() -> None:
            self._busy -= 1
            self._enable()

        def done(value: Any) -> None:
            finish()
            on_done(value)

        def failed(error: O2CError) -> None:
            finish()
            self.status.setText(str(error).splitlines()[0])
            show_error(self, error)

        workers.submit(job, owner=self, on_done=done, on_failed=failed)

    def _logged(self) -> None:
        self.ctx.signals.customer_changed.emit(self.customer_id)

    def save_as(self) -> None:
        if self.rendered is None or self._busy:
            return
        suggested = str(Path.home() / self.default_name())
        path, _ = QFileDialog.getSaveFileName(self, "Save statement", suggested, "PDF (*.pdf)")
        if not path:
            return
        target = Path(path if path.lower().endswith(".pdf") else path + ".pdf")
        ctx, request = self.ctx, self.rendered.request

        def job() -> statements.StatementFile:
            return statements.write_statement(ctx.db, ctx.actor, request, target)

        def done(file: statements.StatementFile) -> None:
            self.saved = file
            self.status.setText(f"Saved {file.path} ({file.pages} pages)")
            self._logged()

        self._run(job, done, f"Saving {target.name}…")

    def print_statement(self) -> None:
        if self.rendered is None or self._busy:
            return
        if self.printer is None:
            self.printer = QPrinter(QPrinter.PrinterMode.HighResolution)
            self.printer.setDocName(self.default_name())
        dialog = QPrintDialog(self.printer, self)
        dialog.setWindowTitle("Print statement")
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.print_to(self.printer)

    def print_to(self, printer: QPrinter) -> bool:
        """Paint every page onto the printer, scaled to fit its page, and log the result.

        Qt paints on a printer from the GUI thread only, so the pages are rasterised here one
        at a time (never all of a long statement at 300 dpi in memory), with a wait cursor and
        the window repainted between pages."""
        rendered = self.rendered
        if rendered is None:
            return False
        where = printer.outputFileName() or printer.printerName() or "the printer"
        total = len(rendered.pages)
        painter = QPainter()
        pages = 0
        self._busy += 1
        self._enable()
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        ok = painter.begin(printer)
        try:
            if ok:
                dpi = min(printer.resolution(), PRINT_DPI)
                for image in iter_page_images(rendered.pdf, dpi):
                    if pages and not printer.newPage():
                        ok = False
                        break
                    area = painter.viewport()
                    size = image.size().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
                    target = QRect(area.x(), area.y(), size.width(), size.height())
                    painter.drawImage(target, image)
                    pages += 1
                    self.status.setText(f"Printing page {pages} of {total}…")
                    QApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
                ok = painter.end() and ok
        finally:
            QApplication.restoreOverrideCursor()
            self._busy -= 1
        detail = f"{pages} page(s) to {where}" if ok else f"the printer {where} refused the job"
        request, name, ctx = rendered.request, self.default_name(), self.ctx

        def job() -> int:
            return statement_delivery.record_delivery(
                ctx.db,
                ctx.actor,
                customer_id=request.customer_id,
                statement_date=request.as_of,
                kind=request.kind,
                file=Path(name),
                sha256=rendered.sha256,
                channel="print",
                result="ok" if ok else "failed",
                detail=detail,
            )

        def done(_row_id: int) -> None:
            self.status.setText(("Printed " if ok else "Not printed: ") + detail)
            self._logged()
            if not ok:
                show_error(self, f"The statement was not printed: {detail}.")

        self._run(job, done, "Printing…")
        return ok

    def email(self) -> None:
        """Write the statement into the data folder (the copy that was sent, kept), then send
        it to the statement contacts; the result is shown and logged either way."""
        if self.rendered is None or self._busy:
            return
        ctx, request = self.ctx, self.rendered.request
        name = self.default_name()

        def job() -> statement_mail.SendResult:
            settings = mail_settings.load_mail_settings(ctx.db)
            if not settings.configured:
                raise O2CError(
                    "E-mail is not set up yet: a credit manager or administrator enters the "
                    "SMTP server under File → Settings → E-mail (SMTP)."
                )
            folder = data_dir() / "statements" / "sent"
            folder.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            file = statements.write_statement(
                ctx.db, ctx.actor, request, folder / f"{Path(name).stem}-{stamp}.pdf"
            )
            return statement_mail.send_statement(
                ctx.db, ctx.actor, settings, file, as_of=request.as_of, kind=request.kind
            )

        def done(result: statement_mail.SendResult) -> None:
            self.last_send = result
            self._logged()
            if result.ok:
                self.status.setText("E-mailed to " + ", ".join(result.recipients))
                show_info(self, f"Statement sent to {', '.join(result.recipients)}.")
            else:
                self.status.setText("Not sent: " + result.detail.splitlines()[0])
                show_error(self, f"The statement was not sent: {result.detail}")

        self._run(job, done, "Sending the statement…")
