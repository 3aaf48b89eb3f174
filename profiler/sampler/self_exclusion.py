"""Flamecam never profiles itself: which processes are Flamecam's own.

The recorder's own process is left out in the kernel from the first event
(`SELF_TGID`). Every other Flamecam process (a server started by `flamecam
run`, the server's forked workers, a `flamecam server` or `flamecam agent`
started on its own) is recognised by its command line, once, when the
recorder first sees it, and then left out in the kernel too (`self_tgids` in
bpf/common.h), so its samples cost no stack walk. Forked workers share their
parent's command line, so they are recognised the same way.
"""

from __future__ import annotations

import ctypes
import os

# How Flamecam's processes are started: the console script or `-m` on one of
# its entry modules (what `flamecam run` and the test suite use).
_ENTRY_MODULES = frozenset({"profiler.cli", "profiler.server", "profiler"})
_SCRIPT = "flamecam"


def is_flamecam_command(argv: list[str]) -> bool:
    """True when `argv` (a /proc/PID/cmdline) runs one of Flamecam's commands."""
    if not argv:
        return False
    if os.path.basename(argv[0]) == _SCRIPT:
        return True
    # python [-X opt ...] -m profiler.cli ... or python /path/to/bin/flamecam ...
    for i, arg in enumerate(argv[1:], start=1):
        if arg == "-m":
            return i + 1 < len(argv) and argv[i + 1] in _ENTRY_MODULES
        if not arg.startswith("-"):
            return os.path.basename(arg) == _SCRIPT
    return False


def is_flamecam_process(pid: int) -> bool:
    """Whether process `pid` runs Flamecam (False when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read(4096)
    except OSError:
        return False
    return is_flamecam_command([a.decode(errors="replace") for a in raw.split(b"\0") if a])


class SelfExclusion:
    """The Flamecam processes left out of profiles, in user space and in the kernel."""

    def __init__(self, bpf) -> None:
        self._table = bpf[b"self_tgids"]
        self._known: dict[int, bool] = {os.getpid(): True}

    def scan(self) -> None:
        """Marks every Flamecam process running now (before the first samples)."""
        try:
            pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
        except OSError:
            return
        for pid in pids:
            self.excluded(pid)

    def excluded(self, pid: int) -> bool:
        """True for a Flamecam process; decided once per pid, until it exits."""
        known = self._known.get(pid)
        if known is None:
            known = self._known[pid] = is_flamecam_process(pid)
            if known:
                self._table[ctypes.c_uint32(pid)] = ctypes.c_uint8(1)
        return known

    def forget(self, pid: int) -> None:
        """`pid` exited or exec'd another program: decide again when next seen."""
        if self._known.pop(pid, False) and pid != os.getpid():
            try:
                del self._table[ctypes.c_uint32(pid)]
            except KeyError:
                pass

    def forget_exited(self, live: set[str]) -> None:
        """Drops the processes not in `live` (/proc's listing): a pid may be reused."""
        for pid in [p for p in self._known if str(p) not in live]:
            self.forget(pid)
