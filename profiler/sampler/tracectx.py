"""Thread-context tables: found in processes, registered with the kernel, drained.

A process that links its threads to traces (the `flamecam_otel` add-on, or
any writer of docs/TRACE_CONTEXT.md) keeps one shared-memory table, a memfd
named `flamecam-tracectx`, of per-thread slots and a ring of finished
(thread, span, start, end) records. This module:

- finds the tables: a look at each process the samplers see for the first
  time (`check`); each table a process announces over the agent's Unix
  socket (`listen`, profiler/sampler/announce.py), registered before the
  process hears back, so a table made after the process was first seen is
  linked from its first request; and a full pass over /proc/*/maps every
  `rescan_s` seconds (tables made before the agent started or restarted, or
  whose announcement did not get through);
- registers each table's address with the BPF programs (`trace_procs`, read
  by bpf/tracectx.h at every sample and switch-out);
- drains each ring through /proc/PID/mem (`drain`), counting records that
  were overwritten before they were read and processes it could not read:
  nothing is lost silently.

Times in the table are CLOCK_MONOTONIC, the samplers' clock; the caller turns
them into Unix time with the offset it uses for samples.
"""

from __future__ import annotations

import ctypes
import logging
import os
import struct
import threading
import time
from dataclasses import dataclass

from ..procfs import (
    MemoryReadError,
    ProcessMemory,
    namespace_pid,
    namespace_tids,
    pid_namespace,
    read_maps_text,
    start_time,
)
from ..tracectx import (
    COMMIT_MASK,
    HEADER,
    HEADER_SIZE,
    MEMFD_NAME,
    RECORD,
    RECORD_SIZE,
    RING_HEAD_OFFSET,
    SLOT_SIZE,
    Announcement,
    parse_header,
)
from .announce import MESSAGE_DEADLINE_S, AnnounceListener
from .layout import MapLayout

log = logging.getLogger("flamecam.tracectx")

# The layout and its limits are profiler/tracectx.py's (one definition, pinned
# to the writer's by tests/otel/test_layout.py). The BPF side reads slots at the
# fixed 64-byte stride, so a table with longer slots or records is not registered.
MAPPING_NAME = f"/memfd:{MEMFD_NAME}"
# struct trace_proc in bpf/tracectx.h (pinned by tests/sampler/test_event_layouts.py).
TRACE_PROC = MapLayout(("base", "Q"), ("pidns_dev", "Q"), ("pidns_ino", "Q"), ("nslots", "I"),
                       ("pad", "I"))

RESCAN_S = 5.0


@dataclass(frozen=True, slots=True)
class RingRecord:
    """One finished interval: thread `tid` (host id) of `pid` served a span."""

    pid: int
    tid: int
    trace_id: bytes
    span_id: bytes
    start_mono: int
    end_mono: int
    approximate: bool = False  # commit bit 31: the writer flagged the link


@dataclass
class _Table:
    pid: int
    base: int
    nslots: int
    ring_records: int
    mem: ProcessMemory
    tail: int
    pidns: tuple[int, int] | None
    ns_to_host: dict[int, int]
    started: str  # the process's start time: tells an exit from a read error

    @property
    def ring_base(self) -> int:
        return self.base + HEADER_SIZE + self.nslots * SLOT_SIZE


def table_addresses(maps_text: str) -> list[int]:
    """Start addresses of the thread-context mappings in a /proc/PID/maps text."""
    out = []
    for line in maps_text.splitlines():
        if MAPPING_NAME in line:
            try:
                out.append(int(line.split("-", 1)[0], 16))
            except ValueError:
                continue
    return out


