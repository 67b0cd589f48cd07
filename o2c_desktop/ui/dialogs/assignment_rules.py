"""Settings → Assignment rules: which collector gets a customer, and assigning by hand in bulk.

The rules are tried in order; the first whose every given condition matches (segment, region =
the customer's country, customer-number range, currency, balance band) names the collector. A
balance band is in the currency beside it (required with a band): the rule matches only customers
in that currency, by what they owe in it. Preview counts,
per collector, the customers a run would move to them; Apply rules moves them (only the customers
without a collector, or everyone) in one set-based update on a worker, after a confirmation that
names the count. Every change is audited by the portfolios service.

`assign_collector_dialog(parent, ctx, customer_ids)` gives selected customers to one collector
(or to nobody) by hand: for the customer list's bulk action.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import partial
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressDialog,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.errors import (
    FieldProblem,
    O2CError,
    PermissionDenied,
    ValidationFailed,
)
from o2c_desktop.money import parse_amount
from o2c_desktop.services import customers, portfolios
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import (
    banner,
    not_saved,
    place_problems,
    set_error,
    with_error,
)
from o2c_desktop.ui.dialogs.ledger_actions import ActionDialog
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.models.list_table import ROW_ROLE, ListTableModel
from o2c_desktop.ui.widgets.layouts import STRETCH, toolbar
from o2c_desktop.ui.widgets.messages import confirm, show_error, show_info
from o2c_desktop.ui.widgets.table_panel import configure_table

ANY = "any"
NOBODY = "(no collector)"
RULE_FIELDS = (
    "collector_id",
    "segment",
    "region",
    "number_from",
    "number_to",
    "currency",
    "balance_min",
    "balance_max",
    "position",
)
# How a service problem's field may be spelled, to find its input.
FIELD_ALIASES = {
    "collector": "collector_id",
    "number": "number_from",
    "numbers": "number_from",
    "customer_number": "number_from",
    "balance": "balance_min",
    "balance_band": "balance_min",
    "country": "region",
    "balance_currency": "currency",
}


def _number_range(rule: Any) -> str:
    if rule.number_from is None and rule.number_to is None:
        return ANY
    return f"{rule.number_from or '…'} – {rule.number_to or '…'}"


def _balance_band(rule: Any) -> str:
    if rule.balance_min is None and rule.balance_max is None:
        return ANY
    low = formatting.amount(rule.balance_min) if rule.balance_min is not None else "…"
    high = formatting.amount(rule.balance_max) if rule.balance_max is not None else "…"
    return f"{low} – {high}"


RULE_COLUMNS = (
    Column("position", "#", lambda r: r.position, numeric=True),
    Column("collector", "Collector", lambda r: r.collector),
    Column("segment", "Segment", lambda r: r.segment, lambda r: r.segment or ANY),
    Column("region", "Region", lambda r: r.region, lambda r: r.region or ANY),
    Column("number_from", "From number", lambda r: r.number_from),
    Column("number_to", "To number", lambda r: r.number_to),
    Column(
        "numbers",
        "Customer numbers",
        lambda r: _number_range(r),
        tooltip=lambda r: "Customer number between these, inclusive (compared as text)",
    ),
    Column(
        "currency",
        "Currency",
        lambda r: r.currency,
        lambda r: r.currency or ANY,
        tooltip=lambda r: "Only customers in this currency; a balance band is in it",
    ),
    Column(
        "balance_min",
        "Balance from",
        lambda r: r.balance_min,
        lambda r: formatting.amount(r.balance_min),
        numeric=True,
    ),
    Column(
        "balance_max",
        "Balance to",
        lambda r: r.balance_max,
        lambda r: formatting.amount(r.balance_max),
        numeric=True,
    ),
)
# The table shows the range columns combined; the raw ones stay for export and tests.
SHOWN_RULE_COLUMNS = tuple(c for c in RULE_COLUMNS if c.key not in ("number_from", "number_to"))
PREVIEW_COLUMNS = (
    Column("collector", "Collector", lambda r: r[1]),
    Column("count", "Customers moving to them", lambda r: r[2], numeric=True),
)


def field_key(name: str, known: Sequence[str]) -> str | None:
    """The input a problem's field names: 'balance_min', 'Balance min', 'collector' …"""
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    key = FIELD_ALIASES.get(key, key)
    return key if key in known else None


