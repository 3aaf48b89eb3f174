"""Python support for the recorder, in one object: what wiring needs.

The recorder owns the bcc module that carries `python.h`; this object
registers Python processes with the kernel walker, turns the stack ids its
events carry into named, merged frames, names threads and upgrades off-CPU
reasons to `gil`. Everything degrades to "no Python frames" for a process it
cannot read (one warning from `PythonProcesses`).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Sequence

from profiler.model import Frame
from profiler.procfs import read_maps_text

from ..recheck import Rechecks
from . import bpf_maps
from .gil import python_offcpu_reason
from .locks import lock_target
from .merge import merge_python_frames
from .processes import PythonProcesses
from .reader import PyStack

_PY_MAPPING = re.compile(r"/(?:lib)?python3\.\d+")

# How often to look for the GIL of a process registered before it had one.
GIL_RETRY_S = 0.1


def find_python_pids(pids: Iterable[int] | None = None) -> list[int]:
    """Pids (all of /proc, or those given) that map a CPython 3 binary or libpython."""
    if pids is None:
        pids = (int(d) for d in os.listdir("/proc") if d.isdigit())
    out = []
    for pid in pids:
        text = read_maps_text(pid)
        if text is not None and _PY_MAPPING.search(text):
            out.append(pid)
    return out


class PythonStacks:
    """Python frames for a recording. `bpf` is the loaded module (or None).

    The `runtimes.interface.Runtime` of CPython: what the recorder drives.
    """

    name = "python"

    def __init__(self, bpf=None, processes: PythonProcesses | None = None,
                 python_native: bool = False, rechecks: Rechecks | None = None) -> None:
        self.bpf = bpf
        self.procs = processes or PythonProcesses()
        self.python_native = python_native
        self._registered: set[int] = set()
        self._stacks: dict[tuple[int, int], PyStack | None] = {}
        self._rechecks = rechecks or Rechecks()
        # Registered before their GIL existed (caught starting): pid -> next try.
        self._no_gil: dict[int, float] = {}

    @property
    def unreadable(self) -> int:
        """Python processes seen whose frames could not be read (each logged once)."""
        return self.procs.unreadable_count

    def bpf_source(self) -> str:
        """python.h, the kernel walker, for `program.load`."""
        return bpf_maps.bpf_source()

    def scan(self, pids: Iterable[int] | None = None) -> list[int]:
        """Find and prepare every readable Python process (all, or among `pids`).

        Reading a process's ELF symbols and layout takes tens of ms; samples
        taken before a process is registered carry no Python stack. So call
        this *before* loading the programs, then `bind(bpf)` right after:
        registration itself is one map update per process.
        """
        return [pid for pid in find_python_pids(pids) if self.process_seen(pid)]

    def bind(self, bpf) -> None:
        """Attach to the loaded module and register every prepared process."""
        self.bpf = bpf
        for pid in list(self._registered):
            self._registered.discard(pid)
            self.process_seen(pid)

    def process_seen(self, pid: int) -> bool:
        """Prepare `pid` and register it with the kernel walker (if bound)."""
        if pid in self._registered:
            return True
        proc = self.procs.get(pid)
        if proc is None:
            self._rechecks.schedule(pid)
            return False
        self._rechecks.forget(pid)
        if self.bpf is not None and not self._register(pid, proc):
            return False
        self._registered.add(pid)
        return True

    def _register(self, pid: int, proc) -> bool:
        """Writes `pid` into the kernel walker's map; notes it when its GIL is not there yet."""
        try:
            with_gil = bpf_maps.register(self.bpf, proc)
        except Exception as e:  # noqa: BLE001 - map full, module closed
            self.procs.unreadable(f"python frames for pid {pid} not walked in the kernel: {e}",
                                  pid)
            return False
        if with_gil:
            self._no_gil.pop(pid, None)
        else:
            self._no_gil[pid] = time.monotonic() + GIL_RETRY_S
        return True

    def recheck(self, pid: int, now: bool = False) -> bool:
        """Looks again, when due (`now`: at once), at a process that was not
        Python when first seen.

        Called for every event of an unregistered process, so the common case
        (not due, or never to be looked at again) is one dict lookup. `now`
        is for a sign that the process runs Python by now (it made a
        thread-context table): the schedule's next look may be a second away.
        """
        if not (now or self._rechecks.due(pid)):
            return False
        if not self.procs.forget_not_python(pid):
            self._rechecks.forget(pid)  # unreadable for another reason: said once
            return False
        if self.process_seen(pid):
            return True
        self._rechecks.missed(pid)
        return False

    def stack(self, pid: int, py_stack_id: int) -> PyStack | None:
        """Named Python frames (leaf first) for a stack id from an event."""
        if not py_stack_id or self.bpf is None:
            return None
        key = (pid, py_stack_id)
        if key not in self._stacks:
            raw = bpf_maps.read_py_stack(self.bpf, py_stack_id)
            self._stacks[key] = self.procs.symbolize(pid, raw) if raw else None
        return self._stacks[key]

    def before_symbolize(self, pid: int) -> None:
        """Registers again a process whose GIL did not exist when it was first seen.

        Its frames are walked from the start, but GIL waits are told by the
        GIL's address, known only once the interpreter has set it up.
        """
        due = self._no_gil.get(pid)
        if due is None or time.monotonic() < due or self.bpf is None:
            return
        proc = self.procs.get(pid)
        if proc is not None:
            self._register(pid, proc)

    def merge(self, pid: int, native_leaf_first: list[Frame], py_stack_id: int) -> list[Frame]:
        """`native_leaf_first` with the event's Python frames in place."""
        st = self.stack(pid, py_stack_id)
        if st is None or not st.frames:
            return native_leaf_first
        return merge_python_frames(native_leaf_first, list(st.frames), st.entries,
                                   python_native=self.python_native)

    def reason(self, pid: int, reason: str, gil_wait: bool,
               native_leaf_first: Sequence[Frame] = ()) -> str:
        """The off-CPU reason, `gil` when the kernel saw a GIL futex wait."""
        if gil_wait and reason != "runqueue":
            return "gil"
        if pid not in self._registered:
            return reason
        return python_offcpu_reason(reason, native_leaf_first)

    def lock_target(self, pid: int, stack: tuple[Frame, ...]) -> str:
        """The Python lock a futex wait was on: its kind and the line that waited (locks.py)."""
        return lock_target(stack) if pid in self._registered else ""

    def thread_name(self, pid: int, tid: int) -> str | None:
        return self.procs.thread_name(pid, tid) if pid in self._registered else None

    def end_batch(self) -> None:
        """Forget named stacks (code addresses may be reused later)."""
        self._stacks.clear()

    def process_exited(self, pid: int) -> None:
        if self.bpf is not None and pid in self._registered:
            bpf_maps.unregister(self.bpf, pid)
        self._registered.discard(pid)
        self._rechecks.forget(pid)
        self._no_gil.pop(pid, None)
        self.procs.process_exited(pid)
