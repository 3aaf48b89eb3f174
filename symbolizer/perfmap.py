"""JIT symbols from /tmp/perf-PID.map, as written by CPython 3.12+ and the JVM.

Lines are `START SIZE name` in hex, with or without `0x`. The file only
grows; JIT code addresses get reused, so a later line wins over an earlier
one covering the same address. Inside a container the file is named after
the namespace pid and lives in the container's /tmp, reached through
/proc/PID/root.
"""

from __future__ import annotations

import os
from bisect import bisect_right

from profiler.procfs import namespace_pid

# How many earlier, overlapping entries a lookup examines for a later winner.
_OVERLAP_SCAN = 8


def perf_map_paths(pid: int) -> list[str]:
    nspid = namespace_pid(pid)
    return [f"/proc/{pid}/root/tmp/perf-{nspid}.map", f"/tmp/perf-{pid}.map"]


class PerfMap:
    """One process's perf map, re-read incrementally when the file grows."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.paths = perf_map_paths(pid)
        self.path = ""
        self._consumed = 0  # bytes parsed so far (whole lines only)
        self._entries: list[tuple[int, int, int, str]] = []  # start, end, seq, name
        self._starts: list[int] = []
        self._sorted: list[tuple[int, int, int, str]] = []
        self.refresh()

    def __len__(self) -> int:
        return len(self._entries)

    def refresh(self) -> bool:
        """Reads lines appended since the last call; True if any were."""
        path = self.path
        if not path:
            for p in self.paths:
                if os.path.exists(p):
                    path = p
                    break
            else:
                return False
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < self._consumed:  # truncated or replaced: start over
                    self._consumed = 0
                    self._entries = []
                if size == self._consumed:
                    self.path = path
                    return False
                f.seek(self._consumed)
                data = f.read(size - self._consumed)
        except OSError:
            return False
        self.path = path
        last_nl = data.rfind(b"\n")
        if last_nl < 0:
            return False
        self._consumed += last_nl + 1
        seq = len(self._entries)
        for line in data[: last_nl + 1].decode("utf-8", "replace").splitlines():
            parts = line.split(" ", 2)
            if len(parts) < 3:
                continue
            try:
                start = int(parts[0], 16)
                size_ = int(parts[1], 16)
            except ValueError:
                continue
            self._entries.append((start, start + max(size_, 1), seq, parts[2].rstrip()))
            seq += 1
        self._sorted = sorted(self._entries)
        self._starts = [e[0] for e in self._sorted]
        return True

    def has_prefix(self, prefix: str) -> bool:
        """Whether any entry's name starts with `prefix` (e.g. `py::`)."""
        return any(e[3].startswith(prefix) for e in self._entries)

    def lookup(self, addr: int) -> tuple[str, int] | None:
        """(name, region start) of the latest entry covering `addr`, or None."""
        i = bisect_right(self._starts, addr) - 1
        best = None
        lo = max(-1, i - _OVERLAP_SCAN)
        while i > lo:
            e = self._sorted[i]
            if e[0] <= addr < e[1] and (best is None or e[2] > best[2]):
                best = e
            i -= 1
        if best is None:
            return None
        return best[3], best[0]
