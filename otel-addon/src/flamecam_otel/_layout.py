"""The table's byte layout, as this writer emits it (docs/TRACE_CONTEXT.md, version 1).

Flamecam's reader (profiler/tracectx.py) holds its own copy of these numbers so
that the agent never imports OpenTelemetry; tests/otel/test_layout.py pins the
two to each other.
"""

from __future__ import annotations

import struct

MEMFD_NAME = "flamecam-tracectx"
MAGIC = b"FCTRACE1"
VERSION = 1
# The announcement, over each agent's abstract Unix socket named SOCKET_PREFIX
# + anything: magic, version, pid, tid, nslots, the table's address; the agent
# answers one byte, ACK_REGISTERED or ACK_REFUSED.
SOCKET_PREFIX = "flamecam-tracectx."
ANNOUNCE = struct.Struct("<8sIIIIQ")
ACK_REGISTERED, ACK_REFUSED = b"\x01", b"\x00"

# Header: magic, version, header_size, nslots, slot_size, ring_records,
# record_size, ring_head (u64), pid, flags, unslotted, 12 reserved bytes.
HEADER = struct.Struct("<8sIIIIIIQIII12x")
HEADER_SIZE = 64
RING_HEAD_OFFSET = 32
FLAGS_OFFSET = 44
UNSLOTTED_OFFSET = 48

# Slot: tid, seq, trace_id[16], span_id[8], since_ns, flags, 20 reserved bytes.
SLOT_SIZE = 64
SLOT_TID = struct.Struct("<I")  # at 0
SLOT_SEQ = struct.Struct("<I")  # at 4
SLOT_BODY = struct.Struct("<16s8sQI")  # at 8: trace_id, span_id, since_ns, flags
SLOT_BODY_OFFSET = 8
MAX_PROBES = 8

# Ring record: tid, commit, trace_id[16], span_id[8], start_ns, end_ns.
RECORD = struct.Struct("<II16s8sQQ")
RECORD_SIZE = 48
COMMIT_MASK = 0x7FFFFFFF  # commit = (n & COMMIT_MASK) | APPROXIMATE << 31

U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")

APPROXIMATE = 1  # header flags bit 0, slot flags bit 0, record commit bit 31

DEFAULT_SLOTS = 1024
DEFAULT_RING_RECORDS = 16384
# The protocol's bound on both (docs/TRACE_CONTEXT.md); readers refuse larger tables.
MAX_SLOTS = MAX_RING_RECORDS = 1 << 24

assert HEADER.size == HEADER_SIZE and RECORD.size == RECORD_SIZE
assert SLOT_BODY_OFFSET + SLOT_BODY.size <= SLOT_SIZE


def table_size(nslots: int, ring_records: int) -> int:
    return HEADER_SIZE + nslots * SLOT_SIZE + ring_records * RECORD_SIZE
