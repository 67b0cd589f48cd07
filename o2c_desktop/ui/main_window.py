"""The navigation shell: areas on the left, the current area on the right, nothing else.

Customers opens as a tabbed area: the list stays in the first tab and each opened profile gets
its own tab, so a collector can keep several customers open. Credit applications works the same
way with applications. Layout is remembered: the window, and every table and splitter with an
objectName (widgets.layout_memory). Quitting asks first when an application has details not
saved yet.

Ctrl+N and Ctrl+W mean New customer and Close tab, except in the areas that have their own
(a new application or order; closing an application's tab): there the window leaves the keys to
the area. Ctrl+Shift+N starts a credit application from anywhere (for the customer shown, if any).
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QWidget,
)

from o2c_desktop import __version__
from o2c_desktop.services.auth import Permission
from o2c_desktop.ui import workers
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.dialogs.assignment_rules import assign_collector_dialog
from o2c_desktop.ui.dialogs.customer_edit import CustomerDialog
from o2c_desktop.ui.dialogs.import_dialog import ImportDialog
from o2c_desktop.ui.dialogs.order_entry import OrderEntryDialog
from o2c_desktop.ui.dialogs.settings import SettingsDialog
from o2c_desktop.ui.dialogs.statement_batch import StatementBatchDialog
from o2c_desktop.ui.screens.admin_users import UsersScreen
from o2c_desktop.ui.screens.aging_screen import AgingScreen
from o2c_desktop.ui.screens.collections_screen import CollectionsScreen
from o2c_desktop.ui.screens.collector_results_screen import CollectorResultsScreen
from o2c_desktop.ui.screens.credit_applications_screen import CreditApplicationsScreen
from o2c_desktop.ui.screens.credit_holds_screen import CreditHoldsScreen
from o2c_desktop.ui.screens.customer_list import CustomerListScreen
from o2c_desktop.ui.screens.customer_profile import CustomerProfile
from o2c_desktop.ui.screens.dashboard import DashboardScreen
from o2c_desktop.ui.screens.disputes_screen import DisputesScreen
from o2c_desktop.ui.screens.dunning_screen import DunningScreen
from o2c_desktop.ui.screens.invoices import InvoicesScreen
from o2c_desktop.ui.widgets.layout_memory import (
    keep_own_layout,
    restore_layouts,
    save_layouts,
    window_settings,
)

BENCH_ENV = "O2C_BENCH_EXIT_AFTER_PAINT"
ASSIGN_KEYS = "Ctrl+Shift+A"


def _scrolled(widget: QWidget) -> QScrollArea:
    """Chart-heavy screens scroll rather than force the window taller than a laptop screen."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setWidget(widget)
    return area


