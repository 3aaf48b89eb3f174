"""Reading a live thread-context table from outside its process, for the tests.

The agent reads tables through the sampler (profiler/sampler/tracectx.py);
the tests look at one as a whole: its mappings found through
profiler/procfs.py and its bytes parsed by profiler/tracectx.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from profiler import procfs
from profiler.tracectx import (
    HEADER_SIZE,
    MEMFD_NAME,
    RING_HEAD_OFFSET,
    U64,
    Header,
    RingRead,
    Slot,
    parse_header,
    parse_slots,
    read_ring,
    slot_of,
)


@dataclass(frozen=True)
class Snapshot:
    """One read of a live table through /proc/PID/mem."""

    address: int
    header: Header
    data: bytes
    head_after: int

    def slots(self) -> list[Slot]:
        return parse_slots(self.data, self.header)

    def slot_of(self, tid: int) -> Slot | None:
        return slot_of(self.data, self.header, tid)

    def ring(self, tail: int = 0) -> RingRead:
        return read_ring(self.data, self.header, tail, self.head_after)


def find_tables(pid: int) -> list[tuple[int, int]]:
    """(start, end) of each mapping of a table in process `pid` (usually one)."""
    return [(m.start, m.end) for m in procfs.read_maps(pid) or ()
            if m.file_path == f"/memfd:{MEMFD_NAME}"]


def read_table(pid: int, address: int) -> Snapshot:
    """Copy the table mapped at `address` in process `pid` (needs ptrace access:
    root, or the same user with ptrace_scope 0)."""
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        mem.seek(address)
        header = parse_header(mem.read(HEADER_SIZE))
        mem.seek(address)
        data = mem.read(header.size)
        header = parse_header(data)
        mem.seek(address + RING_HEAD_OFFSET)
        head_after = U64.unpack(mem.read(8))[0]
    return Snapshot(address, header, data, head_after)
