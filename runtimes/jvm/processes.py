"""The JVM side of the symbolizer: attach once, keep names fresh, warn once.

The recorder asks, per JVM process: refresh the perf map before you
symbolize (`before_symbolize`), name this thread (`thread_name`), and turn a
perf-map name into a frame (`java_frame`). Everything that can fail (attach
disabled, JDK without Compiler.perfmap, process gone) costs one warning per
process and leaves frames unnamed (`[unknown]`/`[jit]`), never an exception.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from profiler.model import Frame
from profiler.procfs import namespace_pid

from . import hsperf, threads
from .attach import AttachError, attachable, jcmd, load_agent
from .detect import maps_libjvm
from .flags import ADVICE, preserves_frame_pointer
from .java_names import java_frame

log = logging.getLogger("flamecam.jvm")

AGENT_JAR = os.path.join(os.path.dirname(__file__), "agent", "build",
                         "flamecam-agent.jar")


def find_jvm_pids(pids: list[int] | None = None) -> list[int]:
    """Pids (all of /proc, or those given) that map HotSpot's libjvm.so."""
    if pids is None:
        pids = [int(d) for d in os.listdir("/proc") if d.isdigit()]
    return [pid for pid in pids if maps_libjvm(pid)]


# Keep earlier snapshots up to this size; beyond it the file starts afresh.
MAX_KEPT_BYTES = 16 << 20


def _dump_appending(pid: int, path: str) -> None:
    """Compiler.perfmap, with the file kept append-only.

    The JVM rewrites the map from scratch on each dump, but perf-map readers
    (ours, perf's) read only what was appended since their last look, with
    later lines winning. Putting the previous content back in front of the
    new snapshot keeps that model true; the owner and mode of the JVM's file
    are kept so that its next dump (as its own user) can still write it.
    """
    try:
        with open(path, "rb") as f:
            old = f.read(MAX_KEPT_BYTES + 1)
    except OSError:
        old = b""
    jcmd(pid, "Compiler.perfmap")
    if not old or len(old) > MAX_KEPT_BYTES:
        return
    with open(path, "rb") as f:
        new = f.read()
        st = os.fstat(f.fileno())
    if new == old:
        return
    if not old.endswith(b"\n"):
        old += b"\n"
    tmp = f"{path}.flamecam-tmp"
    with open(tmp, "wb") as f:
        f.write(old + new)
    os.chown(tmp, st.st_uid, st.st_gid)
    os.chmod(tmp, st.st_mode & 0o7777)
    os.replace(tmp, path)


@dataclass
class _Jvm:
    pid: int
    attached: bool = False
    broken: bool = False
    preserve_fp: bool | None = None
    compile_stamp: tuple[int, ...] | None = None
    last_dump: float = 0.0
    names: dict[int, str] = field(default_factory=dict)
    names_at: float = 0.0


