"""Thread-context tables: found in processes, registered with the kernel, drained.

A process that links its threads to traces (the `flamecam_otel` add-on, or
any writer of docs/TRACE_CONTEXT.md) keeps one shared-memory table, a memfd
named `flamecam-tracectx`, of per-thread slots and a ring of finished
(thread, span, start, end) records. This module:

- finds the tables: a look at each process the samplers see for the first
  time (`check`); a look, at the next poll, at each process that announces
  its table (bpf/procs.c reports a thread renamed to its own name, and
  registers the table itself when the rename carries its address, so a
  table made after the process was first seen is linked from its first
  request); and a full pass over /proc/*/maps every `rescan_s` seconds
  (tables made before the agent started, or reported events lost);
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
    parse_header,
)
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
# A process that announces again (a program renaming its threads to their own
# names in a loop) is looked at no more often than this; later, not never.
ANNOUNCE_LOOK_GAP_S = 0.1


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
    """The tables of every process that has one, kept in step with the kernel."""

    def __init__(self, bpf, rescan_s: float = RESCAN_S, only: list[int] | None = None) -> None:
        self._procs = bpf[b"trace_procs"] if bpf is not None else None
        self._announced: set[int] = set()  # pids to look at, when due
        self._announce_looked: dict[int, float] = {}  # pid -> last look for an announcement
        if bpf is not None:
            bpf[b"table_events"].open_ring_buffer(self._on_announced)
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

    def _on_announced(self, _ctx, data, _size) -> int:
        pid = ctypes.cast(data, ctypes.POINTER(ctypes.c_uint32)).contents.value
        self.announced(pid)
        return 0

    def announced(self, pid: int) -> None:
        """`pid` announced a table (a thread renamed to its own name, after
        the table was mapped and filled): look at it at the next scan."""
        if pid != os.getpid() and (self._only is None or pid in self._only):
            self._announced.add(pid)  # looked at by the next scan that finds it due

    def waiting(self) -> bool:
        """Whether a process announced a table that was not looked for yet
        (reported through `table_events` as the rings are read): the caller
        then scans now (and again soon, for one looked at lately), not at its
        next poll."""
        return bool(self._announced)

    def scan(self, now: float | None = None) -> None:
        """Looks once at each process that announced a table (at most once
        per ANNOUNCE_LOOK_GAP_S each), and every `rescan_s` reads the maps of
        every process without a table."""
        now = time.monotonic() if now is None else now
        for pid in list(self._announced):
            last = self._announce_looked.get(pid)
            if last is not None and now < last + ANNOUNCE_LOOK_GAP_S:
                continue  # looked at lately: later
            self._announced.discard(pid)
            self._announce_looked[pid] = now
            if pid in self._tables:
                self._reannounced(pid)
                continue
            self._look(pid)
            if pid in self._tables:
                continue
            # Not a valid table of its own (or none at all): drop what the
            # kernel registered from the announcement, whatever its address.
            self._unannounce(pid, None)
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
        for pid in pids:
            if pid != me and pid not in self._tables:
                self._look(pid)
        self._looked &= live
        self._announce_looked = {p: t for p, t in self._announce_looked.items() if p in live}
        for pid in [p for p in self._tables if p not in live]:
            self.forget(pid)

    def _reannounced(self, pid: int) -> None:
        """A process with a registered table announced one again: a table made
        anew (instrumented again) replaces the old one if that is unmapped."""
        text = read_maps_text(pid)
        if text is not None and self._tables[pid].base in table_addresses(text):
            return
        self.forget(pid)
        self._look(pid)

    def check(self, pid: int) -> None:
        """Looks at a process seen for the first time (cheap when already seen)."""
        if (pid not in self._looked and pid not in self._tables and pid != os.getpid()
                and (self._only is None or pid in self._only)):
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

    def _open(self, pid: int, base: int, ns_pid: int) -> bool:
        """Registers the table at `base` if it is a valid v1 table of `pid` itself.

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
            self._unannounce(pid, base)
            log.warning("pid %d: thread-context table at %#x ignored: %s", pid, base, e)
            return False
        nslots, ring_records, head, owner = h.nslots, h.ring_records, h.ring_head, h.pid
        if owner != ns_pid:
            mem.close()
            self._unannounce(pid, base)
            return False
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
        return True

    def take_found(self) -> list[int]:
        """Pids whose table was registered since the last call, oldest first:
        processes that run the table's writer by now."""
        found, self._found = self._found, []
        return found

    def _unannounce(self, pid: int, base: int | None) -> None:
        """Drops what bpf/procs.c registered from the process's own announcement
        of a table at `base` (None: at any address) that turned out not to be
        a valid table of its own."""
        if self._procs is None or pid in self._tables:
            return
        try:
            if base is None or self._procs[ctypes.c_uint32(pid)].base == base:
                del self._procs[ctypes.c_uint32(pid)]
        except KeyError:
            pass

    def _unreadable(self, pid: int, err: Exception) -> None:
        self.unreadable += 1
        if pid not in self._warned:
            self._warned.add(pid)
            log.warning("pid %d has a thread-context table the agent cannot read: %s",
                        pid, err)

    def forget(self, pid: int) -> None:
        """Drops an exited process (or one whose table went away)."""
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
        for pid in list(self._tables):
            self.forget(pid)

    # -- draining -----------------------------------------------------------
    def drain(self) -> list[RingRecord]:
        """The records appended to every ring since the last drain."""
        out: list[RingRecord] = []
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
        safe_from = max(first, head_now - n + 1)
        if safe_from > first:
            self._lost(t, min(safe_from, head) - first)
        refreshed = False
        i = max(first, safe_from)
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
