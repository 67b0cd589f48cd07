"""Python's cyclic garbage collector, run on the GUI thread only.

Why: Python collects in whichever thread happens to allocate when a generation's threshold is
crossed. When that is a worker thread (a report running off the GUI thread) and the garbage
holds Qt objects (a closed dialog's widgets in a reference cycle), their C++ destructors run
off the GUI thread, which Qt does not allow: the test suite died of a segmentation fault so,
"Garbage-collecting" in a worker building an aging query. The automatic collector is switched
off, and a timer on the GUI thread collects instead, generation by generation as Python's own
thresholds would. (The pattern is calibre's, which met the same crash.)
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 1000


class GuiThreadCollector(QObject):
    """Create one, on the GUI thread, after the QApplication; it collects while the event loop
    runs, and `stop` gives the automatic collector back to Python (if it was on before)."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self.was_enabled = gc.isenabled()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.collect)
        self.timer.start(interval_ms)

    def collect(self) -> int | None:
        """Collect the generations whose counts passed their thresholds (None: none did)."""
        counts = gc.get_count()
        if counts[0] <= self.thresholds[0]:
            return None
        generation = 0
        if counts[1] > self.thresholds[1]:
            generation = 2 if counts[2] > self.thresholds[2] else 1
        gc.collect(generation)
        return generation

    def stop(self) -> None:
        self.timer.stop()
        if self.was_enabled:
            gc.enable()
