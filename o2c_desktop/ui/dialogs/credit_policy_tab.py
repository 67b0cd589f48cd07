"""Settings → Credit policy: the numbers the credit services share.

After how many days past due a customer's new orders are held; each open application state's
service level (the days it may stay there before it shows as overdue on the queue); how early a
customer's periodic review and an expiring document come up; how long financial statements stay
valid; the months from a decision to the next review per risk class; and where attached files
are kept (in the database unless a folder is chosen, e.g. on a shared drive).

Saved with the tab's own button or the Settings dialog's Save (as a whole, audited field by field
by services.credit_policy); each problem is shown under its input. Only administrators may change
the policy; credit staff see it read-only.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.errors import O2CError
from o2c_desktop.models.credit import OPEN_STATES
from o2c_desktop.services import credit_policy
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.services.credit_policy import RISK_CLASSES, CreditPolicy
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import (
    banner,
    error_label,
    not_saved,
    place_problems,
    set_error,
    with_error,
)
from o2c_desktop.ui.widgets.layouts import STRETCH, scrolling, toolbar
from o2c_desktop.ui.widgets.list_editor import normalise
from o2c_desktop.ui.widgets.records_tab import set_editable

STATE_LABELS = {
    "draft": "Draft",
    "submitted": "Submitted",
    "in_verification": "In verification",
    "pending_approval": "Pending approval",
}
# Single numbers: name -> (caption, lowest value, suffix).
NUMBERS = {
    "hold_days_past_due": ("Hold new orders when an item is more than", 0, " days past due"),
    "review_lead_days": ("A periodic review comes up", 0, " days before it is due"),
    "document_lead_days": ("An expiring document comes up", 0, " days before it lapses"),
    "financial_statements_months": ("Financial statements stay valid for", 1, " months"),
}
READ_ONLY_NOTE = "Only an administrator can change the credit policy."


def _spin(name: str, low: int, suffix: str) -> QSpinBox:
    spin = QSpinBox(objectName=f"policy_{name}")
    spin.setRange(low, 3650)
    spin.setSuffix(suffix)
    spin.setMinimumWidth(200)
    spin.setMaximumWidth(260)
    return spin


class CreditPolicyTab(QWidget):
    def __init__(self, ctx: UiContext, parent: Any = None):
        super().__init__(parent)
        self.ctx = ctx
        self.editable = ctx.actor.may(Permission.MANAGE_CREDIT_POLICY)
        self.loaded: CreditPolicy | None = None
        self._pending: dict[str, Any] | None = None
        self._last_error: O2CError | None = None
        self.banner = banner()
        self.note = QLabel(READ_ONLY_NOTE)
        self.note.setStyleSheet("color: #666;")
        self.note.setVisible(not self.editable)
        self.numbers = {
            name: _spin(name, low, suffix) for name, (_c, low, suffix) in NUMBERS.items()
        }
        self.sla = {state: _spin(f"sla_{state}", 1, " days") for state in OPEN_STATES}
        self.review = {risk: _spin(f"review_{risk}", 1, " months") for risk in RISK_CLASSES}
        self.store = QLineEdit(objectName="policy_document_store")
        self.store.setPlaceholderText("empty: attached files are kept in the database")
        self.browse_button = QPushButton("Browse…")
        self.save_button = QPushButton("Sa&ve policy")
        for button in (self.browse_button, self.save_button):
            button.setAutoDefault(False)
        if not self.editable:
            self.save_button.setToolTip(refusal(ctx.actor, Permission.MANAGE_CREDIT_POLICY))
        self.status = QLabel(objectName="policyStatus")
        self.status.setStyleSheet("color: #666;")
        keys = [*NUMBERS, "sla_days", "review_months", "document_store"]
        keys += [f"sla_days_{s}" for s in OPEN_STATES] + [
            f"review_months_{r}" for r in RISK_CLASSES
        ]
        self.errors = {key: error_label() for key in keys}

        general = QFormLayout()
        for name, (caption, _low, _suffix) in NUMBERS.items():
            general.addRow(caption, with_error(self.numbers[name], self.errors[name]))
        store_row = QHBoxLayout()
        store_row.setContentsMargins(0, 0, 0, 0)
        store_row.addWidget(self.store, 1)
        store_row.addWidget(self.browse_button)
        store_box = QWidget()
        store_box.setLayout(store_row)
        general.addRow(
            "Document store folder", with_error(store_box, self.errors["document_store"])
        )
        sla_box = QGroupBox("Service level: days an application may stay in each state")
        sla_form = QFormLayout(sla_box)
        for state in OPEN_STATES:
            spin = self.sla[state]
            sla_form.addRow(
                STATE_LABELS.get(state, state), with_error(spin, self.errors[f"sla_days_{state}"])
            )
        sla_form.addRow("", self.errors["sla_days"])
        review_box = QGroupBox("Next review after a decision, by risk class")
        review_form = QFormLayout(review_box)
        for risk in RISK_CLASSES:
            review_form.addRow(
                f"Class {risk}", with_error(self.review[risk], self.errors[f"review_months_{risk}"])
            )
        review_form.addRow("", self.errors["review_months"])
        groups = QGridLayout()
        groups.addWidget(sla_box, 0, 0)
        groups.addWidget(review_box, 0, 1)
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.addWidget(self.note)
        body_layout.addLayout(general)
        body_layout.addLayout(groups)
        body_layout.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(scrolling(body), 1)
        layout.addLayout(toolbar((self.status, 1), STRETCH, self.save_button))

        self._editors: tuple[QWidget, ...] = (
            *self.numbers.values(),
            *self.sla.values(),
            *self.review.values(),
            self.store,
            self.browse_button,
            self.save_button,
        )
        for widget in self._editors:
            widget.setEnabled(False)
        self.browse_button.clicked.connect(self.browse)
        self.save_button.clicked.connect(self.save_clicked)
        self.load()

    # -- loading ---------------------------------------------------------------------------
    def load(self) -> None:
        workers.submit(
            credit_policy.get_policy,
            self.ctx.db,
            owner=self,
            on_done=self.fill,
            on_failed=lambda e: set_error(self.banner, f"Cannot load the credit policy: {e}"),
        )

    def fill(self, policy: CreditPolicy) -> None:
        self.loaded = policy
        for name, spin in self.numbers.items():
            spin.setValue(getattr(policy, name))
        for state, spin in self.sla.items():
            spin.setValue(policy.sla_days.get(state, 1))
        for risk, spin in self.review.items():
            spin.setValue(policy.review_months.get(risk, 12))
        self.store.setText(policy.document_store or "")
        for widget in self._editors:  # read-only for credit staff, but not greyed out
            set_editable(widget, self.editable)

    def browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Folder for attached documents", self.store.text().strip()
        )
        if folder:
            self.store.setText(folder)

    def values(self) -> dict[str, Any]:
        """The policy as the service takes it (its JSON form)."""
        return {
            **{name: spin.value() for name, spin in self.numbers.items()},
            "sla_days": {state: spin.value() for state, spin in self.sla.items()},
            "review_months": {risk: spin.value() for risk, spin in self.review.items()},
            "document_store": self.store.text().strip() or None,
        }

    # -- saving (prepare on the GUI thread, save on the worker) ----------------------------
    def prepare(self, force: bool = False) -> None:
        for label in self.errors.values():
            set_error(label, None)
        values = self.values()
        changed = self.loaded is not None and (force or values != asdict(self.loaded))
        self._pending = values if self.editable and changed else None

    def save(self) -> CreditPolicy | None:
        if self._pending is None:
            return None
        try:
            return credit_policy.set_policy(self.ctx.db, self.ctx.actor, self._pending)
        except O2CError as exc:
            self._last_error = exc
            raise

    def show_problems(self, error: O2CError) -> bool:
        if error is not self._last_error:
            return False
        place_problems(self.errors, error, self.field_for)
        return True

    def field_for(self, problem_field: str) -> str | None:
        """'sla_days.draft' → sla_days_draft; 'review_months.A' → review_months_a, …"""
        key = normalise(problem_field)
        return next((k for k in self.errors if normalise(k) == key), None)

    def save_clicked(self) -> None:
        self.banner.hide()
        self.prepare(force=True)
        if self._pending is None:
            return
        self.save_button.setEnabled(False)
        self.status.setText("Saving…")
        workers.submit(self.save, owner=self, on_done=self._saved, on_failed=self._failed)

    def _saved(self, policy: CreditPolicy | None) -> None:
        self.save_button.setEnabled(self.editable)
        if policy is None:
            return
        self.fill(policy)
        self.status.setText("Saved.")
        self.ctx.signals.credit_policy_changed.emit()

    def _failed(self, error: O2CError) -> None:
        self.save_button.setEnabled(self.editable)
        self.status.setText("")
        self.show_problems(error)
        set_error(self.banner, not_saved(error))
