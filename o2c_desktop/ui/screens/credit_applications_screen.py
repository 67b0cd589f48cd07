"""The Credit applications area: the queue and the reviews coming up in the first two tabs, and
each opened application in a tab of its own (like customers), so a clerk can keep several open.

Enter opens the application selected in the queue, Ctrl+N starts a new one, Ctrl+W closes the
application tab shown (asking first when its details have changes not saved yet; so does quitting,
through `may_close`). The lists load again when applications or the credit policy change (its
lead days decide which reviews come up). Each application's tables and splitters keep the widths
the user gave them (widgets.layout_memory).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from o2c_desktop.services.auth import Permission
from o2c_desktop.ui.context import UiContext
from o2c_desktop.ui.screens.application_editor import ApplicationEditor
from o2c_desktop.ui.screens.application_queue import ApplicationQueue
from o2c_desktop.ui.screens.application_reviews import ReviewsTab
from o2c_desktop.ui.widgets.layout_memory import restore_layouts, save_layouts
from o2c_desktop.ui.widgets.messages import confirm

FIXED_TABS = 2  # the queue and the reviews: never closed


class CreditApplicationsScreen(QWidget):
    open_customer = Signal(int)

    def __init__(self, ctx: UiContext, parent: Any = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.tabs = QTabWidget(objectName="applicationAreaTabs")
        self.tabs.setTabsClosable(True)
        self.tabs.setDocumentMode(True)
        self.queue = ApplicationQueue(ctx)
        self.reviews = ReviewsTab(ctx)
        self.tabs.addTab(self.queue, "Queue")
        self.tabs.addTab(self.reviews, "Reviews")
        bar = self.tabs.tabBar()
        for index in range(FIXED_TABS):
            bar.setTabButton(index, bar.ButtonPosition.RightSide, None)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)

        self.queue.open_application.connect(self.open_application)
        self.queue.new_application.connect(lambda: self.new_application())
        self.reviews.open_application.connect(self.open_application)
        self.reviews.open_customer.connect(self.open_customer)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        for keys, slot in (
            (QKeySequence.StandardKey.New, lambda: self.new_application()),
            (QKeySequence.StandardKey.Close, self.close_current),
        ):
            QShortcut(keys, self, slot, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        # A change anywhere (another tab, another screen) shows in the lists without F5.
        self._refresh_timer = QTimer(self, singleShot=True, interval=300)
        self._refresh_timer.timeout.connect(self._refresh_lists)
        ctx.signals.applications_changed.connect(self._refresh_timer.start)
        ctx.signals.credit_policy_changed.connect(self._refresh_timer.start)

    # -- tabs ------------------------------------------------------------------------------
    def editors(self) -> list[ApplicationEditor]:
        return [
            widget
            for index in range(FIXED_TABS, self.tabs.count())
            if isinstance(widget := self.tabs.widget(index), ApplicationEditor)
        ]

    def open_application(self, application_id: int) -> ApplicationEditor:
        for editor in self.editors():
            if editor.application_id == application_id:
                self.tabs.setCurrentWidget(editor)
                return editor
        return self._add(ApplicationEditor(self.ctx, application_id), "Loading…")

    def new_application(self, customer_id: int | None = None) -> ApplicationEditor | None:
        """A new application (for a customer: a limit change), in a tab of its own."""
        if not self.ctx.actor.may(Permission.PREPARE_APPLICATIONS):
            return None
        editor = self._add(ApplicationEditor(self.ctx, None, customer_id), "New application")
        details = editor.details
        # For a customer, the applicant is filled in: the amount asked for comes first.
        (
            details.customer_edit if customer_id is None else details.inputs["requested_limit"]
        ).setFocus()
        return editor

    def _add(self, editor: ApplicationEditor, title: str) -> ApplicationEditor:
        restore_layouts(editor)
        index = self.tabs.addTab(editor, title)
        editor.title_changed.connect(lambda text, e=editor: self._retitle(e, text))
        editor.open_customer.connect(self.open_customer)
        self.tabs.setCurrentIndex(index)
        return editor

    def _retitle(self, editor: ApplicationEditor, title: str) -> None:
        index = self.tabs.indexOf(editor)
        if index >= 0:
            self.tabs.setTabText(index, title if len(title) < 32 else title[:30] + "…")
            self.tabs.setTabToolTip(index, title)

    def close_tab(self, index: int) -> None:
        widget = self.tabs.widget(index)
        if index < FIXED_TABS or not isinstance(widget, ApplicationEditor):
            return
        if widget.details.dirty and not confirm(
            self, "The details have changes not saved yet. Close and lose them?"
        ):
            return
        save_layouts(widget)
        self.tabs.removeTab(index)
        widget.deleteLater()

    def unsaved(self) -> list[ApplicationEditor]:
        """The open applications whose details have changes not saved yet."""
        return [editor for editor in self.editors() if editor.details.dirty]

    def may_close(self) -> bool:
        """Quitting: True unless an application has details not saved and the user, shown the
        first of them, keeps them."""
        unsaved = self.unsaved()
        if not unsaved:
            return True
        self.tabs.setCurrentWidget(unsaved[0])
        names = ", ".join(self.tabs.tabText(self.tabs.indexOf(e)) for e in unsaved)
        return confirm(self, f"Details not saved yet: {names}. Quit and lose the changes?", "Quit")

    def close_current(self) -> None:
        self.close_tab(self.tabs.currentIndex())

    def show_queue(self) -> None:
        self.tabs.setCurrentIndex(0)
        self.queue.view.setFocus()

    # -- refreshing ------------------------------------------------------------------------
    def _refresh_lists(self) -> None:
        self.queue.reload()
        self.reviews.reload()

    def refresh(self) -> None:
        """F5: the lists and every open application."""
        self._refresh_lists()
        for editor in self.editors():
            editor.reload()
