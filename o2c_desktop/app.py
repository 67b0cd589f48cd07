"""GUI start-up: settings → database → migrate → sign in → (demo data) → main window.

Every start-up failure (unreachable server, newer schema, unknown login) is shown in a dialog
with the reason and a way to fix it (the Settings dialog), never a traceback.
"""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import QLocale
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from o2c_desktop.config import resolve_database_url
from o2c_desktop.db import Database, migrate
from o2c_desktop.errors import O2CError
from o2c_desktop.paths import resource
from o2c_desktop.services import demo_data, users
from o2c_desktop.services.auth import Permission
from o2c_desktop.ui import formatting, workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.settings import SettingsDialog
from o2c_desktop.ui.gui_gc import GuiThreadCollector
from o2c_desktop.ui.main_window import BENCH_ENV, MainWindow
from o2c_desktop.ui.signals import AppSignals
from o2c_desktop.ui.widgets.messages import show_error

DEMO_CUSTOMERS = 2000


def open_database(url: str) -> tuple[Database, object]:
    db = Database(url)
    db.check_connection()
    migrate.upgrade(db)
    return db, users.sign_in(db)


def offer_demo_data(window: MainWindow, ctx: UiContext) -> None:
    """First start on an empty database: offer a demo portfolio (administrators only)."""
    if demo_data.has_customers(ctx.db) or not ctx.actor.may(Permission.LOAD_DEMO_DATA):
        return
    answer = QMessageBox.question(
        window,
        "Empty database",
        f"This database has no customers yet. Load a demo portfolio of {DEMO_CUSTOMERS:,} "
        "customers to try O2C Desktop?",
    )
    if answer != QMessageBox.StandardButton.Yes:
        return
    workers.run_with_progress(
        window,
        "Loading demo customers",
        lambda task: demo_data.generate(
            ctx.db, ctx.actor, DEMO_CUSTOMERS, 1, progress=task.report, cancelled=task.cancelled
        ),
        on_done=lambda _result: (
            ctx.signals.customers_changed.emit(),
            window.customer_list.load_filter_choices(),
        ),
        on_failed=lambda error: show_error(window, error),
    )


def run_gui(database_url: str | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    collector = GuiThreadCollector(app)
    app.setApplicationName("O2C Desktop")
    app.setOrganizationName("O2C Desktop")
    icon = resource("icons/o2c.svg")
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    formatting.set_locale(QLocale.system().name())
    url = resolve_database_url(database_url)
    while True:
        try:
            db, actor = open_database(url)
            break
        except O2CError as exc:
            box = QMessageBox(QMessageBox.Icon.Critical, "O2C Desktop cannot start", str(exc))
            settings = box.addButton("Database settings…", QMessageBox.ButtonRole.AcceptRole)
            box.addButton(QMessageBox.StandardButton.Close)
            if not os.environ.get(BENCH_ENV):
                box.exec()
            if box.clickedButton() is not settings:
                print(f"o2c-desktop: {exc}", file=sys.stderr)
                return 1
            dialog = SettingsDialog(url)
            if not dialog.exec():
                return 1
            url = resolve_database_url(None)
    ctx = UiContext(db, actor, AppSignals())  # type: ignore[arg-type]
    window = MainWindow(ctx)
    window.show()
    if not os.environ.get(BENCH_ENV):
        offer_demo_data(window, ctx)
    code = app.exec()
    workers.wait_for_all()
    db.dispose()
    collector.stop()
    return code
