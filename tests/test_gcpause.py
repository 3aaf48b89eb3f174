"""profiler/query/gcpause.py: the cyclic collector held off while renders run,
across threads, and never off for good while renders keep overlapping."""

from __future__ import annotations

import gc
import threading

from profiler.query import gcpause
from profiler.query.gcpause import gc_paused


def test_overlapping_renders_hold_the_collector_off_and_still_let_it_run(monkeypatch):
    monkeypatch.setattr(gcpause, "MAX_PAUSE_S", 3600.0)
    collections: list[str] = []

    def seen(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(phase)

    assert gc.isenabled()
    inside, leave = threading.Event(), threading.Event()

    def long_render() -> None:
        with gc_paused():
            inside.set()
            leave.wait(10)

    other = threading.Thread(target=long_render)
    other.start()
    gc.callbacks.append(seen)
    try:
        inside.wait(10)
        with gc_paused():  # a render that starts and ends inside the long one
            assert not gc.isenabled()
        assert not gc.isenabled() and collections == []  # within MAX_PAUSE_S: no collection
        monkeypatch.setattr(gcpause, "MAX_PAUSE_S", 0.0)  # the pause has outlasted it
        with gc_paused():
            pass
        assert not gc.isenabled()  # still held off for the long render...
        assert collections  # ...but it collected once on the way
    finally:
        leave.set()
        other.join()
        gc.callbacks.remove(seen)
    assert gc.isenabled()  # the last render out turns it back on
