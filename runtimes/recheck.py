"""When to look again at a process that was not a runtime's when first seen.

A new process's first sample often lands before its runtime is there to be
found: in the dynamic loader before libpython is mapped, in the `java`
launcher before it dlopens libjvm.so, or in a JVM that has not yet installed
the signal handler its attach protocol needs. Such a "no" must not stick, and
looking at every sample of every process would cost too much: each runtime
keeps one of these schedules, backing off, then leaves the process alone.
"""

from __future__ import annotations

import time

# Seconds after the previous look (about two minutes in all, then never).
RECHECK_DELAYS_S = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)


class Rechecks:
    """Per-pid due times; `due` is one dict lookup, as it runs for every sample."""

    def __init__(self, delays: tuple[float, ...] = RECHECK_DELAYS_S) -> None:
        self.delays = delays
        self._due: dict[int, tuple[float, int]] = {}  # pid -> (when, looks so far)

    def schedule(self, pid: int) -> None:
        """Look at `pid` again soon (kept as is when it is already scheduled)."""
        if pid not in self._due:
            self._due[pid] = (time.monotonic() + self.delays[0], 0)

    def due(self, pid: int) -> bool:
        d = self._due.get(pid)
        return d is not None and time.monotonic() >= d[0]

    def missed(self, pid: int) -> bool:
        """Another look found nothing: the next one comes later, or never (False)."""
        looks = self._due.get(pid, (0.0, -1))[1] + 1
        more = looks < len(self.delays)
        self._due[pid] = (time.monotonic() + self.delays[looks] if more else float("inf"), looks)
        return more

    def forget(self, pid: int) -> None:
        self._due.pop(pid, None)
