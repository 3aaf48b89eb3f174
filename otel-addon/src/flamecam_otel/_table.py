"""The shared-memory table and the per-thread writer (docs/TRACE_CONTEXT.md).

The process keeps one memfd mapping, `/memfd:flamecam-tracectx`, that the
Flamecam agent finds in /proc/PID/maps. Each thread that serves a span owns a
64-byte slot; the agent's BPF programs read the slot of the thread they
interrupt, in kernel time. Whenever a thread stops serving a span, the
interval goes into a ring the agent drains through /proc/PID/mem.

Everything here runs on every context attach and detach, so the common case
(the span did not change) is one dict lookup, one thread-local lookup and an
identity test; a change costs a few struct writes and, when a span was being
served, one ring append.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
import threading
import time
from typing import Any

from ._announce import announce
from ._layout import (
    APPROXIMATE,
    COMMIT_MASK,
    FLAGS_OFFSET,
    HEADER,
    HEADER_SIZE,
    MAGIC,
    MAX_PROBES,
    MAX_RING_RECORDS,
    MAX_SLOTS,
    MEMFD_NAME,
    RECORD,
    RECORD_SIZE,
    RING_HEAD_OFFSET,
    SLOT_BODY,
    SLOT_BODY_OFFSET,
    SLOT_SEQ,
    SLOT_SIZE,
    SLOT_TID,
    U32,
    U64,
    UNSLOTTED_OFFSET,
    VERSION,
    table_size,
)

_SEQ_MASK = 0xFFFFFFFF
_NO_TRACE = bytes(16)
_NO_SPAN = bytes(8)
_monotonic_ns = time.monotonic_ns


class TraceTable:
    """One process's table: a memfd mapped MAP_SHARED, header, slots and ring."""

    def __init__(self, nslots: int, ring_records: int) -> None:
        for name, n, cap in (("nslots", nslots, MAX_SLOTS),
                             ("ring_records", ring_records, MAX_RING_RECORDS)):
            if n < 1 or n & (n - 1) or n > cap:
                raise ValueError(f"{name} must be a power of two up to {cap}, not {n}")
        self.nslots = nslots
        self.ring_records = ring_records
        self.pid = os.getpid()
        self.closed = False
        size = table_size(nslots, ring_records)
        fd = os.memfd_create(MEMFD_NAME, os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, size)
            self.mm = mmap.mmap(fd, size, flags=mmap.MAP_SHARED,
                                prot=mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)  # the mapping keeps the memfd alive; nothing leaks into children
        self._slot_mask = nslots - 1
        self._ring_mask = ring_records - 1
        self._ring_base = HEADER_SIZE + nslots * SLOT_SIZE
        self._reserved = 0
        self._flags = 0
        self._unslotted = 0
        # Appends from different threads must not share a record number. An
        # RLock, so that a signal handler that changes context while its own
        # thread is mid-append cannot deadlock (it takes the next number).
        self._ring_lock = threading.RLock()
        self._slot_lock = threading.Lock()
        HEADER.pack_into(self.mm, 0, bytes(8), VERSION, HEADER_SIZE, nslots, SLOT_SIZE,
                         ring_records, RECORD_SIZE, 0, self.pid, 0, 0)
        self.mm[0:8] = MAGIC  # last: a reader that sees the magic sees a whole header
        # The agents running register it now, not at their next look at
        # /proc, so the first request is linked; `agents` says how many did.
        self.agents = announce(_address(self.mm), nslots)

    # -- slots ---------------------------------------------------------------
    def claim(self, tid: int) -> tuple[Any, int, int]:
        """A slot for thread `tid`: (buffer, offset, seq). A thread that finds no
        slot within MAX_PROBES writes into a private scratch slot instead (the
        header counts it) and its intervals still reach the ring."""
        with self._slot_lock:
            mm = self.mm
            chosen = None
            for i in range(MAX_PROBES):
                off = HEADER_SIZE + ((tid + i) & self._slot_mask) * SLOT_SIZE
                owner = SLOT_TID.unpack_from(mm, off)[0]
                if owner == tid:  # left by an earlier thread with this tid: take it over
                    chosen = off
                    break
                if owner == 0 and chosen is None:
                    chosen = off
            if chosen is None:
                self._unslotted += 1
                U32.pack_into(mm, UNSLOTTED_OFFSET, self._unslotted)
                return bytearray(SLOT_SIZE), 0, 0
            seq = SLOT_SEQ.unpack_from(mm, chosen + 4)[0] | 1
            SLOT_SEQ.pack_into(mm, chosen + 4, seq)
            SLOT_BODY.pack_into(mm, chosen + SLOT_BODY_OFFSET, _NO_TRACE, _NO_SPAN, 0, 0)
            SLOT_TID.pack_into(mm, chosen, tid)
            seq = (seq + 1) & _SEQ_MASK
            SLOT_SEQ.pack_into(mm, chosen + 4, seq)
            return mm, chosen, seq

    def release(self, state: ThreadState) -> None:
        """The thread is gone: close its open interval and free its slot, unless
        a new thread with the same tid has taken the slot over meanwhile."""
        if self.closed or self.pid != os.getpid():
            return
        if state.trace is not None:
            self.append(state.tid, state.trace, state.span_id, state.since, _monotonic_ns(),
                        state.flags)
        if state.buf is not self.mm:
            return
        with self._slot_lock:
            off = state.off
            if (SLOT_TID.unpack_from(self.mm, off)[0] != state.tid
                    or SLOT_SEQ.unpack_from(self.mm, off + 4)[0] != state.seq):
                return
            SLOT_SEQ.pack_into(self.mm, off + 4, state.seq + 1)
            SLOT_BODY.pack_into(self.mm, off + SLOT_BODY_OFFSET, _NO_TRACE, _NO_SPAN, 0, 0)
            SLOT_TID.pack_into(self.mm, off, 0)
            SLOT_SEQ.pack_into(self.mm, off + 4, (state.seq + 2) & _SEQ_MASK)

    # -- ring ----------------------------------------------------------------
    def append(self, tid: int, trace: bytes, span_id: bytes, start_ns: int, end_ns: int,
               flags: int) -> None:
        """Thread `tid` served span `span_id` from start_ns to end_ns."""
        with self._ring_lock:
            n = self._reserved
            self._reserved = n + 1
            RECORD.pack_into(self.mm, self._ring_base + (n & self._ring_mask) * RECORD_SIZE,
                             tid, (n & COMMIT_MASK) | (flags << 31), trace, span_id,
                             start_ns, end_ns)
            U64.pack_into(self.mm, RING_HEAD_OFFSET, self._reserved)

    def set_flag(self, bit: int) -> None:
        with self._slot_lock:
            self._flags |= bit
            U32.pack_into(self.mm, FLAGS_OFFSET, self._flags)

    @property
    def flags(self) -> int:
        return self._flags

    def abandon(self) -> None:
        """Unmap without writing (a forked child must not touch its parent's table)."""
        self.closed = True
        try:
            self.mm.close()
        except (BufferError, ValueError):
            pass


