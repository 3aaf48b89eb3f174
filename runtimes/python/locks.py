"""Naming the Python lock a thread waited on, from its blocked stack alone.

A `threading.Lock` wait releases the GIL and sleeps in `futex()` on the
lock's semaphore, so the kernel hands over an address only. Its PyObject is
not reachable from what the agent reads (the frames' code objects and
instruction pointers at the switch; the value stack that holds the lock is
not read), so the wait is named by what a user recognises instead: the kind
of lock and the Python line that waited on it, e.g.
`threading.Lock at orders.py:42 (in reserve)`. Waits at one call site are
one row of the waits table.

- The kind: a blocking call of the standard library (`Condition.wait`,
  `Event.wait`, `Queue.get`, ...) is the outermost of its Python frames
  above the wait; a bare `Lock`/`RLock` (C objects, no Python frame) is told
  by the C function of libpython that acquires it, when the native stack
  reached it and the interpreter kept that symbol (else `Python lock`: the
  interpreter's lock primitive, some Lock or RLock). None of these: `futex`,
  the kernel's word, rather than a guess.
- The call site: the Python frame that called that blocking call (the
  library's own frames are not where the user waited).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from profiler.model import Frame

from .reader import module_name

# libpython's C functions that acquire a threading lock (3.11-3.13). Static
# functions: named only where the interpreter keeps its full symbol table
# (pyenv's builds do, Debian's /usr/bin/python3 does not). The exported
# primitive beneath them says less: some lock of the interpreter's own kind
# (Lock, RLock, SimpleQueue, a thread's join), which is still no GIL.
NATIVE_LOCKS = {"lock_PyThread_acquire_lock": "threading.Lock",
                "rlock_acquire": "threading.RLock"}
NATIVE_PRIMITIVE = "PyThread_acquire_lock_timed"

# Blocking calls of the standard library: (file path suffix, qualname) -> name.
BLOCKING_CALLS = {
    ("/threading.py", "Condition.__enter__"): "threading.Condition",
    ("/threading.py", "Condition.wait"): "threading.Condition.wait",
    ("/threading.py", "Condition.wait_for"): "threading.Condition.wait_for",
    ("/threading.py", "Event.wait"): "threading.Event.wait",
    ("/threading.py", "Semaphore.acquire"): "threading.Semaphore",
    ("/threading.py", "Semaphore.__enter__"): "threading.Semaphore",
    ("/threading.py", "Barrier.wait"): "threading.Barrier.wait",
    ("/threading.py", "Thread.join"): "threading.Thread.join",
    ("/threading.py", "_RLock.acquire"): "threading.RLock",
    ("/threading.py", "_RLock.__enter__"): "threading.RLock",
    ("/queue.py", "Queue.get"): "queue.Queue.get",
    ("/queue.py", "Queue.put"): "queue.Queue.put",
    ("/queue.py", "Queue.join"): "queue.Queue.join",
    ("/concurrent/futures/_base.py", "Future.result"): "concurrent.futures.Future.result",
    ("/concurrent/futures/_base.py", "Future.exception"): "concurrent.futures.Future.exception",
    ("/concurrent/futures/_base.py", "wait"): "concurrent.futures.wait",
    ("/concurrent/futures/_base.py", "as_completed"): "concurrent.futures.as_completed",
    ("/multiprocessing/queues.py", "Queue.get"): "multiprocessing.Queue.get",
    ("/multiprocessing/queues.py", "Queue.put"): "multiprocessing.Queue.put",
}

# Files whose frames belong to those calls (their helpers sit between the call and the wait).
_LIBRARY_FILES = ("/threading.py", "/queue.py", "/concurrent/futures/_base.py",
                  "/multiprocessing/queues.py", "/multiprocessing/synchronize.py")


def _qualname(f: Frame) -> str:
    mod = module_name(f.file)
    return f.name[len(mod) + 1:] if mod and f.name.startswith(mod + ".") else f.name


def _blocking_call(f: Frame) -> str | None:
    suffix = next((s for s in _LIBRARY_FILES if f.file.endswith(s)), None)
    return BLOCKING_CALLS.get((suffix, _qualname(f))) if suffix else None


def lock_target(stack: Sequence[Frame]) -> str:
    """What a Python thread blocked in futex() waited on, named from its
    blocked stack (root first); "" when it has no Python frame to name it by.

    Reads from the leaf up to the caller of the blocking call only (a few
    frames): it runs for every kept futex wait of a Python process.
    """
    native_kind, kind = "", ""
    first = caller = None
    for f in reversed(stack):  # leaf first
        if f.kind != "python":
            if first is None and f.name == NATIVE_PRIMITIVE:
                native_kind = native_kind or "Python lock"
            elif first is None:
                native_kind = NATIVE_LOCKS.get(f.name, native_kind)
            continue
        if not f.file:  # "[truncated]", unreadable code: nothing to name it by
            continue
        first = first or f
        if kind and caller is None:
            caller = f
        if not f.file.endswith(_LIBRARY_FILES):
            break
        call = _blocking_call(f)
        if call is not None:  # the outermost wins: Queue.get over the Condition.wait it calls
            kind, caller = call, None
    if first is None:
        return ""
    if kind and caller is None:
        return kind  # the call is the thread's outermost Python frame
    caller = caller or first
    return (f"{kind or native_kind or 'futex'} at {os.path.basename(caller.file)}:"
            f"{caller.line} (in {_qualname(caller)})")
