"""A line that finds customers as the user types: the customer list's own SQL search (number,
name, search terms), twenty matches at a time, queried off the GUI thread after a short pause in
typing. Used wherever a form names an existing customer (an order, a credit application)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QStringListModel, Qt, QTimer, Signal
from PySide6.QtWidgets import QCompleter, QLineEdit

from o2c_desktop.services import customers
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext

MATCHES = 20
SEPARATOR = " · "


def customer_text(number: str, name: str) -> str:
    return f"{number}{SEPARATOR}{name}"


class CustomerPicker(QLineEdit):
    """A line that finds customers as the user types and remembers the one picked.

    `chosen` carries the customer's id, or None when the text no longer names a picked customer
    (then the text itself is sent as a customer number, and the service says if it is unknown).
    """

    chosen = Signal(object)

    def __init__(self, ctx: UiContext, parent: Any = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.customer_id: int | None = None
        self.currency: str | None = None
        self._matches: dict[str, Any] = {}  # completion text -> CustomerRow
        self._picked_text = ""
        self._asked = ""
        self.setPlaceholderText("Customer number or name…")
        self.setClearButtonEnabled(True)
        self.names = QStringListModel(self)
        completer = QCompleter(self.names, self)
        completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.activated.connect(self.pick_text)
        self.setCompleter(completer)
        self._timer = QTimer(self, singleShot=True, interval=200)
        self._timer.timeout.connect(self._search)
        self.textEdited.connect(self._typed)
        self.editingFinished.connect(self._finished)

    def set_customer(self, customer_id: int, number: str, name: str, currency: str) -> None:
        """Show a customer as picked (the dialog was opened for it)."""
        self._picked_text = customer_text(number, name)
        self.setText(self._picked_text)
        self.customer_id, self.currency = customer_id, currency
        self.chosen.emit(customer_id)

    def _typed(self, text: str) -> None:
        if self.customer_id is not None and text != self._picked_text:
            self.customer_id, self.currency = None, None
            self.chosen.emit(None)
        self._timer.start()

    def _search(self) -> None:
        text = self.text().strip()
        if not text or text == self._picked_text or text == self._asked:
            return
        self._asked = text
        query = customers.CustomerQuery(search=text, sort_key="number")
        workers.submit(
            customers.list_customers,
            self.ctx.db,
            self.ctx.actor,
            query,
            0,
            MATCHES,
            owner=self,
            on_done=lambda rows, asked=text: self._found(asked, rows),
            on_failed=lambda _e: None,  # typing on finds nothing; Save names the problem
        )

    def _found(self, asked: str, rows: list[Any]) -> None:
        if asked != self.text().strip():
            return  # the user typed on: a newer search is on its way
        self._matches = {customer_text(r.number, r.name): r for r in rows}
        self.names.setStringList(list(self._matches))
        if rows and self.hasFocus():
            self.completer().complete()

    def pick_text(self, text: str) -> None:
        """A completion was chosen (click, Enter, or a test)."""
        row = self._matches.get(text)
        if row is None:
            return
        self._picked_text = text
        self.setText(text)
        self.customer_id, self.currency = row.id, row.currency
        self.chosen.emit(row.id)

    def _finished(self) -> None:
        """Leaving the line with exactly a customer's number typed picks that customer."""
        if self.customer_id is not None:
            return
        typed = self.text().strip().casefold()
        for text, row in self._matches.items():
            if row.number.casefold() == typed:
                self.pick_text(text)
                return

    def typed_number(self) -> str:
        """The customer number typed (the part before " · " of a completion), or ""."""
        return self.text().strip().split(SEPARATOR)[0].strip()

    def value(self) -> dict[str, Any]:
        """What the orders service is given: the picked customer's id, or the number typed."""
        if self.customer_id is not None:
            return {"customer_id": self.customer_id}
        typed = self.typed_number()
        return {"customer": typed} if typed else {}
