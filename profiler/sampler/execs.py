"""Driver of `bpf/procs.c`: the processes that exec'd since the last look."""

from __future__ import annotations

import ctypes


class ExecWatcher:
    """Collects the pids that exec'd a new program (filled by ring_buffer_consume)."""

    def __init__(self, b) -> None:
        self._pids: list[int] = []
        b[b"exec_events"].open_ring_buffer(self._on_exec)

    def _on_exec(self, _ctx, data, _size) -> int:
        self._pids.append(ctypes.cast(data, ctypes.POINTER(ctypes.c_uint32)).contents.value)
        return 0

    def take(self) -> list[int]:
        """Pids that exec'd since the last call, oldest first, each once."""
        pids, self._pids = list(dict.fromkeys(self._pids)), []
        return pids