class JvmProcesses:
    """Per-pid JVM state; `refresh_interval` bounds perf-map dumps per JVM."""

    def __init__(self, warn: Callable[[str], None] | None = None,
                 refresh_interval: float = 0.5, fallback_interval: float = 5.0) -> None:
        self._warn = warn or log.warning
        self.refresh_interval = refresh_interval
        self.fallback_interval = fallback_interval
        self._jvms: dict[int, _Jvm | None] = {}
        self.unreadable_count = 0  # JVMs whose frames or threads could not be named

    def is_jvm(self, pid: int) -> bool:
        if pid not in self._jvms:
            self._jvms[pid] = _Jvm(pid) if maps_libjvm(pid) else None
        return self._jvms[pid] is not None

    def forget_not_jvm(self, pid: int) -> None:
        """Lets `pid` be looked at again if it mapped no libjvm.so last time
        (the `java` launcher dlopens it some time after exec)."""
        if pid in self._jvms and self._jvms[pid] is None:
            del self._jvms[pid]

    def not_attachable(self, pid: int) -> None:
        """Gives up on a JVM that never became attachable, saying so."""
        j = self._jvms.get(pid)
        if j is not None and not j.attached:
            self._unreadable(j, f"JVM pid {pid} neither catches SIGQUIT nor has its attach "
                                f"socket open (-Xrs with -XX:+DisableAttachMechanism?): "
                                f"its Java frames will be unnamed")

    def _unreadable(self, j: _Jvm, message: str) -> None:
        """A JVM that cannot be read: said once in the log, counted for /metrics."""
        if not j.broken:
            j.broken = True
            self.unreadable_count += 1
            self._warn(message)

    def perf_map_path(self, pid: int) -> str:
        return f"/proc/{pid}/root/tmp/perf-{namespace_pid(pid)}.map"

    def attach(self, pid: int) -> bool:
        """First contact: check the frame-pointer flag (warn once), dump the map."""
        if not self.is_jvm(pid):
            return False
        j = self._jvms[pid]
        assert j is not None
        if j.attached or j.broken:
            return j.attached
        if not attachable(pid):
            return False  # still starting: not attachable yet, the caller looks again
        j.preserve_fp = preserves_frame_pointer(pid)
        if j.preserve_fp is False:
            self._warn(ADVICE.format(pid=pid))
        j.attached = True
        if not self.refresh_perf_map(pid, force=True):
            j.attached = False
        return j.attached

    def refresh_perf_map(self, pid: int, force: bool = False) -> bool:
        """Re-dump /tmp/perf-PID.map if the JIT compiled since the last dump.

        Code-cache addresses get reused, so a stale map can name an address
        after a method that no longer lives there. Each new snapshot is
        appended to the file (later lines win), see `_dump_appending`.
        """
        if not self.is_jvm(pid):
            return False
        j = self._jvms[pid]
        assert j is not None
        if j.broken:
            return False
        if not j.attached and not force:
            return self.attach(pid)
        now = time.monotonic()
        if not force and now - j.last_dump < self.refresh_interval:
            return False
        stamp = hsperf.compile_stamp(pid)
        if not force:
            if stamp is not None and stamp == j.compile_stamp:
                return False
            if stamp is None and now - j.last_dump < self.fallback_interval:
                return False
        try:
            _dump_appending(pid, self.perf_map_path(pid))
        except (AttachError, OSError) as e:
            self._unreadable(j, f"JVM pid {pid}: Java frames will be unnamed: {e}")
            return False
        j.compile_stamp = stamp
        j.last_dump = now
        return True

    def before_symbolize(self, pid: int) -> None:
        """Call before naming a batch of this JVM's addresses."""
        self.refresh_perf_map(pid)

    def thread_name(self, pid: int, tid: int) -> str | None:
        """Java thread name of native thread `tid` (None if not a Java thread)."""
        if not self.is_jvm(pid):
            return None
        j = self._jvms[pid]
        assert j is not None
        now = time.monotonic()
        if tid not in j.names and now - j.names_at > 0.5 and not j.broken:
            names = threads.from_agent_file(pid)
            if names is None or tid not in names:
                try:
                    names = threads.from_thread_dump(pid)
                except (AttachError, OSError) as e:
                    self._unreadable(j, f"JVM pid {pid}: Java thread names unavailable: {e}")
                    names = names or {}
            j.names = names
            j.names_at = now
        return j.names.get(tid)

    def load_agent(self, pid: int, jar: str = AGENT_JAR, options: str = "") -> None:
        """Load the Java agent (agent/) into `pid` (keeps the map and names current itself)."""
        load_agent(pid, os.path.abspath(jar), options)

    @staticmethod
    def java_frame(raw_name: str, module: str = "[jit]", offset: int = 0) -> Frame:
        return java_frame(raw_name, module, offset)

    def process_exited(self, pid: int) -> None:
        self._jvms.pop(pid, None)