def _optional_text(edit: QLineEdit) -> str | None:
    return edit.text().strip() or None


class RuleDialog(ActionDialog):
    """Add or edit one rule. Blank conditions match every customer."""

    fields = RULE_FIELDS

    def __init__(
        self,
        ctx: UiContext,
        rule: Any = None,
        collectors: Sequence[tuple[int, str]] = (),
        segments: Sequence[str] = (),
        parent: Any = None,
    ):
        super().__init__(ctx, parent)
        self.rule = rule
        self.setWindowTitle("Edit assignment rule" if rule else "New assignment rule")
        self.setMinimumWidth(460)
        self.collector = QComboBox(objectName="ruleCollector")
        for user_id, name in collectors:
            self.collector.addItem(name, user_id)
        self.segment = QComboBox(objectName="ruleSegment")
        self.segment.setEditable(True)
        self.segment.addItem("")
        self.segment.addItems(list(segments))
        self.segment.lineEdit().setPlaceholderText("any segment")
        self.region = QLineEdit(objectName="ruleRegion")
        self.region.setMaxLength(2)
        self.region.setPlaceholderText("any country (two letters, e.g. DE)")
        self.number_from = QLineEdit(objectName="ruleNumberFrom")
        self.number_to = QLineEdit(objectName="ruleNumberTo")
        self.number_from.setPlaceholderText("from (blank: from the first)")
        self.number_to.setPlaceholderText("to (blank: to the last)")
        self.balance_min = QLineEdit(objectName="ruleBalanceMin")
        self.balance_max = QLineEdit(objectName="ruleBalanceMax")
        self.balance_min.setPlaceholderText("from (blank: any)")
        self.balance_max.setPlaceholderText("to (blank: any)")
        for edit in (self.balance_min, self.balance_max):
            edit.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.currency = QLineEdit(objectName="ruleCurrency")
        self.currency.setMaxLength(3)
        self.currency.setMaximumWidth(90)
        self.currency.setPlaceholderText("currency")
        self.currency.setToolTip(
            "The band's currency (EUR, SEK …), required with a band: the rule then matches only "
            "customers in it. Alone: every customer in that currency."
        )
        numbers = QHBoxLayout()
        numbers.addWidget(with_error(self.number_from, self.errors["number_from"]))
        numbers.addWidget(with_error(self.number_to, self.errors["number_to"]))
        balance = QHBoxLayout()
        balance.addWidget(with_error(self.balance_min, self.errors["balance_min"]))
        balance.addWidget(with_error(self.balance_max, self.errors["balance_max"]))
        balance.addWidget(with_error(self.currency, self.errors["currency"]))
        note = QLabel(
            "A customer goes to the collector of the first rule whose every filled-in condition "
            "it meets. A balance band is in one currency: it matches customers in that currency "
            "by what they owe in it (open items less unapplied cash)."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: #666;")
        form = QFormLayout()
        form.addRow(note)
        form.addRow("Collector", with_error(self.collector, self.errors["collector_id"]))
        form.addRow("Segment", with_error(self.segment, self.errors["segment"]))
        form.addRow("Region", with_error(self.region, self.errors["region"]))
        form.addRow("Customer numbers", numbers)
        form.addRow("Balance band", balance)
        form.addRow("", self.errors["position"])
        self.finish_layout(form)
        if rule is not None:
            self.collector.setCurrentIndex(max(self.collector.findData(rule.collector_id), 0))
            self.segment.setCurrentText(rule.segment or "")
            self.region.setText(rule.region or "")
            self.number_from.setText(rule.number_from or "")
            self.number_to.setText(rule.number_to or "")
            self.balance_min.setText(formatting.amount(rule.balance_min))
            self.balance_max.setText(formatting.amount(rule.balance_max))
            self.currency.setText(rule.currency or "")
        self.collector.setFocus()

    def _amount(self, edit: QLineEdit, name: str, problems: list[FieldProblem]) -> Decimal | None:
        text = edit.text().strip()
        if not text:
            return None
        try:
            return parse_amount(text)
        except ValueError as exc:
            problems.append(FieldProblem(name, str(exc), value=text))
            return None

    def values(self) -> dict[str, Any]:
        """The rule as typed; ValidationFailed for what is not even a number."""
        problems: list[FieldProblem] = []
        values = {
            "collector_id": self.collector.currentData(),
            "segment": self.segment.currentText().strip() or None,
            "region": (_optional_text(self.region) or "").upper() or None,
            "number_from": _optional_text(self.number_from),
            "number_to": _optional_text(self.number_to),
            "balance_min": self._amount(self.balance_min, "balance_min", problems),
            "balance_max": self._amount(self.balance_max, "balance_max", problems),
            "currency": (_optional_text(self.currency) or "").upper() or None,
        }
        if values["collector_id"] is None:
            problems.append(FieldProblem("collector_id", "choose a collector"))
        if problems:
            raise ValidationFailed(problems, "Assignment rule")
        return values

    def save(self) -> None:
        try:
            values = self.values()
        except ValidationFailed as exc:
            self._failed(exc)
            return
        rule = self.rule
        if rule is not None:
            values.update(position=rule.position, expected_version=rule.version)
        self.run(
            portfolios.save_rule,
            self.ctx.db,
            self.ctx.actor,
            rule.id if rule is not None else None,
            **values,
        )

    def _failed(self, error: O2CError) -> None:
        """Problems under their inputs (whatever spelling the service uses), input kept."""
        self.buttons.setEnabled(True)
        place_problems(self.errors, error, lambda name: field_key(name, RULE_FIELDS))
        set_error(self.banner, not_saved(error))


class AssignmentRulesTab(QWidget):
    """The ordered rules, their preview and their application."""

    def __init__(self, ctx: UiContext, parent: Any = None):
        super().__init__(parent)
        self.ctx = ctx
        self.editable = ctx.actor.may(Permission.MANAGE_STRATEGIES)
        self.may_apply = ctx.actor.may(Permission.ASSIGN_COLLECTOR)
        self.collectors: list[tuple[int, str]] = []
        self.segments: list[str] = []
        self.preview: dict[int | None, int] | None = None
        self.loaded = False
        self.applied: int | None = None
        self.banner = banner()
        self.model = ListTableModel(SHOWN_RULE_COLUMNS, self)
        self.view = QTableView(objectName="ruleTable")
        self.view.setModel(self.model)
        configure_table(self.view)
        self.view.setSortingEnabled(False)  # the order is the rules' order
        self.view.activated.connect(lambda _i: self.edit_rule())
        self.add_button = QPushButton("&Add…")
        self.edit_button = QPushButton("&Edit…")
        self.delete_button = QPushButton("&Delete")
        self.up_button = QPushButton("Mo&ve up")
        self.down_button = QPushButton("Move do&wn")
        self.scope = QComboBox(objectName="ruleScope")
        self.scope.addItem("Only customers without a collector", True)
        self.scope.addItem("All customers (may move assigned ones)", False)
        self.preview_button = QPushButton("&Preview")
        self.apply_button = QPushButton("Appl&y rules…")
        edit_buttons = (
            self.add_button,
            self.edit_button,
            self.delete_button,
            self.up_button,
            self.down_button,
        )
        for button in (*edit_buttons, self.preview_button, self.apply_button):
            button.setAutoDefault(False)
        if not self.editable:
            for button in (self.add_button, self.edit_button, self.delete_button):
                button.setToolTip(refusal(ctx.actor, Permission.MANAGE_STRATEGIES))
        if not self.may_apply:
            self.apply_button.setToolTip(refusal(ctx.actor, Permission.ASSIGN_COLLECTOR))
        self.preview_model = ListTableModel(PREVIEW_COLUMNS, self)
        self.preview_view = QTableView(objectName="rulePreview")
        self.preview_view.setModel(self.preview_model)
        configure_table(self.preview_view)
        self.preview_view.setMaximumHeight(170)
        self.preview_label = QLabel(objectName="rulePreviewLabel")
        self.preview_label.setWordWrap(True)

        edit_row = toolbar(*edit_buttons, STRETCH)
        run_row = toolbar("Apply to", self.scope, self.preview_button, self.apply_button, STRETCH)
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(self.view, 1)
        layout.addLayout(edit_row)
        layout.addLayout(run_row)
        layout.addWidget(self.preview_label)
        layout.addWidget(self.preview_view)
        self.view.selectionModel().currentRowChanged.connect(lambda *_a: self._enable())
        self.model.modelReset.connect(self._enable)
        self.add_button.clicked.connect(self.add_rule)
        self.edit_button.clicked.connect(self.edit_rule)
        self.delete_button.clicked.connect(self.delete_rule)
        self.up_button.clicked.connect(lambda: self.move(-1))
        self.down_button.clicked.connect(lambda: self.move(1))
        self.preview_button.clicked.connect(self.run_preview)
        self.apply_button.clicked.connect(self.apply)
        self.scope.currentIndexChanged.connect(lambda _i: self._clear_preview())
        self._enable()
        self.load()

    # -- loading ---------------------------------------------------------------------------
    def load(self, select_id: int | None = None) -> None:
        ctx = self.ctx

        def job() -> tuple[list[Any], list[tuple[int, str]], list[str]]:
            return (
                portfolios.list_rules(ctx.db, ctx.actor),
                portfolios.collectors(ctx.db),
                customers.distinct_segments(ctx.db),
            )

        def show(loaded: tuple[list[Any], list[tuple[int, str]], list[str]]) -> None:
            rules, self.collectors, self.segments = loaded
            self.model.set_rows(rules)
            self.view.resizeColumnsToContents()
            row = next((i for i, r in enumerate(rules) if r.id == select_id), -1)
            if row >= 0:
                self.view.selectRow(row)
            self.loaded = True
            self._enable()

        workers.submit(
            job,
            owner=self,
            on_done=show,
            on_failed=lambda e: set_error(self.banner, f"Cannot load the rules: {e}"),
        )

    def reload(self) -> None:
        self.load(self._selected_id())

    def rules(self) -> list[Any]:
        return list(self.model.rows)

    def selected(self) -> Any:
        index = self.view.currentIndex()
        return index.data(ROW_ROLE) if index.isValid() else None

    def _selected_id(self) -> int | None:
        rule = self.selected()
        return rule.id if rule is not None else None

    def _enable(self) -> None:
        rule = self.selected()
        row = self.view.currentIndex().row() if rule is not None else -1
        self.add_button.setEnabled(self.editable and self.loaded)
        self.edit_button.setEnabled(self.editable and rule is not None)
        self.delete_button.setEnabled(self.editable and rule is not None)
        self.up_button.setEnabled(self.editable and rule is not None and row > 0)
        self.down_button.setEnabled(
            self.editable and rule is not None and row < self.model.rowCount() - 1
        )
        self.preview_button.setEnabled(self.loaded)
        self.apply_button.setEnabled(self.may_apply and self.loaded and self.model.rowCount() > 0)

    # -- editing ---------------------------------------------------------------------------
    def rule_dialog(self, rule: Any = None) -> RuleDialog:
        return RuleDialog(self.ctx, rule, self.collectors, self.segments, self)

    def add_rule(self) -> None:
        self._edit(self.rule_dialog())

    def edit_rule(self) -> None:
        rule = self.selected()
        if rule is not None and self.editable:
            self._edit(self.rule_dialog(rule))

    def _edit(self, dialog: RuleDialog) -> None:
        if dialog.exec() == QDialog.DialogCode.Accepted:
            saved = dialog.result_value
            self._clear_preview()
            self.load(saved.id if saved is not None else None)

    def delete_rule(self) -> None:
        rule = self.selected()
        if rule is None or not confirm(
            self, f"Delete rule #{rule.position} (to {rule.collector})?"
        ):
            return
        self._call(portfolios.delete_rule, self.ctx.db, self.ctx.actor, rule.id, rule.version)

    def move(self, step: int) -> None:
        """Swap the selected rule with its neighbour (the earlier rule wins a customer).

        Positions are sort keys that may repeat, so the rules are renumbered 1, 2, 3 … in the
        new order; only those whose number changes are saved, each with its version."""
        rules = self.rules()
        rule = self.selected()
        if rule is None:
            return
        index = next(i for i, r in enumerate(rules) if r.id == rule.id)
        other = index + step
        if not 0 <= other < len(rules):
            return
        rules[index], rules[other] = rules[other], rules[index]
        moves = [(r, n) for n, r in enumerate(rules, start=1) if r.position != n]
        ctx = self.ctx

        def renumber() -> None:
            for moved, position in moves:
                values = {name: getattr(moved, name) for name in RULE_FIELDS}
                portfolios.save_rule(
                    ctx.db,
                    ctx.actor,
                    moved.id,
                    **(values | {"position": position}),
                    expected_version=moved.version,
                )

        self._call(renumber, select_id=rule.id)

    def _call(self, fn: Any, *args: Any, select_id: int | None = None) -> None:
        """A change off the GUI thread; the list is read again afterwards either way."""
        self.banner.hide()
        for button in (self.up_button, self.down_button, self.delete_button):
            button.setEnabled(False)

        def done(_value: Any) -> None:
            self._clear_preview()
            self.load(select_id)

        def failed(error: O2CError) -> None:
            set_error(self.banner, f"Not saved: {error}")
            self.load(select_id)

        workers.submit(fn, *args, owner=self, on_done=done, on_failed=failed)

    # -- preview and apply -----------------------------------------------------------------
    def _clear_preview(self) -> None:
        self.preview = None
        self.preview_model.set_rows([])
        self.preview_label.setText("")

    def _names(self) -> dict[int | None, str]:
        names: dict[int | None, str] = dict(self.collectors)
        for rule in self.rules():
            names.setdefault(rule.collector_id, rule.collector)
        names[None] = NOBODY
        return names

    def _run_rules(
        self,
        service: Callable[..., Any],
        only_unassigned: bool,
        on_done: Callable[[Any], None],
        undo: Callable[[], None] = lambda: None,
    ) -> None:
        """Preview or apply the rules on a worker; a failure is undone (`undo`), the buttons
        come back and the error is shown."""

        def failed(error: O2CError) -> None:
            undo()
            self._enable()
            show_error(self, error)

        workers.submit(
            partial(service, only_unassigned=only_unassigned),
            self.ctx.db,
            self.ctx.actor,
            owner=self,
            on_done=on_done,
            on_failed=failed,
        )

    def run_preview(self) -> None:
        only_unassigned = bool(self.scope.currentData())
        self.preview_label.setText("Counting…")
        self.preview_button.setEnabled(False)

        def done(counts: dict[int | None, int]) -> None:
            self.show_preview(counts)
            self._enable()

        self._run_rules(
            portfolios.preview_rules,
            only_unassigned,
            done,
            lambda: self.preview_label.setText(""),
        )

    def show_preview(self, counts: dict[int | None, int]) -> None:
        self.preview = dict(counts)
        names = self._names()
        rows = sorted(
            ((key, names.get(key, f"user #{key}"), n) for key, n in counts.items() if n),
            key=lambda r: (-r[2], r[1]),
        )
        self.preview_model.set_rows(rows)
        self.preview_view.resizeColumnsToContents()
        total = sum(n for _k, _name, n in rows)
        self.preview_label.setText(
            f"Applying the rules now would move {total:,} customer(s)."
            if total
            else "Applying the rules now would move no customer."
        )

    def apply(self) -> None:
        """Count first, confirm with the count, then apply on a worker with a busy indicator."""
        only_unassigned = bool(self.scope.currentData())
        self.apply_button.setEnabled(False)

        def counted(counts: dict[int | None, int]) -> None:
            self.show_preview(counts)
            total = sum(counts.values())
            self._enable()
            if not total:
                show_info(self, "The rules would move no customer: nothing to apply.")
                return
            scope = "customers without a collector" if only_unassigned else "customers"
            if confirm(
                self,
                f"Assign {total:,} {scope} to collectors by the rules? "
                "Each change is recorded in the audit trail.",
            ):
                self._apply(only_unassigned)

        self._run_rules(portfolios.preview_rules, only_unassigned, counted)

    def _apply(self, only_unassigned: bool) -> None:
        progress = QProgressDialog("Assigning customers by the rules…", None, 0, 0, self)
        progress.setWindowTitle("Apply assignment rules")
        progress.setCancelButton(None)  # one SQL statement: it cannot stop half-way
        progress.setMinimumDuration(300)
        progress.setAutoClose(False)
        self.apply_button.setEnabled(False)

        def done(changed: int) -> None:
            progress.close()
            self.applied = changed
            self._clear_preview()
            self.preview_label.setText(f"{changed:,} customer(s) moved to their collector.")
            self._enable()
            if changed:
                self.ctx.signals.customers_changed.emit()
            show_info(self, f"{changed:,} customer(s) assigned by the rules.")

        self._run_rules(portfolios.apply_rules, only_unassigned, done, progress.close)
        progress.show()


class AssignCollectorDialog(ActionDialog):
    """Give the chosen customers to one collector, or to nobody, in one audited change."""

    fields = ("collector_id",)

    def __init__(self, ctx: UiContext, customer_ids: Sequence[int], parent: Any = None):
        super().__init__(ctx, parent)
        self.customer_ids = list(dict.fromkeys(customer_ids))
        count = len(self.customer_ids)
        self.setWindowTitle("Assign collector")
        self.setMinimumWidth(400)
        self.collector = QComboBox(objectName="assignCollector")
        self.collector.addItem("Loading collectors…", None)
        self.collector.setEnabled(False)
        self.loaded = False
        self.question = QLabel(f"Assign {count:,} selected customer(s) to:")
        form = QFormLayout()
        form.addRow(self.question)
        form.addRow("Collector", with_error(self.collector, self.errors["collector_id"]))
        self.finish_layout(form)
        workers.submit(
            portfolios.collectors,
            ctx.db,
            owner=self,
            on_done=self._fill,
            on_failed=lambda e: set_error(self.banner, str(e)),
        )

    def _fill(self, collectors: list[tuple[int, str]]) -> None:
        self.collector.clear()
        for user_id, name in collectors:
            self.collector.addItem(name, user_id)
        self.collector.addItem("Nobody (unassigned)", None)
        self.collector.setEnabled(True)
        self.collector.setFocus()
        self.loaded = True

    def save(self) -> None:
        if not self.loaded:
            return
        self.run(
            portfolios.assign,
            self.ctx.db,
            self.ctx.actor,
            self.customer_ids,
            self.collector.currentData(),
        )


def assign_collector_dialog(
    parent: QWidget | None, ctx: UiContext, customer_ids: Sequence[int]
) -> bool:
    """Ask for a collector and assign the customers to them; True when something was saved.

    Emits `customers_changed` (the list shows the collector) and `customer_changed` for each
    customer when only a few were changed (their open profiles refresh)."""
    if not customer_ids:
        return False
    if not ctx.actor.may(Permission.ASSIGN_COLLECTOR):
        show_error(parent, PermissionDenied(refusal(ctx.actor, Permission.ASSIGN_COLLECTOR)))
        return False
    dialog = AssignCollectorDialog(ctx, customer_ids, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return False
    ctx.signals.customers_changed.emit()
    if len(dialog.customer_ids) <= 50:
        for customer_id in dialog.customer_ids:
            ctx.signals.customer_changed.emit(customer_id)
    return True
