"""Settings → Scorecard: the factors, bands and weights that score a credit application, the
risk classes the score falls into, and the rule for the recommended limit.

The versions are listed on the left, newest first, the active one marked. The active version is
edited on the right: each factor (years in business, current ratio, … from the scorecard
service's FACTOR_KEYS; a factor can be dropped and added back) with its label, weight and the
points a missing value earns, and, for the factor selected, its bands (a value below a band's
"below" earns its points; the last band takes every value left). A factor's share of the score
is its weight over the total of the weights, shown beside the table. Older versions are shown
read-only; "Start from this version" copies one into the editor to save it again.

Saving never changes a version: it makes the next one and makes it active (services.scorecards
checks the rules and names each problem by its place, "factors[2].bands[1].below", which is shown
here as the factor's label and the band's number). If another administrator saved a version in
between, the save is refused as a conflict with the input kept; saving again builds on theirs.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.errors import O2CError, ValidationFailed
from o2c_desktop.services import scorecards
from o2c_desktop.services.credit_policy import RISK_CLASSES
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import error_label, set_error, with_error
from o2c_desktop.ui.dialogs.strategy_editor import BANDS, MAPPING, FieldSpec, RowsTable, humanise
from o2c_desktop.ui.models.columns import Column
from o2c_desktop.ui.widgets.layouts import scrolling
from o2c_desktop.ui.widgets.records_tab import CreditSettingsTab

FACTOR_TITLES = ("Factor", "Label", "Weight", "Points when missing")
FACTOR_FIELDS = ("key", "label", "weight", "missing_points")
LIMIT_FIELDS = ("purchases_terms_factor", "cap", "round_down_to")
LIMIT_LABELS = {
    "purchases_terms_factor": "Monthly purchases × terms / 30 ×",
    "cap": "At most (cap; empty: none)",
    "round_down_to": "Rounded down to a multiple of",
}
SECTIONS = ("factors", "bands", "risk_classes", "net_worth_share", *LIMIT_FIELDS, "note")
COLUMNS = (
    Column(
        "version_no",
        "Version",
        lambda v: v.version_no,
        lambda v: f"{v.version_no} (active)" if v.active else str(v.version_no),
    ),
    Column(
        "created_at", "Saved", lambda v: v.created_at, lambda v: formatting.moment(v.created_at)
    ),
    Column("created_by", "By", lambda v: v.created_by or "(shipped)"),
    Column("note", "Note", lambda v: v.note, tooltip=lambda v: v.note or ""),
)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _path(field: str) -> list[str | int]:
    """'factors[2].bands[1].below' → ['factors', 2, 'bands', 1, 'below']."""
    parts: list[str | int] = []
    for piece in field.replace("]", "").split("."):
        name, *indexes = piece.split("[")
        if name:
            parts.append(name)
        parts.extend(int(i) for i in indexes if i.isdigit())
    return parts


def _num(text: str) -> Decimal | None:
    try:
        return Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None


class ScorecardTab(CreditSettingsTab):
    """The versions, and the editor of the active one (or of a copy of an older one)."""

    source = "Scorecard"
    noun, plural = "scorecard", "scorecard versions"
    widest_list = 0.25  # the editor needs the room; a long note has its tooltip

    def __init__(self, ctx: UiContext, parent: Any = None):
        super().__init__(ctx, COLUMNS, ("scorecardVersions", "scorecardStatus"), parent)
        self.copying = False  # an older version's rules are in the editor, to be saved anew
        self.active_version_no = 0
        self.bands: dict[str, list[list[str]]] = {}  # factor key -> its band rows as typed
        self._band_key: str | None = None  # whose bands the band table shows
        self._message = ""  # the status to show once the list is read again after a save

        self.save_button, self.copy_button, self.add_factor_button = self.buttons(
            "Sa&ve as new version", "Start &from this version", "Add factor"
        )
        if self.editable:
            self.copy_button.setToolTip("Copy the selected older version's rules into the editor")
        self.add_factor_menu = QMenu(self.add_factor_button)
        self.add_factor_button.setMenu(self.add_factor_menu)
        self.add_factor_menu.aboutToShow.connect(self._fill_factor_menu)

        def table(name: str, titles: tuple[str, ...], kind: str = BANDS) -> RowsTable:
            """Text in the first column, numbers (right-aligned) in the others; typed text is
            sent as it is, for the service to read exactly."""
            texts = 2 if name == "factors" else 0 if name == "bands" else 1
            kinds = (*(str,) * texts, *(Decimal,) * (len(titles) - texts))
            spec = FieldSpec(name, humanise(name), kind, kinds, titles)
            rows = RowsTable(spec, self._changed)
            rows.table.setObjectName(f"scorecard_{name}")
            rows.table.setMinimumHeight(100)
            return rows

        self.factors = table("factors", (*FACTOR_TITLES[:3], "If missing"))
        self.factors.table.setMinimumHeight(190)
        header = self.factors.table.horizontalHeader()
        for column in range(len(FACTOR_TITLES)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.factors.table.horizontalHeaderItem(3).setToolTip("Points when the value is missing")
        assert self.factors.add_button is not None and self.factors.remove_button is not None
        self.factors.add_button.hide()
        self.factors.remove_button.setText("Remove factor")
        self.factors.layout().itemAt(1).layout().insertWidget(0, self.add_factor_button)
        self.factors.table.currentCellChanged.connect(lambda *_a: self._factor_moved())
        self.factors.table.itemChanged.connect(lambda _i: self._show_weights())
        self.band_table = table("bands", ("Below (values less than)", "Points"))
        self.band_caption = QLabel(objectName="scorecardBandCaption")
        self.weights = QLabel(objectName="scorecardWeights")
        self.weights.setStyleSheet("color: #666;")
        self.weights.setWordWrap(True)
        self.risk_classes = table("risk_classes", ("Class", "From score"))
        self.shares = table("net_worth_share", ("Risk class", "Share"), MAPPING)
        rows_height = self.shares.table.verticalHeader().defaultSectionSize()
        self.shares.table.setMaximumHeight(rows_height * (len(RISK_CLASSES) + 1) + 6)
        self.shares.table.setMinimumHeight(rows_height * (len(RISK_CLASSES) + 1) + 6)
        self.limit = {name: QLineEdit(objectName=f"scorecard_{name}") for name in LIMIT_FIELDS}
        for edit in self.limit.values():
            edit.setAlignment(Qt.AlignmentFlag.AlignRight)
            edit.setMaximumWidth(160)
        self.note = QLineEdit(objectName="scorecardNote")
        self.note.setMaxLength(300)
        self.note.setPlaceholderText("What changed and why (kept with the version)")
        self.watch(self.note.textEdited, *(edit.textEdited for edit in self.limit.values()))
        self.errors = {name: error_label() for name in SECTIONS}

        factors_box = QGroupBox("Factors (score = Σ points × weight / total weight)")
        factors_layout = QVBoxLayout(factors_box)
        factors_layout.addWidget(with_error(self.factors, self.errors["factors"]))
        factors_layout.addWidget(self.weights)
        bands_box = QGroupBox("Bands of the selected factor")
        bands_layout = QVBoxLayout(bands_box)
        bands_layout.addWidget(self.band_caption)
        bands_layout.addWidget(with_error(self.band_table, self.errors["bands"]))
        classes_box = QGroupBox("Risk classes (the first whose score is reached)")
        classes_layout = QVBoxLayout(classes_box)
        classes_layout.addWidget(with_error(self.risk_classes, self.errors["risk_classes"]))
        limit_box = QGroupBox("Recommended limit: the lower of the bases, capped and rounded down")
        limit_form = QFormLayout(limit_box)
        limit_form.addRow("Net worth ×", with_error(self.shares, self.errors["net_worth_share"]))
        for name in LIMIT_FIELDS:
            limit_form.addRow(LIMIT_LABELS[name], with_error(self.limit[name], self.errors[name]))
        grid = QGridLayout()
        grid.addWidget(factors_box, 0, 0)
        grid.addWidget(bands_box, 0, 1)
        grid.addWidget(classes_box, 1, 0)
        grid.addWidget(limit_box, 1, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 0, 0, 0)
        body_layout.addLayout(grid)
        note_form = QFormLayout()
        note_form.addRow("Note", with_error(self.note, self.errors["note"]))
        editor = QVBoxLayout()
        editor.addWidget(scrolling(body), 1)
        editor.addLayout(note_form)
        self.view.setMinimumWidth(260)
        self.status.setWordWrap(True)
        self.arrange((self.copy_button,), editor, self.save_button, (250, 900))
        self.copy_button.clicked.connect(self.copy_selected)
        self._enable()
        self.load()

    @property
    def versions(self) -> list[Any]:
        return self.records

    def _loaded(self, rows: list[Any], select_id: int | None) -> None:
        self.active_version_no = next((v.version_no for v in rows if v.active), 0)
        super()._loaded(rows, select_id)
        if self.records and self._message:
            self.status.setText(self._message)
            self._message = ""

    def row_for(self, select_id: int | None) -> int:
        """The version asked for, else the active one."""
        active = next((v.id for v in self.records if v.active), None)
        return super().row_for(select_id if select_id is not None else active)

    # -- the form --------------------------------------------------------------------------
    def fill(self, version: Any, copying: bool = False) -> None:
        self._filling = True
        self.current, self.copying = version, copying
        self.base_version = self.active_version_no
        rules = version.rules
        factors = rules.get("factors", [])
        self.bands = {
            str(f.get("key")): [
                [_text(b.get("below")), _text(b.get("points"))] for b in f.get("bands", [])
            ]
            for f in factors
        }
        self._band_key = None
        self.factors.set_value(
            [
                [
                    f.get("key"),
                    f.get("label"),
                    _text(f.get("weight")),
                    _text(f.get("missing_points")),
                ]
                for f in factors
            ]
        )
        self._lock_keys()
        self.risk_classes.set_value(
            [[c.get("class"), _text(c.get("min_score"))] for c in rules.get("risk_classes", [])]
        )
        limit = rules.get("limit_rule", {})
        shares = limit.get("net_worth_share", {})
        self.shares.set_value({risk: _text(shares.get(risk, "0")) for risk in RISK_CLASSES})
        for name, edit in self.limit.items():
            edit.setText(_text(limit.get(name)))
        self.note.setText("")
        if self.factors.table.rowCount():
            self.factors.table.setCurrentCell(0, 1)
        self._factor_moved()
        self._filling = False
        self._clean()
        self._show_weights()
        self.status.setText(self._describe())

    def _describe(self) -> str:
        version = self.current
        if version is None:
            return ""
        if self.copying:
            return (
                f"A copy of version {version.version_no}: Save makes it version "
                f"{max((v.version_no for v in self.versions), default=0) + 1}, the active one."
            )
        if version.active:
            return (
                f"Version {version.version_no} scores new applications. Save makes a new version."
            )
        return f"Version {version.version_no} (no longer used; read-only)."

    def _lock_keys(self) -> None:
        """The factor column names what the service computes: chosen from a menu, not typed."""
        for row in range(self.factors.table.rowCount()):
            item = self.factors.table.item(row, 0)
            if item is not None:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)

    def _factor_keys(self) -> list[str]:
        table = self.factors.table
        return [
            table.item(r, 0).text() for r in range(table.rowCount()) if table.item(r, 0) is not None
        ]

    def _fill_factor_menu(self) -> None:
        self.add_factor_menu.clear()
        used = set(self._factor_keys())
        unused = [key for key in scorecards.FACTOR_KEYS if key not in used]
        for key in unused:
            action = QAction(humanise(key), self.add_factor_menu)
            action.triggered.connect(lambda _c=False, k=key: self.add_factor(k))
            self.add_factor_menu.addAction(action)
        if not unused:
            none = self.add_factor_menu.addAction("Every factor is in use")
            none.setEnabled(False)

    def add_factor(self, key: str) -> None:
        """A factor (back) in the scorecard, weight 10: with the bands it had when it was removed,
        or one band giving 50 points to any value."""
        self.factors.table.blockSignals(True)
        self.factors.add_row([key, humanise(key), "10", "0"])
        self.factors.table.blockSignals(False)
        self._lock_keys()
        self.bands.setdefault(key, [["", "50"]])
        self.factors.table.setCurrentCell(self.factors.table.rowCount() - 1, 1)
        self._changed()
        self._show_weights()

    def _keep_bands(self) -> None:
        if self._band_key is not None:
            self.bands[self._band_key] = self.band_table.texts()

    def _factor_moved(self) -> None:
        """The band table follows the factor selected (its rows kept as typed)."""
        self._keep_bands()
        row = self.factors.table.currentRow()
        item = self.factors.table.item(row, 0) if row >= 0 else None
        key = item.text() if item is not None else None
        self._band_key = key
        filling, self._filling = self._filling, True
        self.band_table.set_value(self.bands.get(key, []) if key else [])
        self._filling = filling
        label = self.factors.table.item(row, 1) if row >= 0 else None
        self.band_caption.setText(
            f"{label.text() if label else key}: a value earns the points of the first band it "
            "is below; the last band (below empty) takes every value left."
            if key
            else "Select a factor to see its bands."
        )
        self.band_caption.setWordWrap(True)

    def _show_weights(self) -> None:
        table = self.factors.table
        weights = []
        for row in range(table.rowCount()):
            label, weight = table.item(row, 1), table.item(row, 2)
            value = _num(weight.text()) if weight is not None else None
            weights.append((label.text() if label else "?", value))
        total = sum((w for _l, w in weights if w is not None and w > 0), Decimal(0))
        if not total:
            self.weights.setText("")
            return
        shares = ", ".join(
            f"{label} {formatting.percent(w / total)}" for label, w in weights if w and w > 0
        )
        self.weights.setText(f"Total weight {total.normalize():f}; shares: {shares}")

    def _enable(self) -> None:
        """Only the active version (or a copy) is edited; every version can be read."""
        has = self.current is not None
        editing = self.editable and has and (self.copying or self.current.active)
        self.show_editable(
            (
                self.factors,
                self.band_table,
                self.risk_classes,
                self.shares,
                self.note,
                *self.limit.values(),
            ),
            editing,
        )
        self.save_button.setEnabled(editing)
        self.copy_button.setEnabled(
            self.editable and has and not self.current.active and not self.copying
        )

    def copy_selected(self) -> None:
        if self.current is None or self.current.active:
            return
        self.fill(self.current, copying=True)
        self.dirty = True
        self._enable()

    def rules(self) -> dict[str, Any]:
        """The rules as typed, in the scorecard's JSON form (numbers as decimal strings, which
        the service reads exactly; it names every problem)."""
        self._keep_bands()

        def filled(rows: list[list[str]]) -> list[list[str]]:
            return [[c.strip() for c in r] for r in rows if any(c.strip() for c in r)]

        factors = []
        for key, label, weight, missing in filled(self.factors.texts()):
            bands = filled(self.bands.get(key, []))
            factors.append(
                {
                    "key": key,
                    "label": label,
                    "weight": weight,
                    "missing_points": missing,
                    "bands": [
                        {"below": below or None, "points": points} for below, points in bands
                    ],
                }
            )
        classes = [
            {"min_score": score, "class": code.upper()}
            for code, score in filled(self.risk_classes.texts())
        ]
        shares = {risk: share.strip() for risk, share in self.shares.texts()}
        limit = {name: edit.text().strip() for name, edit in self.limit.items()}
        return {
            "factors": factors,
            "risk_classes": classes,
            "limit_rule": {
                "net_worth_share": shares,
                "purchases_terms_factor": limit["purchases_terms_factor"],
                "cap": limit["cap"] or None,
                "round_down_to": limit["round_down_to"],
            },
        }

    # -- saving (ListEditorTab's hooks) ----------------------------------------------------
    def wants_save(self, force: bool) -> bool:
        if self.current is None or not (self.copying or self.current.active):
            return False
        return self.dirty or force

    def pending_save(self) -> tuple[dict[str, Any], str | None, int]:
        return self.rules(), self.note.text().strip() or None, self.base_version or 0

    def store(self, pending: tuple[dict[str, Any], str | None, int]) -> Any:
        rules, note, version_no = pending
        return scorecards.save_scorecard(self.ctx.db, self.ctx.actor, rules, note, version_no)

    def fetch_rows(self) -> list[Any]:
        return scorecards.list_versions(self.ctx.db, self.ctx.actor)

    def _rebase(self) -> None:
        """After a conflict the input stays; the next Save builds on the version now active."""

        def rebased(rows: list[Any]) -> None:
            self.active_version_no = next((v.version_no for v in rows if v.active), 0)
            self.base_version = self.active_version_no

        workers.submit(self.fetch_rows, owner=self, on_done=rebased, on_failed=lambda _e: None)

    def field_for(self, problem_field: str) -> str | None:
        return self.describe(problem_field)[0]

    def describe(self, problem_field: str) -> tuple[str | None, str]:
        """Which section a problem belongs to, and where in it, in the editor's words:
        'factors[2].bands[1].below' → ('factors', 'Bureau score, band 2, below')."""
        parts = _path(problem_field)
        head = parts[0] if parts else ""
        if head == "factors" and len(parts) > 1 and isinstance(parts[1], int):
            table = self.factors.table
            label = table.item(parts[1], 1) if parts[1] < table.rowCount() else None
            where = label.text() if label is not None else f"factor {parts[1] + 1}"
            rest = parts[2:]
            if len(rest) >= 2 and rest[0] == "bands" and isinstance(rest[1], int):
                where += f", band {rest[1] + 1}"
                rest = rest[2:]
            return "factors", ", ".join([where, *(str(p).replace("_", " ") for p in rest)])
        if head == "risk_classes":
            row = f"row {parts[1] + 1}" if len(parts) > 1 and isinstance(parts[1], int) else ""
            rest = [str(p).replace("_", " ").replace("min score", "from score") for p in parts[2:]]
            return "risk_classes", ", ".join(filter(None, [row, *rest]))
        if head == "limit_rule" and len(parts) > 1:
            if parts[1] == "net_worth_share":
                return "net_worth_share", f"class {parts[2]}" if len(parts) > 2 else ""
            return (str(parts[1]) if parts[1] in LIMIT_FIELDS else None), ""
        if head in ("factors", "note"):
            return str(head), ""
        return None, ""

    def show_problems(self, error: O2CError) -> bool:
        """Each problem under its section, saying which factor, band or row it is about."""
        if error is not self._last_error:
            return False
        messages: dict[str, list[str]] = {}
        if isinstance(error, ValidationFailed):
            for problem in error.problems:
                key, where = self.describe(problem.field)
                if key is not None:
                    messages.setdefault(key, []).append(
                        f"{where}: {problem.message}" if where else problem.message
                    )
        for key, label in self.errors.items():
            set_error(label, "\n".join(messages.get(key, ())))
        return True

    def _saved(self, version: Any) -> None:
        self._busy(False)
        if version is None:
            return
        self.dirty, self.copying = False, False
        self._message = f"Saved as version {version.version_no}: it scores new applications."
        self.status.setText(self._message)
        self.banner.hide()
        self.load(select_id=version.id)
        self.announce()
