"""Reading a JVM's hsperfdata counters to learn when the JIT compiled code.

HotSpot publishes its performance counters in a memory-mapped file
(`/tmp/hsperfdata_<user>/<nspid>`, what jstat reads). Reading the compile
count from it costs one small file read and no attach, so the perf map is
re-dumped only when something new was compiled. Missing file
(-XX:-UsePerfData) -> None, and callers fall back to a time-based refresh.
"""

from __future__ import annotations

import glob
import struct

from profiler.procfs import namespace_pid

_PROLOGUE = struct.Struct(">IBBBBIIqII")  # magic is big-endian 0xcafec0c0
_ENTRY = struct.Struct("<iiiBBBBi")


def _path(pid: int) -> str | None:
    hits = glob.glob(f"/proc/{pid}/root/tmp/hsperfdata_*/{namespace_pid(pid)}")
    return hits[0] if hits else None


def read_counters(pid: int, names: tuple[str, ...]) -> dict[str, int]:
    """Long counters `names` of the JVM `pid` ({} when unavailable)."""
    path = _path(pid)
    if path is None:
        return {}
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError:
        return {}
    if len(data) < 32 or data[:4] != b"\xca\xfe\xc0\xc0":
        return {}
    little = data[4] == 1
    prologue = struct.unpack_from(("<" if little else ">") + "IBBBBIIqII", data, 0)
    entry_offset, num_entries = prologue[8], prologue[9]
    fmt = ("<" if little else ">") + "iiiBBBBi"
    out: dict[str, int] = {}
    off = entry_offset
    for _ in range(num_entries):
        if off + 20 > len(data):
            break
        length, name_off, vlen, dtype, _flags, _units, _var, data_off = \
            struct.unpack_from(fmt, data, off)
        if length <= 0:
            break
        end = data.find(b"\0", off + name_off)
        name = data[off + name_off:end].decode("ascii", "replace")
        if name in names and dtype == ord("J") and vlen == 0:
            out[name] = struct.unpack_from(("<" if little else ">") + "q", data, off + data_off)[0]
        off += length
    return out


COMPILE_COUNTERS = ("sun.ci.totalCompiles", "java.ci.totalTime")


def compile_stamp(pid: int) -> tuple[int, ...] | None:
    """Changes whenever the JIT compiled something (None when unknown)."""
    c = read_counters(pid, COMPILE_COUNTERS)
    return tuple(c.get(n, 0) for n in COMPILE_COUNTERS) if c else None