def _address(mm: mmap.mmap) -> int:
    """Where the mapping starts in this process."""
    view = ctypes.c_char.from_buffer(mm)
    try:
        return ctypes.addressof(view)
    finally:
        del view  # releases the export: the mapping can be closed again


class ThreadState:
    """What one thread last wrote: its slot and the span it serves since when.

    Lives in a threading.local, so CPython drops it when the thread ends;
    __del__ then frees the slot."""

    __slots__ = ("table", "buf", "off", "seq", "tid", "span", "trace", "span_id", "since",
                 "flags", "prev_span", "prev_trace", "prev_span_id")

    def __init__(self, table: TraceTable, tid: int) -> None:
        self.table = table
        self.tid = tid
        self.buf, self.off, self.seq = table.claim(tid)
        self.span: object = None
        self.trace: bytes | None = None
        self.span_id: bytes = _NO_SPAN
        self.since = 0
        self.flags = 0
        # The span served before the current one, with its ids: a child span's
        # end returns to it, so the ids need not be computed again.
        self.prev_span: object = None
        self.prev_trace: bytes | None = None
        self.prev_span_id: bytes = _NO_SPAN

    def __del__(self) -> None:
        try:
            self.table.release(self)
        except Exception:  # interpreter shutdown, unmapped table: nothing left to tell
            pass


