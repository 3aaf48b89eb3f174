"""The Python side of the symbolizer: one entry point per profiled process.

The recorder calls this for every sample of every process; it must cost
nothing for non-Python processes (detection is cached per pid), and a
Python process it cannot read (unknown version, free-threaded build, no
permission) costs one warning and then native frames only, never a crash.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from profiler.model import Frame
from profiler.procfs import MemoryReadError

from .merge import merge_python_frames
from .reader import PyStack, PythonProcess, RawFrame, UnsupportedPython

log = logging.getLogger("flamecam.python")

NAMES_TTL_S = 2.0


class PythonProcesses:
    """Per-pid Python readers, created lazily, dropped on `process_exited`."""

    def __init__(self, warn: Callable[[str], None] | None = None) -> None:
        self._warn = warn or log.warning
        self._procs: dict[int, PythonProcess | None] = {}
        self._names: dict[int, tuple[float, dict[int, str]]] = {}
        # Pids whose look found no readable CPython: they may yet be (a loader
        # still mapping libpython, a process mid-exec); see forget_not_python.
        self._not_python: set[int] = set()
        self._said: set[int] = set()  # pids already said unreadable
        self.unreadable_count = 0  # Python processes whose frames could not be read

    def unreadable(self, message: str, pid: int | None = None) -> None:
        """A Python process that cannot be read: said once in the log, counted for /metrics."""
        if pid is not None:
            if pid in self._said:
                return
            self._said.add(pid)
        self.unreadable_count += 1
        self._warn(message)

    def get(self, pid: int) -> PythonProcess | None:
        """The reader for `pid`, or None when it is not (readable) Python."""
        if pid in self._procs:
            return self._procs[pid]
        proc: PythonProcess | None = None
        try:
            proc = PythonProcess(pid)
        except UnsupportedPython as e:
            if e.transient:
                self._not_python.add(pid)
            if "no CPython runtime" not in str(e):
                self.unreadable(f"python frames unavailable, native frames only: {e}", pid)
        except (OSError, ValueError) as e:
            self._not_python.add(pid)  # gone, or caught mid-exec: looked at again later
            self.unreadable(f"python frames unavailable for pid {pid}: {e}", pid)
        self._procs[pid] = proc
        return proc

    def stack(self, pid: int, tid: int) -> PyStack | None:
        """The Python stack of thread `tid` now (None: not Python or unreadable)."""
        proc = self.get(pid)
        if proc is None:
            return None
        try:
            return proc.stack(tid)
        except MemoryReadError:
            return None  # torn read while the target runs: this sample only

    def symbolize(self, pid: int, raw: list[RawFrame]) -> PyStack | None:
        """Name frames captured elsewhere (the BPF walk's code pointers)."""
        proc = self.get(pid)
        return proc.symbolize(raw) if proc is not None else None

    def merged(self, pid: int, tid: int, native_leaf_first: list[Frame],
               python_native: bool = False) -> list[Frame]:
        """`native_leaf_first` with this thread's Python frames spliced in."""
        st = self.stack(pid, tid)
        if st is None or not st.frames:
            return native_leaf_first
        return merge_python_frames(native_leaf_first, list(st.frames), st.entries,
                                   python_native=python_native)

    def thread_name(self, pid: int, tid: int) -> str | None:
        """`threading` name of `tid` (refreshed at most every NAMES_TTL_S)."""
        proc = self.get(pid)
        if proc is None:
            return None
        now = time.monotonic()
        cached = self._names.get(pid)
        if cached is None or (tid not in cached[1] and now - cached[0] > 0.2) or \
                now - cached[0] > NAMES_TTL_S:
            try:
                cached = (now, proc.thread_names())
            except MemoryReadError:
                cached = (now, cached[1] if cached else {})
            self._names[pid] = cached
        return cached[1].get(tid)

    def gil_range(self, pid: int) -> tuple[int, int]:
        proc = self.get(pid)
        if proc is None:
            return (0, 0)
        try:
            return proc.gil_range()
        except MemoryReadError:
            return (0, 0)

    def forget_not_python(self, pid: int) -> bool:
        """Lets `pid` be looked at again if no readable CPython was found last time.

        A process's first sample can come before the dynamic loader mapped
        libpython (pyenv builds are shared), or before a launcher exec'd
        Python: that answer must not stick. True when there was one to forget.
        """
        if pid not in self._not_python:
            return False
        self._not_python.discard(pid)
        self._procs.pop(pid, None)
        return True

    def process_exited(self, pid: int) -> None:
        proc = self._procs.pop(pid, None)
        if proc is not None:
            proc.close()
        self._names.pop(pid, None)
        self._not_python.discard(pid)
        self._said.discard(pid)
