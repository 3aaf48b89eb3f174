"""Telling that an off-CPU Python thread is waiting for the GIL.

Two independent signals, strongest first:

1. The futex address. A thread waiting for the GIL sleeps in
   `pthread_cond_timedwait(&gil->cond, &gil->mutex)` (or, after a forced
   switch, on `gil->switch_cond`), i.e. in `futex()` on an address inside the
   interpreter's `_gil_runtime_state`. At switch-out the thread is still in
   that call, whose number and `uaddr` its saved user registers hold (an
   ABI-fixed frame, no kernel struct), and
   `PythonProcess.gil_range()` gives the struct's bounds, so the check is
   exact even when the native stack is one frame deep (no frame pointers).
   `runtimes/python/python.h` does this in the kernel (`flamecam_py_gil_wait`).
2. Symbols. When the native stack is deep enough, `take_gil`/`drop_gil`
   between the leaf and the first evaluator frame says the same.

An I/O or `threading.Lock` wait releases the GIL first and blocks elsewhere
(a socket, or a futex on the lock's own semaphore), so neither signal fires.
"""

from __future__ import annotations

from collections.abc import Sequence

from profiler.model import Frame

from .merge import is_eval_frame

GIL_FUNCTIONS = frozenset({"take_gil", "drop_gil"})


def futex_in_gil(uaddr: int, gil_range: tuple[int, int]) -> bool:
    """True when a futex at `uaddr` belongs to the GIL's mutex or condvars."""
    lo, hi = gil_range
    return lo <= uaddr < hi and lo != 0


def stack_waits_for_gil(native_leaf_first: Sequence[Frame]) -> bool:
    """True when the blocking native stack is inside take_gil/drop_gil."""
    for f in native_leaf_first:
        if f.name in GIL_FUNCTIONS:
            return True
        if is_eval_frame(f) or f.kind == "python":
            return False
    return False


def python_offcpu_reason(
    reason: str,
    native_leaf_first: Sequence[Frame] = (),
    futex_uaddr: int = 0,
    gil_range: tuple[int, int] = (0, 0),
) -> str:
    """The off-CPU reason to report for a Python thread: `gil` when it waits for it.

    `reason` is what the generic classifier decided (sleep, lock, io, ...);
    run-queue waits stay `runqueue` (the thread was runnable, not blocked).
    """
    if reason == "runqueue":
        return reason
    if futex_uaddr and futex_in_gil(futex_uaddr, gil_range):
        return "gil"
    if stack_waits_for_gil(native_leaf_first):
        return "gil"
    return reason
