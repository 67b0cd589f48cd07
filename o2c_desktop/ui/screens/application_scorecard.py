"""An application's Scorecard tab: each factor's value, points, weight and weighted points, the
total score, the risk class and the recommended limit with the rule it came from, so anyone can
see why. "Score now" scores again with the active scorecard (and stores the result).

A figure the applicant did not give is scored with the points the scorecard sets for a missing
value (not zero); a current ratio without current liabilities is unbounded and shown as ∞."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from o2c_desktop.errors import O2CError
from o2c_desktop.services import credit_applications, scorecards
from o2c_desktop.services.auth import Permission, refusal
from o2c_desktop.services.customer_fields import RISK_CLASSES
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.widgets.charts import HorizontalBarChart, Point
from o2c_desktop.ui.widgets.layouts import STRETCH, toolbar
from o2c_desktop.ui.widgets.messages import show_error
from o2c_desktop.ui.widgets.table_panel import TablePanel

TWO_PLACES = Decimal("0.01")
# Why a factor's value can be unbounded (the scorecard gives it the top band).
UNBOUNDED = {"current_ratio": "no current liabilities"}


def factor_value(factor: scorecards.FactorResult) -> str:
    """A factor's value as the table shows it: "missing", "∞ (no current liabilities)", 2.08."""
    if factor.missing:
        return "missing"
    text = number(factor.value)
    why = UNBOUNDED.get(factor.key)
    unbounded = factor.value is not None and factor.value.is_infinite()
    return f"{text} ({why})" if why and unbounded else text


def number(value: Decimal | None) -> str:
    """A factor's figure for the eye: whole numbers as they are (12 years, score 710), others
    to two decimals (a current ratio of 2.0833… shows 2.08; the score keeps its exact value)."""
    if value is None:
        return ""
    if value.is_infinite():
        return "∞" if value > 0 else "-∞"
    if value == value.to_integral_value():
        return f"{value:,.0f}"
    return f"{value.quantize(TWO_PLACES, ROUND_HALF_EVEN):,}"


FACTOR_COLUMNS = (
    Column("factor", "Factor", lambda f: f.label),
    Column(
        "value",
        "Value",
        lambda f: f.value,
        factor_value,
        numeric=True,
    ),
    Column("points", "Points", lambda f: f.points, lambda f: number(f.points), numeric=True),
    Column("weight", "Weight", lambda f: f.weight, lambda f: number(f.weight), numeric=True),
    Column(
        "weighted", "Weighted", lambda f: f.weighted, lambda f: number(f.weighted), numeric=True
    ),
)


class ScorecardTab(QWidget):
    scored = Signal(object)  # ScoreResult, after Score now

    def __init__(self, ctx: UiContext, parent: Any = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.application: credit_applications.ApplicationView | None = None
        self.result: scorecards.ScoreResult | None = None
        self.workable = False
        self.busy = False
        self.score_button = QPushButton("&Score now", objectName="scoreNow")
        self.may_score = ctx.actor.may(Permission.PREPARE_APPLICATIONS) or ctx.actor.may(
            Permission.DECIDE_APPLICATIONS
        )
        self.score_button.setToolTip(
            "Score the application with the active scorecard"
            if self.may_score
            else refusal(ctx.actor, Permission.PREPARE_APPLICATIONS)
        )
        self.state = QLabel(objectName="scoreState")
        self.score = QLabel(objectName="scoreTotal")
        self.score.setStyleSheet("font-size: 16pt; font-weight: 600;")
        self.risk = QLabel(objectName="scoreRisk")
        self.recommended = QLabel(objectName="scoreRecommended")
        self.basis = QLabel(objectName="scoreBasis")
        self.basis.setWordWrap(True)
        self.version = QLabel(objectName="scoreVersion")
        self.version.setStyleSheet("color: #666;")
        figures = QFormLayout()
        figures.addRow("Score (0–100)", self.score)
        figures.addRow("Risk class", self.risk)
        figures.addRow("Recommended limit", self.recommended)
        figures.addRow("Limit rule", self.basis)
        figures.addRow("Scorecard", self.version)
        self.factors = TablePanel(FACTOR_COLUMNS, "score-factors")
        self.factors.setObjectName("scoreFactors")
        self.factors.view.setObjectName("scoreFactorsView")
        self.factors.view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # the scorecard's order
        self.chart = HorizontalBarChart("Weighted points per factor", number)
        self.chart.setObjectName("scoreChart")
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(figures)
        left_layout.addWidget(self.factors, 1)
        split = QSplitter(objectName="scorecardSplit")
        split.addWidget(left)
        split.addWidget(self.chart)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([720, 480])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(toolbar(self.score_button, (self.state, 1), STRETCH))
        layout.addWidget(split, 1)
        self.score_button.clicked.connect(self.score_now)
        self.show_result(None)

    def show_application(self, view: credit_applications.ApplicationView, workable: bool) -> None:
        """The score stored with the application (its detail says how each factor counted)."""
        self.application = view
        self.workable = workable
        self.show_result(scorecards.stored_result(view.score_detail))

    def show_result(self, result: scorecards.ScoreResult | None) -> None:
        self.result = result
        currency = self.application.currency if self.application else None
        if result is None:
            self.state.setText("Not scored yet: Score now uses the active scorecard.")
            for label in (self.score, self.risk, self.recommended, self.basis, self.version):
                label.setText("")
            self.factors.set_rows([])
            self.chart.set_points([])
        else:
            missing = [f.label for f in result.factors if f.missing]
            self.state.setText(
                f"Not given, scored with the scorecard's points for a missing figure: "
                f"{', '.join(missing)}."
                if missing
                else ""
            )
            self.score.setText(number(result.score))
            self.risk.setText(RISK_CLASSES.get(result.risk_class, result.risk_class))
            self.recommended.setText(formatting.money(result.recommended_limit, currency))
            self.basis.setText(result.limit_basis)
            self.version.setText(f"version {result.version_no}")
            self.factors.set_rows(result.factors)
            self.chart.set_points([Point(f.label, f.weighted) for f in result.factors])
        self._enable()

    def _enable(self) -> None:
        self.score_button.setEnabled(self.may_score and self.workable and not self.busy)

    def score_now(self) -> None:
        if self.application is None or self.busy:
            return
        self.busy = True
        self._enable()

        def done(result: scorecards.ScoreResult) -> None:
            self.busy = False
            self.show_result(result)
            self.scored.emit(result)

        def failed(error: O2CError) -> None:
            self.busy = False
            self._enable()
            show_error(self, error)

        workers.submit(
            scorecards.score_application,
            self.ctx.db,
            self.ctx.actor,
            self.application.id,
            owner=self,
            on_done=done,
            on_failed=failed,
        )