class MainWindow(QMainWindow):
    def __init__(self, ctx: UiContext, parent: Any = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("O2C Desktop")
        self.nav = QListWidget(objectName="navigation")
        self.nav.setMaximumWidth(220)
        self.stack = QStackedWidget()

        self.customer_tabs = QTabWidget(objectName="customerTabs")
        self.customer_tabs.setTabsClosable(True)
        self.customer_tabs.setDocumentMode(True)
        self.customer_list = CustomerListScreen(ctx)
        self.customer_tabs.addTab(self.customer_list, "All customers")
        self.customer_tabs.tabBar().setTabButton(
            0, self.customer_tabs.tabBar().ButtonPosition.RightSide, None
        )
        self.customer_tabs.tabCloseRequested.connect(self.close_tab)
        self._add_area("Customers", self.customer_tabs)
        self.collections = CollectionsScreen(ctx)
        self.collections.open_customer.connect(self.open_customer)
        self._add_area("Collections", self.collections)
        self.credit_applications = CreditApplicationsScreen(ctx)
        self.credit_applications.open_customer.connect(self.open_customer)
        self._add_area("Credit applications", self.credit_applications)
        self.credit_holds = CreditHoldsScreen(ctx)
        self.credit_holds.open_customer.connect(self.open_customer)
        self._add_area("Credit holds", self.credit_holds)
        self.invoices = InvoicesScreen(ctx)
        self.invoices.open_customer.connect(self.open_customer)
        self._add_area("Invoices", self.invoices)
        self.disputes = DisputesScreen(ctx)
        self.disputes.open_customer.connect(self.open_customer)
        self._add_area("Disputes", self.disputes)
        self.aging = AgingScreen(ctx)
        self.aging.open_customer.connect(self.open_customer)
        self._add_area("Aging", _scrolled(self.aging))
        self.dashboard = DashboardScreen(ctx)
        self._add_area("Dashboard", _scrolled(self.dashboard))
        self.dunning = DunningScreen(ctx)
        self._add_area("Dunning", self.dunning)
        self.collector_results = CollectorResultsScreen(ctx)
        self._add_area("Collector results", _scrolled(self.collector_results))
        self.users_screen: UsersScreen | None = None
        if ctx.actor.may(Permission.MANAGE_USERS):
            self.users_screen = UsersScreen(ctx)
            self._add_area("Users & roles", self.users_screen)
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.setCurrentRow(0)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.nav)
        self.splitter.addWidget(self.stack)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([170, 1230])
        self.setCentralWidget(self.splitter)

        self._build_menus()
        self.stack.currentChanged.connect(lambda _i: self._area_keys())
        self.statusBar().addPermanentWidget(
            QLabel(
                f"User: {ctx.actor.display_name} ({ctx.actor.roles_text})  ·  "
                f"Database: {ctx.db.describe()}"
            )
        )

        self.customer_list.open_customer.connect(self.open_customer)
        self.customer_list.new_customer.connect(self.new_customer)
        keep_own_layout(self.customer_list.view)  # saved below with its sort order
        self.resize(1400, 850)
        self.restore_layout()
        if os.environ.get(BENCH_ENV):
            self.customer_list.first_paint.connect(self._bench_painted)

    def _add_area(self, title: str, widget: Any) -> None:
        self.nav.addItem(title)
        self.stack.addWidget(widget)

    def _build_menus(self) -> None:
        def action(
            menu: Any, text: str, slot: Any, shortcut: Any = None, enabled: bool = True
        ) -> QAction:
            act = QAction(text, self)
            if shortcut is not None:
                act.setShortcut(QKeySequence(shortcut))
            act.triggered.connect(slot)
            act.setEnabled(enabled)
            menu.addAction(act)
            return act

        file_menu = self.menuBar().addMenu("&File")
        can_import = self.ctx.actor.may(Permission.IMPORT_LEDGER)
        action(
            file_menu, "Import &invoices…", lambda: self.import_file("invoices"), enabled=can_import
        )
        action(
            file_menu, "Import &payments…", lambda: self.import_file("payments"), enabled=can_import
        )
        action(
            file_menu,
            "Import &orders…",
            lambda: self.import_file("orders"),
            enabled=self.ctx.actor.may(Permission.ENTER_ORDERS),
        )
        file_menu.addSeparator()
        action(
            file_menu,
            "S&tatements batch…",
            lambda: StatementBatchDialog(self.ctx, self).exec(),
            enabled=self.ctx.actor.may(Permission.PRINT_STATEMENTS),
        )
        file_menu.addSeparator()
        action(file_menu, "&Settings…", self.open_settings, "Ctrl+,")
        file_menu.addSeparator()
        action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        customers_menu = self.menuBar().addMenu("&Customers")
        self.new_action = action(
            customers_menu,
            "&New customer…",
            self.new_customer,
            QKeySequence.StandardKey.New,
            self.ctx.actor.may(Permission.CREATE_CUSTOMER),
        )
        action(customers_menu, "&Find…", self.find_customer, QKeySequence.StandardKey.Find)
        action(customers_menu, "&Refresh", self.refresh, QKeySequence.StandardKey.Refresh)
        action(customers_menu, "E&xport list…", self.customer_list.export, "Ctrl+Shift+E")
        self.assign_action = action(
            customers_menu,
            "&Assign collector…",
            self.assign_collector,
            ASSIGN_KEYS,
            self.ctx.actor.may(Permission.ASSIGN_COLLECTOR),
        )
        self.close_action = action(
            customers_menu, "&Close tab", self.close_current_tab, QKeySequence.StandardKey.Close
        )
        credit_menu = self.menuBar().addMenu("C&redit")
        action(
            credit_menu,
            "New credit &application…",
            lambda: self.new_application(),
            "Ctrl+Shift+N",
            self.ctx.actor.may(Permission.PREPARE_APPLICATIONS),
        )
        action(credit_menu, "Application &queue", self.show_applications)
        credit_menu.addSeparator()
        action(
            credit_menu,
            "Enter &order…",
            self.enter_order,
            enabled=self.ctx.actor.may(Permission.ENTER_ORDERS),
        )
        action(credit_menu, "Credit &holds", lambda: self.show_area(self.credit_holds))
        help_menu = self.menuBar().addMenu("&Help")
        action(help_menu, "&About O2C Desktop", self.about)

    def show_area(self, widget: QWidget) -> None:
        self.nav.setCurrentRow(self.stack.indexOf(widget))

    def _area_keys(self) -> None:
        """Leave Ctrl+N and Ctrl+W (and Ctrl+Shift+A: Approve) to an area that has its own
        (two shortcuts for one key would make Qt run neither)."""
        own = self.stack.currentWidget() in (self.credit_applications, self.credit_holds)
        self.new_action.setShortcut(QKeySequence() if own else QKeySequence.StandardKey.New)
        applications = self.stack.currentWidget() is self.credit_applications
        self.close_action.setShortcut(
            QKeySequence() if applications else QKeySequence.StandardKey.Close
        )
        self.assign_action.setShortcut(QKeySequence("" if applications else ASSIGN_KEYS))

    # -- customers ---------------------------------------------------------------------------
    def show_customers(self) -> None:
        self.nav.setCurrentRow(0)

    def open_customer(self, customer_id: int) -> CustomerProfile:
        self.show_customers()
        for index in range(1, self.customer_tabs.count()):
            widget = self.customer_tabs.widget(index)
            if isinstance(widget, CustomerProfile) and widget.customer_id == customer_id:
                self.customer_tabs.setCurrentIndex(index)
                return widget
        profile = CustomerProfile(self.ctx, customer_id)
        restore_layouts(profile)
        index = self.customer_tabs.addTab(profile, "Loading…")
        profile.title_changed.connect(lambda title, p=profile: self._retitle(p, title))
        profile.closed.connect(lambda p=profile: self._close_widget(p))
        profile.new_application.connect(self.new_application)
        self.customer_tabs.setCurrentIndex(index)
        return profile

    def _retitle(self, profile: CustomerProfile, title: str) -> None:
        index = self.customer_tabs.indexOf(profile)
        if index >= 0:
            self.customer_tabs.setTabText(index, title if len(title) < 32 else title[:30] + "…")

    def _close_widget(self, widget: Any) -> None:
        index = self.customer_tabs.indexOf(widget)
        if index > 0:
            self.close_tab(index)

    def close_tab(self, index: int) -> None:
        if index > 0:
            widget = self.customer_tabs.widget(index)
            save_layouts(widget)
            self.customer_tabs.removeTab(index)
            widget.deleteLater()

    def close_current_tab(self) -> None:
        self.close_tab(self.customer_tabs.currentIndex())

    def new_customer(self) -> None:
        dialog = CustomerDialog(self.ctx, None, self)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.saved is not None:
            self.ctx.signals.customers_changed.emit()
            self.open_customer(dialog.saved.id)

    def assign_collector(self) -> None:
        """Give the customers selected in the list (Ctrl/Shift+click) a collector, in bulk."""
        self.show_customers()
        self.customer_tabs.setCurrentIndex(0)
        selected = self.customer_list.view.selectionModel().selectedRows()
        ids = [self.customer_list.model.row_at(i.row()).id for i in selected]
        if not ids:
            QMessageBox.information(
                self, "Assign collector", "Select one or more customers in the list first."
            )
            return
        assign_collector_dialog(self, self.ctx, ids)

    def find_customer(self) -> None:
        self.show_customers()
        self.customer_tabs.setCurrentIndex(0)
        self.customer_list.focus_search()

    def refresh(self) -> None:
        self.customer_list.load_filter_choices()
        self.customer_list.refresh()
        current = self.customer_tabs.currentWidget()
        if isinstance(current, CustomerProfile):
            current.reload()
        if self.users_screen is not None:
            self.users_screen.reload()
        self.invoices.refresh()
        self.disputes.refresh()
        self.aging.refresh()
        self.dashboard.refresh()
        self.collections.refresh()
        self.dunning.reload()
        self.collector_results.reload()
        self.credit_applications.refresh()
        self.credit_holds.refresh()

    # -- credit ------------------------------------------------------------------------------
    def show_applications(self) -> None:
        self.show_area(self.credit_applications)
        self.credit_applications.show_queue()

    def shown_customer(self) -> int | None:
        """The customer whose profile is on screen, if one is."""
        if self.stack.currentWidget() is not self.customer_tabs:
            return None
        current = self.customer_tabs.currentWidget()
        return current.customer_id if isinstance(current, CustomerProfile) else None

    def new_application(self, customer_id: int | None = None) -> None:
        """A new credit application: for `customer_id`, else for the customer shown, if any."""
        chosen = customer_id if customer_id is not None else self.shown_customer()
        self.show_area(self.credit_applications)
        self.credit_applications.new_application(chosen)

    def enter_order(self) -> None:
        OrderEntryDialog(self.ctx, self, customer_id=self.shown_customer()).exec()

    def import_file(self, kind: str) -> None:
        ImportDialog(self.ctx, kind, self).exec()

    # -- other -----------------------------------------------------------------------------
    def open_settings(self) -> None:
        SettingsDialog(self.ctx.db.describe(), self, ctx=self.ctx).exec()

    def about(self) -> None:
        QMessageBox.about(
            self,
            "About O2C Desktop",
            f"O2C Desktop {__version__}\nAn open-source credit-and-collections "
            f"workstation.\n\nDatabase: {self.ctx.db.describe()}",
        )

    def restore_layout(self) -> None:
        settings = window_settings()
        geometry = settings.value("main/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = settings.value("main/state")
        if state is not None:
            self.restoreState(state)
        splitter = settings.value("main/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)
        header = settings.value("customers/header")
        if header is not None:
            self.customer_list.view.horizontalHeader().restoreState(header)
        restore_layouts(self, settings)

    def save_layout(self) -> None:
        settings = window_settings()
        settings.setValue("main/geometry", self.saveGeometry())
        settings.setValue("main/state", self.saveState())
        settings.setValue("main/splitter", self.splitter.saveState())
        settings.setValue(
            "customers/header", self.customer_list.view.horizontalHeader().saveState()
        )
        save_layouts(self, settings)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.credit_applications.may_close():
            event.ignore()
            return
        self.save_layout()
        self.collections.release_claim()
        self.collections.save_layout()
        workers.wait_for_all(5000)
        super().closeEvent(event)

    def _bench_painted(self) -> None:
        print("painted", flush=True)
        QTimer.singleShot(0, QApplication.instance().quit)
