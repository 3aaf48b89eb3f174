"""Python's cyclic garbage collector held off while a render names and merges.

A cold whole-host render makes ~100k short-lived containers (rows, keys,
pairs) and no reference cycles; each 700 of them start a collection, and
the older generations' passes walk the whole server's heap again and again
(~10% of a cold render). The renders' own garbage is freed by reference
counting; collections resume when the last render in flight ends. Renders
that overlap without end (a busy threaded server) would keep the collector
off for good, so a render ending after MAX_PAUSE_S of pause collects once.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_inside = 0  # renders in flight with the collector held off
_was_enabled = False
_since = 0.0  # monotonic time the collector was last held off or run
MAX_PAUSE_S = 5.0


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside (re-entrant, across threads); the collector
    is left as it was found by the first render once the last one ends."""
    global _inside, _was_enabled, _since
    with _lock:
        if _inside == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
            _since = time.monotonic()
        _inside += 1
    try:
        yield
    finally:
        collect = False
        with _lock:
            _inside -= 1
            if _inside == 0 and _was_enabled:
                gc.enable()
            elif _was_enabled and time.monotonic() - _since > MAX_PAUSE_S:
                _since = time.monotonic()  # others still render: collect once, out of the lock
                collect = True
        if collect:
            gc.collect()