class TraceContexts:
    """The tables of every process that has one, kept in step with the kernel.

    Thread-safe: announcements are registered in the listener's thread while
    the caller scans and drains in its own."""

    def __init__(self, bpf, rescan_s: float = RESCAN_S, only: list[int] | None = None) -> None:
        self._procs = bpf[b"trace_procs"] if bpf is not None else None
        self._lock = threading.RLock()
        self._listener: AnnounceListener | None = None
        # Set when a table is registered, cleared by take_found: wakes a caller
        # waiting in `wait_found` (the recorder's poll).
        self._found_event = threading.Event()
        self.rescan_s = rescan_s
        self._only = set(only) if only else None  # `flamecam record -p`: these pids alone
        self._tables: dict[int, _Table] = {}
        self._looked: set[int] = set()  # pids whose maps were read (with or without a table)
        self._found: list[int] = []  # pids whose table was registered since `take_found`
        self._next_scan = 0.0
        self.lost_records = 0      # overwritten in a ring before the agent read them
        self.bad_records = 0       # records that cannot be right (end before start, tid 0)
        self.unreadable = 0        # processes with a table the agent could not read
        self._warned: set[int] = set()

    # -- discovery ----------------------------------------------------------
    @property
    def pids(self) -> list[int]:
        return list(self._tables)

    def listen(self, deadline_s: float = MESSAGE_DEADLINE_S) -> str:
        """Takes announcements from now on (docs/TRACE_CONTEXT.md,
        "Discovery"), each connection's message within `deadline_s`; returns
        the socket's abstract name ("" when it cannot listen: tables are then
        found by the rescans alone)."""
        if self._listener is None:
            try:
                self._listener = AnnounceListener(self.announced, deadline_s)
            except OSError as e:
                log.warning("thread-context tables: not listening for announcements (%s); "
                            "found every %.0f s instead", e, self.rescan_s)
                return ""
        return self._listener.name

    @property
    def refused(self) -> int:
        """Announcements refused: malformed, late, or not a table of their sender."""
        return self._listener.refused if self._listener is not None else 0

    def _wanted(self, pid: int) -> bool:
        return pid != os.getpid() and (self._only is None or pid in self._only)

    def announced(self, pid: int, msg: Announcement) -> bool:
        """Process `pid` (its sender, as the kernel names it) says its table is
        at `msg.base`: registered if that is so, before the sender hears back.

        The message must describe its sender: `msg.pid` is the sender's pid as
        its own namespace numbers it and `msg.tid` one of its threads (a
        message from a process that merely inherited a connection, or one
        naming another process, is refused); the address must start a table
        mapping of that process, holding a valid table whose pid and slot
        count are the message's."""
        if not self._wanted(pid) or namespace_pid(pid) != msg.pid:
            return False
        if pid_namespace(pid) is None:
            if not os.path.exists(f"/proc/{pid}/task/{msg.tid}"):
                return False
        elif msg.tid not in namespace_tids(pid):
            return False
        t = self._tables.get(pid)
        if t is not None and t.base == msg.base:
            return True  # told again: known
        # The sender's maps are read outside the lock: a process with many
        # mappings must not hold up the recorder's drain.
        text = read_maps_text(pid)
        if text is None or msg.base not in table_addresses(text):
            return False
        with self._lock:
            t = self._tables.get(pid)
            if t is not None and t.base == msg.base:
                return True
            self._looked.add(pid)
            if t is not None:  # a table made anew (instrumented again) replaces the old
                self.forget(pid)
            return self._open(pid, msg.base, msg.pid, nslots=msg.nslots)

    def wait_found(self, timeout_s: float) -> bool:
        """Waits up to `timeout_s` for a table to be registered; True if one
        was since the last `take_found`."""
        return self._found_event.wait(timeout_s)

    def scan(self, now: float | None = None) -> None:
        """Every `rescan_s`, reads the maps of every process without a table."""
        now = time.monotonic() if now is None else now
        if now < self._next_scan:
            return
        self._next_scan = now + self.rescan_s
        try:
            pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
        except OSError:
            return
        if self._only is not None:
            pids = [p for p in pids if p in self._only]
        me = os.getpid()
        live = set(pids)
        with self._lock:
            for pid in pids:
                if pid != me and pid not in self._tables:
                    self._look(pid)
            self._looked &= live
            for pid in [p for p in self._tables if p not in live]:
                self.forget(pid)

    def check(self, pid: int) -> None:
        """Looks at a process seen for the first time (cheap when already seen)."""
        if pid not in self._looked and pid not in self._tables and self._wanted(pid):
            with self._lock:
                self._look(pid)

    def _look(self, pid: int) -> None:
        self._looked.add(pid)
        text = read_maps_text(pid)
        if text is None or MAPPING_NAME not in text:
            return
        ns_pid = namespace_pid(pid)
        for addr in table_addresses(text):
            if self._open(pid, addr, ns_pid):
                return

    def _open(self, pid: int, base: int, ns_pid: int, nslots: int | None = None) -> bool:
        """Registers the table at `base` if it is a valid v1 table of `pid`
        itself (with `nslots` slots, when the process said how many).

        A child forked from a process with a table maps its parent's table
        until it makes its own; the header's pid tells them apart.
        """
        try:
            mem = ProcessMemory(pid)
        except MemoryReadError as e:
            self._unreadable(pid, e)
            return False
        try:
            raw = mem.read(base, HEADER.size)
        except MemoryReadError as e:
            mem.close()
            self._unreadable(pid, e)
            return False
        try:
            h = parse_header(raw)
            if h.slot_size != SLOT_SIZE or h.record_size != RECORD_SIZE:
                raise ValueError(f"slots of {h.slot_size} B or records of {h.record_size} B "
                                 f"(the BPF side reads {SLOT_SIZE} and {RECORD_SIZE})")
        except ValueError as e:
            mem.close()
            # once per process: a sender announcing a bad table over and over
            # must not flood the log
            (log.debug if pid in self._warned else log.warning)(
                "pid %d: thread-context table at %#x ignored: %s", pid, base, e)
            self._warned.add(pid)
            return False
        if h.pid != ns_pid or nslots not in (None, h.nslots):
            mem.close()
            return False
        nslots, ring_records, head = h.nslots, h.ring_records, h.ring_head
        pidns = pid_namespace(pid)
        # Records written before we looked are still in the ring: read them,
        # but do not count the ones already overwritten as lost.
        tail = max(0, head - ring_records)
        t = _Table(pid, base, nslots, ring_records, mem, tail, pidns, {}, start_time(pid))
        self._tables[pid] = t
        if self._procs is not None:
            dev, ino = pidns or (0, 0)
            self._procs[ctypes.c_uint32(pid)] = self._procs.Leaf.from_buffer_copy(
                TRACE_PROC.pack(base=base, pidns_dev=dev, pidns_ino=ino, nslots=nslots))
        log.info("pid %d: thread-context table at %#x (%d slots, ring of %d)", pid, base,
                 nslots, ring_records)
        self._found.append(pid)
        self._found_event.set()
        return True

    def take_found(self) -> list[int]:
        """Pids whose table was registered since the last call, oldest first:
        processes that run the table's writer by now."""
        with self._lock:
            found, self._found = self._found, []
            self._found_event.clear()
        return found

    def _unreadable(self, pid: int, err: Exception) -> None:
        self.unreadable += 1
        if pid not in self._warned:
            self._warned.add(pid)
            log.warning("pid %d has a thread-context table the agent cannot read: %s",
                        pid, err)

    def forget(self, pid: int) -> None:
        """Drops an exited process (or one whose table went away)."""
        with self._lock:
            t = self._tables.pop(pid, None)
            self._looked.discard(pid)
            self._warned.discard(pid)
            if t is None:
                return
            t.mem.close()
            if self._procs is not None:
                try:
                    del self._procs[ctypes.c_uint32(pid)]
                except KeyError:
                    pass

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for pid in list(self._tables):
                self.forget(pid)

    # -- draining -----------------------------------------------------------
    def drain(self) -> list[RingRecord]:
        """The records appended to every ring since the last drain."""
        out: list[RingRecord] = []
        with self._lock:
            for pid, t in list(self._tables.items()):
                try:
                    self._drain_one(t, out)
                except MemoryReadError as e:
                    if start_time(pid) == t.started:  # still there: say so
                        self._unreadable(pid, e)
                    self.forget(pid)  # an exit; or found again by the next scan
        return out

    def _head(self, t: _Table) -> int:
        return struct.unpack("<Q", t.mem.read(t.base + RING_HEAD_OFFSET, 8))[0]

    def _drain_one(self, t: _Table, out: list[RingRecord]) -> None:
        head = self._head(t)
        if head < t.tail:  # a new table at the same address, or a writer that restarted
            t.tail = max(0, head - t.ring_records)
        if head == t.tail:
            return
        n = t.ring_records
        if head - t.tail > n:
            self._lost(t, head - t.tail - n)
            t.tail = head - n
        first = t.tail
        data = self._read_ring(t, first, head)
        # A writer that went on while we read may have overwritten the oldest
        # records we copied: record i is safe while i > head_now - n (the
        # record being written now, at head_now, reuses index head_now - n).
        head_now = self._head(t)
        # Every record before safe_from is lost, those past `head` too when the
        # writer appended a ring's worth while we read (docs/TRACE_CONTEXT.md,
        # "Reading the ring"): counted, as the tail moves past them.
        safe_from = max(first, head_now - n + 1)
        if safe_from > first:
            self._lost(t, safe_from - first)
        refreshed = False
        i = safe_from
        while i < head:
            tid, commit, trace, span, start, end = RECORD.unpack_from(
                data, (i - first) * RECORD_SIZE)
            if commit & COMMIT_MASK != i & COMMIT_MASK:
                break  # not committed yet (a writer may publish head first): next drain
            i += 1
            if tid == 0 or end < start or not any(trace):
                self.bad_records += 1
                continue
            host = t.ns_to_host.get(tid, 0) if t.pidns else tid
            if not host and not refreshed:
                # Once per drain: a thread that exited since is not found again.
                t.ns_to_host, refreshed = namespace_tids(t.pid), True
                host = t.ns_to_host.get(tid, 0)
            if host:
                out.append(RingRecord(t.pid, host, trace, span, start, end, bool(commit >> 31)))
            else:
                self.bad_records += 1
        t.tail = i

    def _read_ring(self, t: _Table, first: int, head: int) -> bytes:
        """Records first..head-1, in order (at most two reads: the ring wraps)."""
        n = t.ring_records
        lo, count = first & (n - 1), head - first
        part = min(count, n - lo)
        data = t.mem.read(t.ring_base + lo * RECORD_SIZE, part * RECORD_SIZE)
        if part < count:
            data += t.mem.read(t.ring_base, (count - part) * RECORD_SIZE)
        return data

    def _lost(self, t: _Table, n: int) -> None:
        self.lost_records += n
        log.warning("pid %d: %d thread-context records overwritten before the agent read "
                    "them (%d lost so far); the ring holds %d", t.pid, n, self.lost_records,
                    t.ring_records)
