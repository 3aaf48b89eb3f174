"""HotSpot as a recorder runtime: perf maps kept current, Java names, thread names.

It walks nothing in the kernel: the JIT's frames are native frames named from
the perf map the JVM writes (over the attach protocol, when first seen), then
spelled as Java (`javaize`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from profiler.model import Frame

from ..recheck import Rechecks
from .java_names import javaize
from .processes import JvmProcesses


class JvmRuntime:
    """The `runtimes.interface.Runtime` of HotSpot JVMs."""

    name = "jvm"

    def __init__(self, warn: Callable[[str], None] | None = None) -> None:
        self.procs = JvmProcesses(warn=warn)
        self._pids: set[int] = set()
        self._rechecks = Rechecks()

    @property
    def unreadable(self) -> int:
        """JVMs seen whose frames or threads could not be named (each logged once)."""
        return self.procs.unreadable_count

    def bpf_source(self) -> str:
        return ""

    def scan(self, pids: Iterable[int] | None = None) -> list[int]:
        return []  # attached when first seen in a sample, not before

    def bind(self, bpf) -> None:
        pass

    def process_seen(self, pid: int) -> bool:
        if pid in self._pids:
            return True
        if self.procs.is_jvm(pid) and self.procs.attach(pid):
            self._pids.add(pid)
            self._rechecks.forget(pid)
            return True
        self._rechecks.schedule(pid)
        return False

    def recheck(self, pid: int, now: bool = False) -> bool:
        """Looks again, when due, at a process that was no attachable JVM at first
        sight: `java` maps libjvm.so and installs its SIGQUIT handler some time
        after exec (a launcher that execs java is seen anew through exec events)."""
        if not (now or self._rechecks.due(pid)):
            return False
        self.procs.forget_not_jvm(pid)
        if self.process_seen(pid):
            return True
        if not self._rechecks.missed(pid):
            self.procs.not_attachable(pid)  # a JVM that never became attachable: said once
        return False

    def stack(self, pid: int, stack_id: int) -> None:
        return None

    def before_symbolize(self, pid: int) -> None:
        if pid in self._pids:
            self.procs.before_symbolize(pid)

    def merge(self, pid: int, native_leaf_first: list[Frame], stack_id: int) -> list[Frame]:
        return javaize(native_leaf_first) if pid in self._pids else native_leaf_first

    def reason(self, pid: int, reason: str, lock_wait: bool) -> str:
        return reason

    def lock_target(self, pid: int, stack: tuple[Frame, ...]) -> str:
        return ""

    def thread_name(self, pid: int, tid: int) -> str | None:
        return self.procs.thread_name(pid, tid) if pid in self._pids else None

    def end_batch(self) -> None:
        pass

    def process_exited(self, pid: int) -> None:
        self.procs.process_exited(pid)
        self._pids.discard(pid)
        self._rechecks.forget(pid)
