"""The writer's layout (flamecam_otel._layout) and the reader's (profiler.tracectx)
are two copies of one definition: pinned here, and read back end to end."""

from __future__ import annotations

import os

import pytest
from flamecam_otel import _layout as w
from flamecam_otel._table import TraceTable

from profiler import tracectx as r

from .tables import find_tables, read_table


def test_constants_agree():
    for name in ("MEMFD_NAME", "MAGIC", "VERSION", "HEADER_SIZE", "SLOT_SIZE", "RECORD_SIZE",
                 "RING_HEAD_OFFSET", "COMMIT_MASK", "MAX_PROBES", "APPROXIMATE", "MAX_SLOTS",
                 "MAX_RING_RECORDS"):
        assert getattr(w, name) == getattr(r, name), name
    assert w.HEADER.format == r.HEADER.format and w.RECORD.format == r.RECORD.format


def test_announcement_agrees_with_the_agent():
    """The writer's announcement message, as the agent parses it."""
    assert (w.SOCKET_PREFIX, w.ACK_REGISTERED, w.ACK_REFUSED) == (
        r.SOCKET_PREFIX, r.ACK_REGISTERED, r.ACK_REFUSED)
    assert w.ANNOUNCE.format == r.ANNOUNCE.format and w.ANNOUNCE.size == 32
    msg = w.ANNOUNCE.pack(w.MAGIC, w.VERSION, 4321, 4322, 1024, 0x7F0000001000)
    assert r.parse_announcement(msg) == r.Announcement(4321, 4322, 1024, 0x7F0000001000)
    for bad in (msg[:-1], msg + b"x", b"FCTRACE2" + msg[8:],
                w.ANNOUNCE.pack(w.MAGIC, w.VERSION, 4321, 4322, 1000, 0x1000),
                w.ANNOUNCE.pack(w.MAGIC, w.VERSION, 4321, 4322, 1 << 25, 0x1000),
                w.ANNOUNCE.pack(w.MAGIC, w.VERSION, 0, 4322, 1024, 0x1000)):
        with pytest.raises(ValueError):
            r.parse_announcement(bad)


def test_written_table_reads_back():
    table = TraceTable(8, 4)
    try:
        buf, off, _ = table.claim(12345)
        assert buf is table.mm
        for n in range(6):  # wraps the 4-record ring
            table.append(12345, bytes([n]) * 16, bytes([n]) * 8, n, n + 1, n % 2)
        (start, _end), = [m for m in find_tables(os.getpid())
                          if m[1] - m[0] >= w.table_size(8, 4)][-1:]
        snap = read_table(os.getpid(), start)
        assert snap.header.pid == os.getpid() and snap.header.ring_head == 6
        slot = snap.slot_of(12345)
        assert slot is not None and slot.stable and not slot.serving
        ring = snap.ring(0)
        assert ring.lost == 3 and ring.tail == 6  # records 0-2 overwritten (one of margin)
        assert [(i.n, i.start_ns, i.approximate) for i in ring.intervals] == [
            (3, 3, True), (4, 4, False), (5, 5, True)]
    finally:
        table.abandon()
