"""The cyclic collector runs on the GUI thread only (o2c_desktop/ui/gui_gc.py)."""

from __future__ import annotations

import gc
import threading
import weakref

from o2c_desktop.ui.gui_gc import GuiThreadCollector


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_collects_on_the_gui_thread_and_gives_the_collector_back(qapp) -> None:  # type: ignore[no-untyped-def]
    gc.enable()
    gc.collect()
    collector = GuiThreadCollector(qapp, interval_ms=60_000)
    try:
        assert not gc.isenabled()
        gone = threading.Event()
        node = _Node()
        weakref.finalize(node, gone.set)
        del node
        kept: list[object] = []

        def allocate_in_a_worker() -> None:
            # Far past the first threshold: with the automatic collector on, this thread would
            # have collected the cycle.
            kept.append([[] for _ in range(5_000)])

        worker = threading.Thread(target=allocate_in_a_worker)
        worker.start()
        worker.join()
        assert not gone.is_set()
        assert collector.collect() == 0  # the youngest generation, where the cycle is
        assert gone.is_set()
    finally:
        collector.stop()
    assert gc.isenabled()


def test_nothing_to_do_below_the_threshold(qapp) -> None:  # type: ignore[no-untyped-def]
    collector = GuiThreadCollector(qapp, interval_ms=60_000)
    try:
        gc.collect()
        assert collector.collect() is None
    finally:
        collector.stop()
