"""Python's cyclic garbage collector held off while a render names and merges.

A cold whole-host render makes ~100k short-lived containers (rows, keys,
pairs) and no reference cycles; each 700 of them start a collection, and
the older generations' passes walk the whole server's heap again and again
(~10% of a cold render). The renders' own garbage is freed by reference
counting; collections resume when the last render in flight ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_inside = 0  # renders in flight with the collector held off
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside (re-entrant, across threads); the collector
    is left as it was found by the first render once the last one ends."""
    global _inside, _was_enabled
    with _lock:
        if _inside == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0 and _was_enabled:
                gc.enable()
