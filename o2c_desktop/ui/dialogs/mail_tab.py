"""Settings → E-mail (SMTP): how statements are e-mailed, with a "Send test e-mail…" button.

The password field is write-only: it is never filled from the keyring, and left empty it keeps
the password already stored for this user and server. A department setting: only a credit
manager or an administrator may change it; everyone else sees it read-only.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from o2c_desktop.errors import O2CError, ValidationFailed
from o2c_desktop.services import mail_settings, statement_mail
from o2c_desktop.services.auth import Permission
from o2c_desktop.services.mail_settings import MailSettings
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.form_support import error_label, set_error, with_error
from o2c_desktop.ui.dialogs.letterhead_tab import READ_ONLY_NOTE
from o2c_desktop.ui.widgets.messages import show_error, show_info

FIELDS = ("host", "port", "security", "user", "sender", "subject_template", "body_template")


class MailTab(QWidget):
    def __init__(self, ctx: UiContext, parent: Any = None):
        super().__init__(parent)
        self.ctx = ctx
        self.editable = ctx.actor.may(Permission.EDIT_SETTINGS)
        self.loaded: MailSettings | None = None
        self._pending: tuple[MailSettings, str | None] | None = None
        self.host = QLineEdit(objectName="smtp_host")
        self.host.setPlaceholderText("smtp.example.com")
        self.port = QSpinBox(objectName="smtp_port")
        self.port.setRange(1, 65535)
        self.port.setMaximumWidth(120)
        self.security = QComboBox(objectName="smtp_security")
        for value, text in mail_settings.SECURITY_CHOICES.items():
            self.security.addItem(text, value)
        self.user = QLineEdit(objectName="smtp_user")
        self.user.setPlaceholderText("empty: the server takes mail without a login")
        self.password = QLineEdit(objectName="smtp_password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("kept in this computer's keyring; empty keeps it")
        self.sender = QLineEdit(objectName="smtp_sender")
        self.sender.setPlaceholderText("Accounts Receivable <ar@example.com>")
        self.subject = QLineEdit(objectName="smtp_subject")
        self.body = QPlainTextEdit(objectName="smtp_body")
        self.body.setMinimumHeight(150)
        self.errors = {name: error_label() for name in FIELDS}
        placeholders = QLabel(
            "Placeholders: " + ", ".join(f"{{{name}}}" for name in mail_settings.TEMPLATE_FIELDS)
        )
        placeholders.setToolTip(
            "\n".join(f"{{{k}}}: {v}" for k, v in mail_settings.TEMPLATE_FIELDS.items())
        )
        placeholders.setStyleSheet("color: #666;")
        placeholders.setWordWrap(True)
        self.test_button = QPushButton("Send test e-mail…")
        self.test_button.setAutoDefault(False)
        self.test_result = QLabel(objectName="smtpTestResult")
        self.test_result.setWordWrap(True)

        form = QFormLayout()
        form.addRow("SMTP server", with_error(self.host, self.errors["host"]))
        form.addRow("Port", with_error(self.port, self.errors["port"]))
        form.addRow("Security", with_error(self.security, self.errors["security"]))
        form.addRow("User", with_error(self.user, self.errors["user"]))
        form.addRow("Password", self.password)
        form.addRow("From", with_error(self.sender, self.errors["sender"]))
        form.addRow("Subject", with_error(self.subject, self.errors["subject_template"]))
        form.addRow("Message", with_error(self.body, self.errors["body_template"]))
        form.addRow("", placeholders)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, 1)
        self.note = QLabel(READ_ONLY_NOTE)
        self.note.setStyleSheet("color: #666;")
        self.note.setVisible(not self.editable)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addLayout(form)
        layout.addLayout(test_row)
        layout.addStretch(1)

        self._editors: tuple[QWidget, ...] = (
            self.host,
            self.port,
            self.security,
            self.user,
            self.password,
            self.sender,
            self.subject,
            self.body,
            self.test_button,
        )
        for widget in self._editors:
            widget.setEnabled(False)
        self.security.currentIndexChanged.connect(self._security_changed)
        self.test_button.clicked.connect(self.send_test)
        self.load()

    def load(self) -> None:
        workers.submit(
            mail_settings.load_mail_settings,
            self.ctx.db,
            owner=self,
            on_done=self.fill,
            on_failed=self._load_failed,
        )

    def _load_failed(self, error: O2CError) -> None:
        self.note.setText(f"Cannot load the settings: {error}")
        self.note.show()

    def fill(self, settings: MailSettings) -> None:
        self.loaded = settings
        self.host.setText(settings.host)
        self.security.blockSignals(True)
        self.security.setCurrentIndex(max(self.security.findData(settings.security), 0))
        self.security.blockSignals(False)
        self.port.setValue(settings.port)
        self.user.setText(settings.user)
        self.sender.setText(settings.sender)
        self.subject.setText(settings.subject_template)
        self.body.setPlainText(settings.body_template)
        for widget in self._editors:
            widget.setEnabled(self.editable)

    def _security_changed(self) -> None:
        """Follow the usual port of the new security while the port is a usual one."""
        if self.port.value() in mail_settings.DEFAULT_PORTS.values():
            self.port.setValue(mail_settings.DEFAULT_PORTS[self.security.currentData()])

    def settings(self) -> MailSettings:
        return MailSettings(
            host=self.host.text(),
            port=self.port.value(),
            security=self.security.currentData(),
            user=self.user.text(),
            sender=self.sender.text(),
            subject_template=self.subject.text(),
            body_template=self.body.toPlainText(),
        )

    # -- saving (prepare on the GUI thread, save on the worker) ---------------------------
    def prepare(self) -> None:
        for label in self.errors.values():
            set_error(label, None)
        settings, password = self.settings(), self.password.text() or None
        changed = self.loaded is not None and (settings != self.loaded or password)
        self._pending = (settings, password) if self.editable and changed else None

    def save(self) -> MailSettings | None:
        """Nothing to save when untouched (so a department that does not e-mail never has to
        fill it in)."""
        if self._pending is None:
            return None
        settings, password = self._pending
        return mail_settings.save_mail_settings(self.ctx.db, self.ctx.actor, settings, password)

    def show_problems(self, error: O2CError) -> bool:
        if not isinstance(error, ValidationFailed) or error.source != "E-mail settings":
            return False
        for problem in error.problems:
            if problem.field in self.errors:
                set_error(self.errors[problem.field], problem.message)
        return True

    # -- test ------------------------------------------------------------------------------
    def send_test(self) -> None:
        """Send one message with the settings as typed (saved or not) to an address asked for."""
        try:
            settings = mail_settings.validate(self.settings())
        except ValidationFailed as exc:
            self.show_problems(exc)
            self.test_result.setText("Correct the fields marked in red first.")
            return
        to, ok = QInputDialog.getText(
            self, "Send test e-mail", "Send a test e-mail to:", text=settings.sender_address
        )
        if not ok or not to.strip():
            return
        password = self.password.text() or None
        self.test_button.setEnabled(False)
        self.test_result.setText(f"Sending to {to.strip()}…")

        def done(reply: str) -> None:
            self.test_button.setEnabled(True)
            self.test_result.setText(f"Sent. The server answered: {reply}")
            show_info(self, f"Test e-mail sent to {to.strip()}.")

        def failed(error: O2CError) -> None:
            self.test_button.setEnabled(True)
            self.test_result.setText(str(error))
            show_error(self, error)

        workers.submit(
            statement_mail.send_test_email,
            settings,
            to.strip(),
            password,
            owner=self,
            on_done=done,
            on_failed=failed,
        )
