"""Settings → Approval authorities: how much credit a role, or one person, may grant per currency.

Each row gives a role (everyone with it) or a user, a currency, the amount they may approve
alone, and the amount up to which they may approve together with a second approver (empty:
never jointly). A user's own row wins over their roles' rows; among roles the highest counts; no
row means no authority (clerks by default). Releasing a held order needs the amount alone.

The rows are listed on the left, the selected one edited on the right and saved with the version
the user loaded (a colleague's save in between is a conflict that keeps the input). The
approval-authority service checks the row (one row per role or user and currency, jointly at
least alone) and each problem is shown under its input. Only administrators may change the rows;
credit staff see them.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QCompleter,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QWidget,
)

from o2c_desktop.models.users import Role
from o2c_desktop.money import known_currencies
from o2c_desktop.services import credit_authority, users
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import error_label, with_error
from o2c_desktop.ui.dialogs.strategy_editor import fmt
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.widgets.list_editor import normalise
from o2c_desktop.ui.widgets.records_tab import CreditSettingsTab

FIELDS = ("role", "user_id", "currency", "alone_max", "jointly_max")
ALIASES = {"username": "user_id", "user": "user_id"}
DEFAULT_CURRENCY = "EUR"


ROLE_LABELS = {role.value: role.label for role in Role}


def subject_text(row: Any) -> str:
    if row.role:
        return f"Role: {ROLE_LABELS.get(row.role, row.role)}"
    return f"User: {row.username or row.user_id}"


COLUMNS = (
    Column("subject", "Role or user", subject_text),
    Column("currency", "Currency", lambda r: r.currency),
    Column(
        "alone_max",
        "Alone up to",
        lambda r: r.alone_max,
        lambda r: formatting.money(r.alone_max, r.currency),
        numeric=True,
    ),
    Column(
        "jointly_max",
        "With a second approver up to",
        lambda r: r.jointly_max,
        lambda r: formatting.money(r.jointly_max, r.currency) if r.jointly_max else "never",
        numeric=True,
    ),
)


class ApprovalAuthoritiesTab(CreditSettingsTab):
    """The authority rows and the editor of the selected one."""

    source = "Approval authority"
    noun, plural = "row", "approval authorities"

    def __init__(self, ctx: UiContext, parent: Any = None):
        super().__init__(ctx, COLUMNS, ("authorityList", "authorityStatus"), parent)
        self.new_button, self.delete_button, self.save_button = self.buttons(
            "&New row", "&Delete row", "Sa&ve row"
        )
        self.by_role = QRadioButton("Everyone with the role", objectName="authorityByRole")
        self.by_user = QRadioButton("One user", objectName="authorityByUser")
        self.by_role.setChecked(True)
        self.kind = QButtonGroup(self)
        self.kind.addButton(self.by_role)
        self.kind.addButton(self.by_user)
        self.role = QComboBox(objectName="authorityRole")
        for role in Role:
            self.role.addItem(role.label.capitalize(), role.value)
        self.user = QComboBox(objectName="authorityUser")
        self.user.addItem("Loading users…", None)
        self.currency = QLineEdit(objectName="authorityCurrency")
        self.currency.setMaxLength(3)
        self.currency.setMaximumWidth(80)
        self.currency.setCompleter(QCompleter(sorted(known_currencies()), self.currency))
        self.alone = QLineEdit(objectName="authorityAlone")
        self.jointly = QLineEdit(objectName="authorityJointly")
        for edit in (self.alone, self.jointly):
            edit.setAlignment(Qt.AlignmentFlag.AlignRight)
            edit.setMaximumWidth(180)
        self.alone.setPlaceholderText("0 (none)")
        self.jointly.setPlaceholderText("never")
        self.errors = {name: error_label() for name in FIELDS}
        note = QLabel(
            "A user's own row wins over their roles' rows; among roles the highest counts; no "
            "row: no authority. Deciding above the amount alone needs a second approver whose "
            "own joint amount covers it; releasing a held order needs the amount alone."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: #666;")

        kind_row = QHBoxLayout()
        kind_row.setContentsMargins(0, 0, 0, 0)
        kind_row.addWidget(self.by_role)
        kind_row.addWidget(self.by_user)
        kind_row.addStretch(1)
        kind_box = QWidget()
        kind_box.setLayout(kind_row)
        form = QFormLayout()
        form.addRow("Applies to", kind_box)
        form.addRow("Role", with_error(self.role, self.errors["role"]))
        form.addRow("User", with_error(self.user, self.errors["user_id"]))
        form.addRow("Currency", with_error(self.currency, self.errors["currency"]))
        form.addRow("Alone up to", with_error(self.alone, self.errors["alone_max"]))
        form.addRow(
            "With a second approver up to", with_error(self.jointly, self.errors["jointly_max"])
        )
        form.addRow(note)
        self.arrange((self.new_button, self.delete_button), form, self.save_button, (520, 480))

        self.watch(
            self.by_role.toggled,
            self.role.currentIndexChanged,
            self.user.currentIndexChanged,
            self.currency.textEdited,
            self.alone.textEdited,
            self.jointly.textEdited,
        )
        self.new_button.clicked.connect(self.new_row)
        self.delete_button.clicked.connect(self.delete_row)
        self._enable()
        self._load_users()
        self.load()

    # -- loading ---------------------------------------------------------------------------
    def _load_users(self) -> None:
        workers.submit(
            users.list_users,
            self.ctx.db,
            self.ctx.actor,
            owner=self,
            on_done=self._fill_users,
            on_failed=lambda e: self._show_banner(f"Cannot list the users: {e}"),
        )

    def _fill_users(self, rows: list[Any]) -> None:
        filling, self._filling = self._filling, True
        chosen = self.user.currentData()
        self.user.clear()
        for user in rows:
            inactive = "" if user.active else " (disabled)"
            self.user.addItem(f"{user.display_name} ({user.username}){inactive}", user.id)
        self.user.setCurrentIndex(max(self.user.findData(chosen), 0))
        if self.current is not None and self.current.user_id is not None:
            self.user.setCurrentIndex(max(self.user.findData(self.current.user_id), 0))
        self._filling = filling

    @property
    def rows(self) -> list[Any]:
        return self.records

    # -- the form --------------------------------------------------------------------------
    def fill(self, row: Any) -> None:
        self._filling = True
        self.current, self.is_new = row, False
        self.base_version = row.version
        self.by_user.setChecked(row.role is None)
        self.by_role.setChecked(row.role is not None)
        if row.role is not None:
            self.role.setCurrentIndex(max(self.role.findData(row.role), 0))
        if row.user_id is not None:
            self.user.setCurrentIndex(max(self.user.findData(row.user_id), 0))
        self.currency.setText(row.currency)
        self.alone.setText(fmt(row.alone_max))
        self.jointly.setText(fmt(row.jointly_max))
        self._filling = False
        self._clean()

    def _enable(self) -> None:
        editing = self.current is not None or self.is_new
        on = self.editable and editing
        self.show_editable(
            (self.by_role, self.by_user, self.currency, self.alone, self.jointly), on
        )
        self.role.setEnabled(on and self.by_role.isChecked())
        self.user.setEnabled(on and self.by_user.isChecked())
        self.new_button.setEnabled(self.editable and self.loaded)
        self.delete_button.setEnabled(self.editable and self.current is not None)
        self.save_button.setEnabled(on)

    def new_row(self) -> None:
        if not self.may_discard():
            return
        self._select_row(-1)
        self._filling = True
        self.by_role.setChecked(True)
        self.currency.setText(self.current.currency if self.current else DEFAULT_CURRENCY)
        self.alone.clear()
        self.jointly.clear()
        self._filling = False
        self.begin_new("New row: Save row to add it.")
        self.alone.setFocus()

    def values(self) -> dict[str, Any]:
        by_role = self.by_role.isChecked()
        return {
            "role": self.role.currentData() if by_role else None,
            "user_id": None if by_role else self.user.currentData(),
            "currency": self.currency.text().strip().upper(),
            "alone_max": self.alone.text().strip(),
            "jointly_max": self.jointly.text().strip(),
        }

    # -- saving (ListEditorTab's hooks) ----------------------------------------------------
    def pending_save(self) -> tuple[int | None, int | None, dict[str, Any]]:
        if self.is_new:
            return None, None, self.values()
        return self.current.id, self.base_version, self.values()

    def store(self, pending: tuple[int | None, int | None, dict[str, Any]]) -> Any:
        authority_id, version, values = pending
        return credit_authority.save_authority(
            self.ctx.db, self.ctx.actor, authority_id, version, values
        )

    def fetch_rows(self) -> list[Any]:
        return credit_authority.list_authorities(self.ctx.db, self.ctx.actor)

    def field_for(self, problem_field: str) -> str | None:
        key = normalise(problem_field)
        key = ALIASES.get(key, key)
        return key if key in FIELDS else None

    def delete_row(self) -> None:
        row = self.current
        if row is not None:
            self.delete_current(
                f"Delete the approval authority of {subject_text(row)} in {row.currency}?",
                "Row deleted.",
                credit_authority.delete_authority,
                self.delete_button,
            )