class ThreadContextWriter:
    """Writes the calling thread's slot and the ring as its OTel context changes."""

    def __init__(self, nslots: int, ring_records: int) -> None:
        self.span_key = ""  # where the OTel API keeps the span in a Context; set before sync
        self.table = TraceTable(nslots, ring_records)
        self._tls = threading.local()
        self._running_loop = None  # asyncio's _get_running_loop, once asyncio is imported

    def sync(self, context: dict) -> None:
        """The calling thread's OTel context is now `context`: publish its span."""
        span = context.get(self.span_key)
        try:
            st = self._tls.state
        except AttributeError:
            if span is None:  # serves nothing and never did: no slot needed yet
                return
            st = self._tls.state = ThreadState(self.table, threading.get_native_id())
        old = st.span
        if span is old:
            return
        trace, span_id = None, _NO_SPAN
        # A span serves only while it records: not after its end (a thread left
        # in an ended span's context is idle), not a remote parent (not ours),
        # not unsampled (never exported).
        if span is not None and span.is_recording():
            if span is st.prev_span:  # back to the span before (a child ended): ids known
                trace, span_id = st.prev_trace, st.prev_span_id
            else:
                sc = span.get_span_context()
                if sc.is_valid and sc.trace_flags.sampled:
                    trace = sc.trace_id.to_bytes(16, "big")
                    span_id = sc.span_id.to_bytes(8, "big")
        st.prev_span, st.prev_trace, st.prev_span_id = old, st.trace, st.span_id
        st.span = span
        if span_id == st.span_id and trace == st.trace:
            return
        now = _monotonic_ns()
        flags = self._approximate()
        try:
            if st.trace is not None:
                st.table.append(st.tid, st.trace, st.span_id, st.since, now, st.flags)
            buf, off, seq = st.buf, st.off, st.seq
            SLOT_SEQ.pack_into(buf, off + 4, seq + 1)
            SLOT_BODY.pack_into(buf, off + SLOT_BODY_OFFSET, trace or _NO_TRACE, span_id, now,
                                flags)
            st.seq = seq = (seq + 2) & _SEQ_MASK
            SLOT_SEQ.pack_into(buf, off + 4, seq)
        except ValueError:  # the table was closed under us (uninstrument): stay silent
            return
        st.trace, st.span_id, st.since, st.flags = trace, span_id, now, flags

    def _approximate(self) -> int:
        """APPROXIMATE when called inside a running asyncio event loop: tasks
        share the thread and switch without telling the context API (3.11-3.13
        have no context watcher), so the slot is the last attach, not
        necessarily the task running now."""
        probe = self._running_loop
        if probe is None:
            events = sys.modules.get("asyncio.events")
            if events is None:
                return 0
            probe = self._running_loop = events._get_running_loop
        if probe() is None:
            return 0
        if not self.table.flags & APPROXIMATE:
            self.table.set_flag(APPROXIMATE)
        return APPROXIMATE

    def after_fork_in_child(self, context: dict | None) -> None:
        """A forked child gets its own table; the parent's mapping is unmapped.
        `context`: the forking thread's, to publish (None before any attach)."""
        old = self.table
        self.table = TraceTable(old.nslots, old.ring_records)
        self._tls = threading.local()
        old.abandon()
        if context is not None:
            self.sync(context)

    def close(self) -> None:
        self.table.abandon()
