"""Reader of the thread-context table that instrumented apps publish
(docs/TRACE_CONTEXT.md): which trace and span each thread serves now, and the
intervals during which threads served spans.

Pure Python with no OpenTelemetry import, for the agent and the tests. The
writer (otel-addon/src/flamecam_otel/_layout.py) keeps its own copy of the
layout; tests/otel/test_layout.py pins the two together.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MEMFD_NAME = "flamecam-tracectx"
MAGIC = b"FCTRACE1"
VERSION = 1

HEADER = struct.Struct("<8sIIIIIIQIII12x")
HEADER_SIZE = 64
RING_HEAD_OFFSET = 32
SLOT_SIZE = 64
SLOT = struct.Struct("<II16s8sQI")  # tid, seq, trace_id, span_id, since_ns, flags
RECORD_SIZE = 48
RECORD = struct.Struct("<II16s8sQQ")  # tid, commit, trace_id, span_id, start_ns, end_ns
COMMIT_MASK = 0x7FFFFFFF
MAX_PROBES = 8
APPROXIMATE = 1
U64 = struct.Struct("<Q")
# The protocol's bound on nslots and ring_records, for every reader (the agent
# included) and the writer: a table over it is refused, not read in part.
MAX_SLOTS = MAX_RING_RECORDS = 1 << 24

# The announcement (docs/TRACE_CONTEXT.md, "Discovery"): a writer connects to
# each agent's abstract Unix stream socket named SOCKET_PREFIX + a suffix the
# agent picks, sends one ANNOUNCE message (magic, version, its pid and tid as
# its own pid namespace numbers them, nslots, the table's address) and reads
# one byte back: ACK_REGISTERED when the agent registered the table (the
# thread's next sample is linked), ACK_REFUSED when not.
SOCKET_PREFIX = "flamecam-tracectx."
ANNOUNCE = struct.Struct("<8sIIIIQ")
ACK_REGISTERED, ACK_REFUSED = b"\x01", b"\x00"


@dataclass(frozen=True)
class Announcement:
    pid: int  # the sender's getpid(), in its own pid namespace
    tid: int  # the sending thread's gettid(), likewise
    nslots: int
    base: int  # the table's address in the sender


def parse_announcement(buf: bytes) -> Announcement:
    """An announcement message; ValueError when `buf` is not exactly one."""
    if len(buf) != ANNOUNCE.size:
        raise ValueError(f"an announcement is {ANNOUNCE.size} bytes, not {len(buf)}")
    magic, version, pid, tid, nslots, base = ANNOUNCE.unpack(buf)
    if magic != MAGIC or version != VERSION:
        raise ValueError("not a version 1 announcement")
    if not pid or not tid or not base:
        raise ValueError("pid, tid and base must be set")
    if nslots < 1 or nslots & (nslots - 1) or nslots > MAX_SLOTS:
        raise ValueError(f"nslots {nslots} is not a power of two up to {MAX_SLOTS}")
    return Announcement(pid, tid, nslots, base)


@dataclass(frozen=True)
class Header:
    version: int
    nslots: int
    slot_size: int
    ring_records: int
    record_size: int
    ring_head: int
    pid: int
    flags: int
    unslotted: int  # threads that found no slot within MAX_PROBES (their samples go unlinked)

    @property
    def approximate(self) -> bool:
        return bool(self.flags & APPROXIMATE)

    @property
    def ring_offset(self) -> int:
        return HEADER_SIZE + self.nslots * self.slot_size

    @property
    def size(self) -> int:
        return self.ring_offset + self.ring_records * self.record_size


@dataclass(frozen=True)
class Slot:
    tid: int
    seq: int
    trace_id: bytes  # 16 bytes, W3C/OTLP order; all zero when serving no span
    span_id: bytes
    since_ns: int  # CLOCK_MONOTONIC
    flags: int

    @property
    def stable(self) -> bool:
        """False while its thread was mid-update (odd seq): read it again."""
        return not self.seq & 1

    @property
    def serving(self) -> bool:
        return self.trace_id != bytes(16)

    @property
    def approximate(self) -> bool:
        return bool(self.flags & APPROXIMATE)


@dataclass(frozen=True)
class Interval:
    """Thread `tid` served span `span_id` of `trace_id` from start_ns to end_ns."""

    n: int  # record number in the ring
    tid: int
    trace_id: bytes
    span_id: bytes
    start_ns: int
    end_ns: int
    approximate: bool


@dataclass(frozen=True)
class RingRead:
    intervals: list[Interval]
    lost: int  # records overwritten before this reader saw them
    tail: int  # where the next read starts


def parse_header(buf: bytes) -> Header:
    """The header of a table; ValueError when `buf` is not one this reader knows."""
    if len(buf) < HEADER_SIZE:
        raise ValueError("shorter than a table header")
    (magic, version, header_size, nslots, slot_size, ring_records, record_size, head, pid,
     flags, unslotted) = HEADER.unpack_from(buf, 0)
    if magic != MAGIC:
        raise ValueError("no FCTRACE1 magic")
    if version != VERSION:
        raise ValueError(f"table version {version}, this reader knows {VERSION}")
    if header_size != HEADER_SIZE or slot_size < SLOT.size or record_size < RECORD.size:
        raise ValueError("header, slot or record smaller than version 1 defines")
    for name, n, cap in (("nslots", nslots, MAX_SLOTS),
                         ("ring_records", ring_records, MAX_RING_RECORDS)):
        if n < 1 or n & (n - 1) or n > cap:
            raise ValueError(f"{name} {n} is not a power of two up to {cap}")
    return Header(version, nslots, slot_size, ring_records, record_size, head, pid, flags,
                  unslotted)


def _slot_at(buf: bytes, header: Header, index: int) -> Slot:
    return Slot(*SLOT.unpack_from(buf, HEADER_SIZE + index * header.slot_size))


def parse_slots(buf: bytes, header: Header) -> list[Slot]:
    """Every claimed slot (tid != 0), in table order."""
    out = []
    for i in range(header.nslots):
        off = HEADER_SIZE + i * header.slot_size
        if struct.unpack_from("<I", buf, off)[0]:
            out.append(_slot_at(buf, header, i))
    return out


def slot_of(buf: bytes, header: Header, tid: int) -> Slot | None:
    """The slot of thread `tid` (its id in the process's own pid namespace),
    found the way the BPF programs find it: start at tid & (nslots-1) and probe
    MAX_PROBES slots, never stopping early at a free one (freed slots leave
    holes)."""
    for i in range(MAX_PROBES):
        slot = _slot_at(buf, header, (tid + i) & (header.nslots - 1))
        if slot.tid == tid:
            return slot
    return None


def read_ring(buf: bytes, header: Header, tail: int, head_after: int | None = None) -> RingRead:
    """Intervals appended since `tail`, from a copy of the table.

    `header` is parsed from the start of the copy (its ring_head was read
    before the ring); `head_after` is ring_head read again after the copy. A
    record n is trusted only if no writer can have started overwriting it
    (n > head_after - ring_records) and its commit field says n; a record not
    yet committed ends this read (the next one starts there)."""
    head = header.ring_head
    after = head if head_after is None else max(head_after, head)
    records = header.ring_records
    if tail > head:  # a reader's tail from another table (the process was replaced)
        tail = head
    oldest = max(tail, after - records + 1)
    lost = oldest - tail
    out = []
    n = oldest
    while n < head:
        off = header.ring_offset + (n & (records - 1)) * header.record_size
        tid, commit, trace_id, span_id, start, end = RECORD.unpack_from(buf, off)
        if commit & COMMIT_MASK != n & COMMIT_MASK:
            break
        out.append(Interval(n, tid, trace_id, span_id, start, end, bool(commit >> 31)))
        n += 1
    return RingRead(out, lost, n)
