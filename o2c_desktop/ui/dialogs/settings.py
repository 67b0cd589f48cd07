"""File → Settings: Database, Company & letterhead, E-mail (SMTP), for credit managers the
collections settings (Collection strategy, Assignment rules, Dunning levels), and for the credit
department the credit settings (Checklist templates, Scorecard, Approval authorities, Credit
policy: administrators edit them, credit clerks and managers see them read-only).

Database: the embedded file or a shared PostgreSQL server. The URL (without password) goes to
this computer's settings file, the password to the OS keyring; the new database is used from the
next start, after a successful connection test. The letterhead and SMTP tabs (shown when the
dialog is opened from a signed-in window) are department settings kept in the database, saved
through their services on a worker before the database part; a problem in either keeps the
dialog open with the message under the field.

The collections tabs are shown only to users who may change them. Each saves with its own buttons
(rules and levels are lists of records, and applying rules is an action of its own); a strategy
or a level with unsaved changes is also saved by the dialog's Save, before the database part.
The credit tabs work the same way; after any of them saved, `credit_policy_changed` tells the
open screens.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.config import (
    Settings,
    default_database_url,
    parse_url,
    postgres_url,
    store_password,
)
from o2c_desktop.db import Database
from o2c_desktop.errors import O2CError
from o2c_desktop.services.auth import Permission
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.approval_authorities import ApprovalAuthoritiesTab
from o2c_desktop.ui.dialogs.assignment_rules import AssignmentRulesTab
from o2c_desktop.ui.dialogs.checklist_templates import ChecklistTemplatesTab
from o2c_desktop.ui.dialogs.credit_policy_tab import CreditPolicyTab
from o2c_desktop.ui.dialogs.dunning_levels import DunningLevelsTab
from o2c_desktop.ui.dialogs.form_support import banner
from o2c_desktop.ui.dialogs.letterhead_tab import LetterheadTab
from o2c_desktop.ui.dialogs.mail_tab import MailTab
from o2c_desktop.ui.dialogs.scorecard_editor import ScorecardTab
from o2c_desktop.ui.dialogs.strategy_editor import StrategyTab
from o2c_desktop.ui.widgets.messages import show_error, show_info


class SettingsDialog(QDialog):
    def __init__(
        self, current_url: str | None = None, parent: Any = None, ctx: UiContext | None = None
    ):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.embedded = QRadioButton(
            f"Embedded database on this computer\n"
            f"({default_database_url().removeprefix('sqlite:///')})"
        )
        self.shared = QRadioButton("Shared PostgreSQL server")
        self.host = QLineEdit("localhost", objectName="pg_host")
        self.port = QSpinBox(objectName="pg_port")
        self.port.setRange(1, 65535)
        self.port.setValue(5432)
        self.database = QLineEdit("o2c", objectName="pg_database")
        self.user = QLineEdit(objectName="pg_user")
        self.password = QLineEdit(objectName="pg_password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("kept in the system keyring (or use ~/.pgpass)")
        self.test_button = QPushButton("Test connection")
        self.result = QLabel()
        form = QFormLayout()
        form.addRow("Host", self.host)
        form.addRow("Port", self.port)
        form.addRow("Database", self.database)
        form.addRow("User", self.user)
        form.addRow("Password", self.password)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        self.database_tab = QWidget()
        database = QVBoxLayout(self.database_tab)
        database.addWidget(self.embedded)
        database.addWidget(self.shared)
        database.addLayout(form)
        database.addWidget(self.test_button)
        database.addWidget(self.result)
        database.addWidget(QLabel("A change takes effect the next time O2C Desktop starts."))
        database.addStretch(1)
        self.tabs = QTabWidget(objectName="settingsTabs")
        self.tabs.addTab(self.database_tab, "Data&base")
        self.letterhead: LetterheadTab | None = None
        self.mail: MailTab | None = None
        self.strategy: StrategyTab | None = None
        self.rules: AssignmentRulesTab | None = None
        self.levels: DunningLevelsTab | None = None
        self.templates: ChecklistTemplatesTab | None = None
        self.scorecard: ScorecardTab | None = None
        self.authorities: ApprovalAuthoritiesTab | None = None
        self.policy: CreditPolicyTab | None = None
        self.ctx = ctx
        if ctx is not None:
            self.letterhead = LetterheadTab(ctx)
            self.mail = MailTab(ctx)
            self.tabs.addTab(self.letterhead, "&Company && letterhead")
            self.tabs.addTab(self.mail, "E-&mail (SMTP)")
            if ctx.actor.may(Permission.PREPARE_APPLICATIONS):  # read-only unless administrator
                self.templates = ChecklistTemplatesTab(ctx)
                self.scorecard = ScorecardTab(ctx)
                self.authorities = ApprovalAuthoritiesTab(ctx)
                self.policy = CreditPolicyTab(ctx)
                self.tabs.addTab(self.templates, "Chec&klists")
                self.tabs.addTab(self.scorecard, "Sc&orecard")
                self.tabs.addTab(self.authorities, "Au&thorities")
                self.tabs.addTab(self.policy, "Credit po&licy")
                self.tabs.setTabToolTip(self.tabs.indexOf(self.templates), "Checklist templates")
                self.tabs.setTabToolTip(self.tabs.indexOf(self.authorities), "Approval authorities")
            if ctx.actor.may(Permission.MANAGE_STRATEGIES):
                self.strategy = StrategyTab(ctx)
                self.rules = AssignmentRulesTab(ctx)
                self.tabs.addTab(self.strategy, "Collection &strategy")
                self.tabs.addTab(self.rules, "Assignment &rules")
            if ctx.actor.may(Permission.EDIT_SETTINGS):
                self.levels = DunningLevelsTab(ctx)
                self.tabs.addTab(self.levels, "D&unning levels")
            self.resize(1180, 760)
        self.banner = banner()
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.buttons)
        self.test_button.clicked.connect(self.test)
        self.shared.toggled.connect(self._enable)
        self._load(current_url or Settings.load().database_url)

    def _load(self, url_text: str | None) -> None:
        url = parse_url(url_text) if url_text else None
        if url is not None and url.get_backend_name() == "postgresql":
            self.shared.setChecked(True)
            self.host.setText(url.host or "localhost")
            self.port.setValue(url.port or 5432)
            self.database.setText(url.database or "")
            self.user.setText(url.username or "")
        else:
            self.embedded.setChecked(True)
        self._enable()
        self._loaded_choice = self._chosen_text()

    def _chosen_text(self) -> str | None:
        url = self.chosen_url()
        return url.render_as_string(hide_password=True) if url is not None else None

    def _enable(self) -> None:
        for widget in (
            self.host,
            self.port,
            self.database,
            self.user,
            self.password,
            self.test_button,
        ):
            widget.setEnabled(self.shared.isChecked())

    def chosen_url(self, with_password: bool = False) -> Any:
        if not self.shared.isChecked():
            return None
        return postgres_url(
            self.host.text().strip(),
            self.port.value(),
            self.database.text().strip(),
            self.user.text().strip(),
            self.password.text() if with_password else None,
        )

    def test(self) -> bool:
        url = self.chosen_url(with_password=True)
        if url is None:
            return True
        db = Database(url)
        try:
            db.check_connection()
        except O2CError as exc:
            self.result.setText(str(exc))
            return False
        finally:
            db.dispose()
        self.result.setText("Connected.")
        return True

    def save(self) -> None:
        """Department tabs first (on a worker), then this computer's database choice."""
        self.banner.hide()
        credit = [
            tab
            for tab in (self.templates, self.scorecard, self.authorities, self.policy)
            if tab is not None
        ]
        tabs = [
            tab
            for tab in (self.letterhead, self.mail, self.strategy, self.levels, *credit)
            if tab is not None
        ]
        if not tabs:
            self._save_database()
            return
        for tab in tabs:
            tab.prepare()

        def job() -> bool:
            """Whether a credit setting was saved."""
            saved = [(tab, tab.save()) for tab in tabs]
            return any(result is not None for tab, result in saved if tab in credit)

        def failed(error: O2CError) -> None:
            self.buttons.setEnabled(True)
            for tab in tabs:
                if tab.show_problems(error):
                    self.tabs.setCurrentWidget(tab)
            self.banner.setText(f"Not saved: {error}")
            self.banner.show()

        def done(credit_saved: bool) -> None:
            self.buttons.setEnabled(True)
            if credit_saved and self.ctx is not None:
                self.ctx.signals.credit_policy_changed.emit()
            self._save_database()

        self.buttons.setEnabled(False)
        workers.submit(job, owner=self, on_done=done, on_failed=failed)

    def _save_database(self) -> None:
        url = self.chosen_url()
        if url is not None and not self.test():
            self.tabs.setCurrentWidget(self.database_tab)
            return
        chosen = self._chosen_text()
        try:
            if url is not None and self.password.text():
                store_password(url, self.password.text())
            Settings(database_url=chosen).save()
        except Exception as exc:  # keyring backends raise their own errors
            show_error(self, f"Could not save the settings: {exc}")
            return
        if chosen != self._loaded_choice or self.password.text():
            show_info(self, "Saved. O2C Desktop will use this database from its next start.")
        else:
            show_info(self, "Saved.")
        self.accept()
