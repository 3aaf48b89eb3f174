"""Which processes the samplers copy user stacks of (`stack_copy_pids`, bpf/common.h).

The mechanism only: the unwinder's policy (`symbolizer/unwind/policy.py`)
decides which processes need copies.
"""

from __future__ import annotations

import ctypes

from ..procfs import thread_ids


class StackCopies:
    """Turns stack copies on and off per process, in the loaded programs."""

    def __init__(self, b, copy_bytes: int) -> None:
        self.copy_bytes = copy_bytes
        self._table = b[b"stack_copy_pids"]
        # The off-CPU sampler reuses a thread's last stacks when it blocks at
        # the same place again; those taken before copying began lack a copy.
        try:
            self._walks = b.get_table(b"off_walks")
        except KeyError:
            self._walks = None

    def start(self, pid: int) -> None:
        """Copies `pid`'s user stacks (up to `copy_bytes`) from the next sample on."""
        self._table[ctypes.c_uint32(pid)] = ctypes.c_uint32(self.copy_bytes)
        if self._walks is None:
            return
        for tid in thread_ids(pid):
            try:
                del self._walks[ctypes.c_uint32(tid)]
            except KeyError:
                pass

    def stop(self, pid: int) -> None:
        try:
            del self._table[ctypes.c_uint32(pid)]
        except KeyError:
            pass
