"""Settings → Database: the embedded file or a shared PostgreSQL server.

The URL (without password) goes to the settings file; the password to the OS keyring. The new
database is used from the next start, after a successful connection test.
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
    QVBoxLayout,
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
from o2c_desktop.ui.widgets.messages import show_error, show_info


class SettingsDialog(QDialog):
    def __init__(self, current_url: str | None = None, parent: Any = None):
        super().__init__(parent)
        self.setWindowTitle("Settings – Database")
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
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.embedded)
        layout.addWidget(self.shared)
        layout.addLayout(form)
        layout.addWidget(self.test_button)
        layout.addWidget(self.result)
        layout.addWidget(QLabel("A change takes effect the next time O2C Desktop starts."))
        layout.addWidget(buttons)
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
        url = self.chosen_url()
        if url is not None and not self.test():
            return
        try:
            if url is not None and self.password.text():
                store_password(url, self.password.text())
            Settings(
                database_url=url.render_as_string(hide_password=True) if url is not None else None
            ).save()
        except Exception as exc:  # keyring backends raise their own errors
            show_error(self, f"Could not save the settings: {exc}")
            return
        show_info(self, "Saved. O2C Desktop will use this database from its next start.")
        self.accept()
