"""App-wide signals, emitted after a commit, so every open screen showing the data refreshes."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class AppSignals(QObject):
    customer_changed = Signal(int)  # a customer's record, contacts or notes changed
    customers_changed = Signal()  # rows added or removed (imports, demo data, deletes)
    users_changed = Signal()
    strategy_changed = Signal()  # the active collection strategy changed: call lists re-rank
    applications_changed = Signal()  # a credit application was created, edited or decided
    orders_changed = Signal()  # an order was entered, imported, held, released or rejected
    credit_policy_changed = Signal()  # checklist templates, scorecard, authorities or policy
