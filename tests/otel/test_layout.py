"""The writer's layout (flamecam_otel._layout) and the reader's (profiler.tracectx)
are two copies of one definition: pinned here, and read back end to end."""

from __future__ import annotations

import os
import re
from pathlib import Path

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


def test_announcement_constants_agree_with_the_bpf_side():
    """The prctl announcement's magic and slot limit, as bpf/procs.c checks them."""
    src = (Path(__file__).parents[2] / "bpf" / "procs.c").read_text()
    magic = re.search(r"#define TRACECTX_MAGIC (0x[0-9a-fA-F]+)ULL", src)
    assert magic and int(magic.group(1), 16) == w.ANNOUNCE_MAGIC == 0x3145434152544346
    limit = re.search(r"#define TRACECTX_MAX_SLOTS \(1ULL << (\d+)\)", src)
    assert limit and 1 << int(limit.group(1)) == w.MAX_SLOTS


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
