"""Sample blocks: the compressed unit of storage.

A block holds the samples of one series over one time window, in two parts:

* `raw`: every sample as columns (timestamp, stack id, value, count, pid, tid,
  cpu, thread name, comm, off-CPU reason, free labels), sorted by time. Columns
  are byte-shuffled before zstd, which is what makes ~3 bytes/sample possible
  without numpy: equal high bytes of neighbouring integers end up adjacent.
  Timestamps are kept at microsecond precision.
* `agg`: the same data pre-aggregated as stack id -> value, for the whole block
  and per time bucket, plus per-bucket totals and per-thread totals. Queries
  over whole buckets never touch `raw`, so a merged flame graph costs one small
  table per block rather than one row per sample.
"""

from __future__ import annotations

import json
import struct
import threading
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate, repeat
from operator import floordiv, sub

import zstandard

from profiler.store.columns import I63, SampleColumns

_HEADER = struct.Struct("<I")
# zstandard's (de)compressor objects must not be shared between threads, and
# the server writes and reads blocks from many: one set per thread.
_local = threading.local()


def _zc(level: int) -> zstandard.ZstdCompressor:
    cs = _local.__dict__.setdefault("zc", {})
    c = cs.get(level)
    if c is None:
        c = cs[level] = zstandard.ZstdCompressor(level=level)
    return c


def _zd() -> zstandard.ZstdDecompressor:
    d = _local.__dict__.get("zd")
    if d is None:
        d = _local.zd = zstandard.ZstdDecompressor()
    return d
MAX_BLOCK_BYTES = 512 << 20

# Block levels: as ingested (one per write), compacted into a window, and
# downsampled (aggregates only, no per-sample columns left).
LEVEL_INGESTED, LEVEL_COMPACTED, LEVEL_DOWNSAMPLED = 0, 1, 2

RAW_COLUMNS = (
    ("ts", "q"),      # µs since block start; stored as deltas
    ("stack", "I"),
    ("value", "q"),
    ("count", "I"),
    ("pid", "q"),     # int64: some clients send 64-bit pthread ids as tid
    ("tid", "q"),
    ("cpu", "I"),
    ("thread", "I"),  # index into strings
    ("comm", "I"),
    ("reason", "I"),
    ("labels", "I"),  # index into strings: a JSON object, or "" for none
)


def saturated(values) -> array:
    """Sums as int64, each saturated at the int64 bounds.

    Values are clamped one by one at ingest, but sums of them (a stack's
    total, a bucket's, a thread's) can still pass int64, once two pushes of
    6e18 ns meet in one compacted block: they are kept at the bound rather
    than failing the write or the compaction.
    """
    values = list(values)  # from a list in one C pass; a dict view goes item by item
    try:
        return array("q", values)
    except OverflowError:
        return array("q", [max(-I63 - 1, min(v, I63)) for v in values])


def saturate(v: int) -> int:
    """One sum as `saturated` keeps it."""
    return max(-I63 - 1, min(v, I63))


def _shuffle(a: array) -> bytes:
    b = a.tobytes()
    w = a.itemsize
    return b"".join(b[i::w] for i in range(w))


def _unshuffle(b: bytes, code: str, n: int) -> array:
    out = array(code)
    w = out.itemsize
    if n == 0:
        return out
    buf = bytearray(n * w)
    for i in range(w):
        buf[i::w] = b[i * n:(i + 1) * n]
    out.frombytes(bytes(buf))
    return out


def _compress(header: dict, arrays: list[array], level: int) -> bytes:
    h = json.dumps(header, separators=(",", ":")).encode()
    body = b"".join(_shuffle(a) for a in arrays)
    return _zc(level).compress(_HEADER.pack(len(h)) + h + body)


def _decompress(blob: bytes) -> tuple[dict, memoryview]:
    data = _zd().decompress(blob, max_output_size=MAX_BLOCK_BYTES)
    (hlen,) = _HEADER.unpack_from(data)
    header = json.loads(data[4:4 + hlen])
    return header, memoryview(data)[4 + hlen:]


RAW_V2 = b"FCR2"


def encode_raw(cols: SampleColumns, level: int = 3,
               chunks: list[tuple[int, int]] | None = None) -> bytes:
    """Per-sample columns as independent zstd chunks (one per aggregate bucket).

    Layout: b"FCR2", u32 header length, zstd(JSON header: n, strings, and per
    chunk [first index, end index, first ts in µs, byte length]), then the
    chunks. A query cut by a range edge decompresses only the chunk it cuts.
    """
    n = len(cols.ts)
    us = list(map(floordiv, cols.ts, repeat(1000)))
    index, frames = [], []
    for i, j in chunks or [(0, n)]:
        if j <= i:
            continue
        base = us[i]
        deltas = array("q", [0, *map(sub, us[i + 1:j], us[i:j - 1])])
        arrays = [deltas] + [getattr(cols, name)[i:j] for name, _ in RAW_COLUMNS[1:]]
        frame = _zc(level).compress(b"".join(_shuffle(a) for a in arrays))
        index.append([i, j, base, len(frame)])
        frames.append(frame)
    header = _zc(level).compress(json.dumps({"n": n, "s": cols.strings, "c": index},
                                            separators=(",", ":")).encode())
    return RAW_V2 + _HEADER.pack(len(header)) + header + b"".join(frames)


def _raw_header(blob: bytes) -> tuple[dict, int]:
    (hlen,) = _HEADER.unpack_from(blob, 4)
    header = json.loads(_zd().decompress(blob[8:8 + hlen], max_output_size=MAX_BLOCK_BYTES))
    return header, 8 + hlen


def _chunk_arrays(blob: bytes, pos: int, length: int, m: int, names: tuple[str, ...]
                  ) -> dict[str, array]:
    body = _zd().decompress(blob[pos:pos + length], max_output_size=MAX_BLOCK_BYTES)
    out = {}
    off = 0
    for name, code in RAW_COLUMNS:
        width = array(code).itemsize * m
        if name in names:
            out[name] = _unshuffle(body[off:off + width], code, m)
        off += width
    return out


def decode_raw(blob: bytes) -> SampleColumns:
    blob = bytes(blob)
    if not blob.startswith(RAW_V2):
        return _decode_raw_v1(blob)
    header, pos = _raw_header(blob)
    cols = SampleColumns(strings=header["s"])
    names = tuple(name for name, _ in RAW_COLUMNS)
    for i, j, base, length in header["c"]:
        part = _chunk_arrays(blob, pos, length, j - i, names)
        pos += length
        cols.ts.extend((base + d) * 1000 for d in accumulate(part["ts"]))
        for name, _ in RAW_COLUMNS[1:]:
            getattr(cols, name).extend(part[name])
    return cols


def _decode_raw_v1(blob: bytes) -> SampleColumns:
    header, body = _decompress(blob)
    n = header["n"]
    cols = SampleColumns(strings=header["s"])
    pos = 0
    for name, code in RAW_COLUMNS:
        width = array(code).itemsize * n
        a = _unshuffle(bytes(body[pos:pos + width]), code, n)
        pos += width
        if name == "ts":
            t0 = header["t0"]
            cols.ts = [(t0 + us) * 1000 for us in accumulate(a)]
        else:
            setattr(cols, name, a)
    return cols


class EdgeReader:
    """Timestamps, stacks and values of the samples of one bucket span, on demand."""

    def __init__(self, blob: bytes) -> None:
        self.blob = bytes(blob)
        self.v2 = self.blob.startswith(RAW_V2)
        self._cache: dict[tuple[int, int], tuple[list[int], array, array]] = {}
        if self.v2:
            header, pos = _raw_header(self.blob)
            self.chunks = {}
            for i, j, base, length in header["c"]:
                self.chunks[(i, j)] = (pos, length, base)
                pos += length
        else:
            self.full = _decode_raw_v1(self.blob)

    def span(self, start: int, end: int) -> tuple[list[int], array, array]:
        got = self._cache.get((start, end))
        if got is not None:
            return got
        c = self.chunks.get((start, end)) if self.v2 else None
        if c is not None:
            pos, length, base = c
            part = _chunk_arrays(self.blob, pos, length, end - start, ("ts", "stack", "value"))
            ts = [(base + d) * 1000 for d in accumulate(part["ts"])]
            got = (ts, part["stack"], part["value"])
        else:
            full = self.full if not self.v2 else self._decode_all()
            got = (full.ts[start:end], full.stack[start:end], full.value[start:end])
        self._cache[(start, end)] = got
        return got

    def _decode_all(self) -> SampleColumns:
        if not hasattr(self, "full"):
            self.full = decode_raw(self.blob)
        return self.full


class Tables(Sequence):
    """A decoded aggregate's tables, its buckets' or its threads', each
    `(*head, stacks, values)`, whose stacks and values are unshuffled when the
    table is first read: a whole-block read (a whole-host render) never looks
    at the buckets, which are over half of a compacted block's pairs, and a
    thread's view reads one thread's table of hundreds. Until then a table is
    `(*head, pairs, shuffled bytes)` (as many bytes as its arrays will take);
    concurrent first reads decode the same answer."""

    __slots__ = ("_items", "pairs")

    def __init__(self, items: list[tuple], pairs: int) -> None:
        self._items = items
        self.pairs = pairs  # stack/value pairs over all tables

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, k: int | slice) -> tuple | list[tuple]:  # as a list's
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self._items)))]
        t = self._items[k]
        if isinstance(t[-1], bytes):
            *head, m, raw = t
            t = self._items[k] = (*head, _unshuffle(raw[:4 * m], "I", m),
                                  _unshuffle(raw[4 * m:], "q", m))
        return t


def table_heads(tables: Sequence[tuple]) -> list[tuple]:
    """Each table's head (a bucket's start_ns, end_ns, total; a thread's pid,
    tid) without decoding it: a read takes only the tables it needs."""
    return [t[:-2] for t in (tables._items if isinstance(tables, Tables) else tables)]


def table_pairs(tables: Sequence[tuple]) -> int:
    """Stack/value pairs of tables (without decoding them)."""
    return tables.pairs if isinstance(tables, Tables) else sum(len(t[-2]) for t in tables)


@dataclass
class Aggregate:
    """Pre-aggregated view of one block.

    `stacks`/`values`: the whole block. `buckets`: (start_ns, end_ns, total,
    stacks, values) per time bucket (decoded ones: `Tables`). `threads`: (pid,
    tid, thread_name, comm, value, count) per thread over the whole block.
    `fine`: (first slot, totals) per FINE_NS slot, so timelines at >= 10 s
    steps never read samples.
    """

    stacks: array
    values: array
    buckets: Sequence[tuple[int, int, int, array, array]]
    threads: list[tuple[int, int, str, str, int, int]]
    fine: tuple[int, list[int]] = (0, [])
    # Per bucket: (first sample index, end index, first sample ts in ns), so a
    # bucket cut by a range edge reads only its own samples.
    spans: list[tuple[int, int, int]] = field(default_factory=list)
    # Per thread: (pid, tid, stacks, values), for per-thread and per-process
    # flame graphs without reading samples.
    thread_tables: Sequence[tuple[int, int, array, array]] = field(default_factory=list)
    # The one value every sample has when each is one event of the same value
    # (an agent's fixed sampling rate), else 0 (also for blocks written before
    # this was kept): then a stack's sum of squared event values over any part
    # of the block is weight x its value there (diff significance), without
    # reading samples.
    weight: int = 0


FINE_NS = 10 * 10**9


def aggregate(cols: SampleColumns, t_start: int, t_end: int, bucket_ns: int) -> Aggregate:
    """Build the aggregate of a block; buckets are aligned to multiples of bucket_ns."""
    total: dict[int, int] = {}
    threads: dict[tuple[int, int, int, int], list[int]] = {}
    buckets = []
    spans = []
    ts, stack, value, count = cols.ts, cols.stack, cols.value, cols.count
    n = len(ts)
    i = 0
    # Sums per bucket are built in C by dict(zip) while each stack occurs once
    # in a bucket (a pprof push); from the first bucket that repeats a stack
    # (an agent's batch, a compaction) they are added up.
    distinct = True
    while i < n:
        b_lo = max(t_start, ts[i] - ts[i] % bucket_ns)
        b_hi = min(t_end, ts[i] - ts[i] % bucket_ns + bucket_ns)
        j = bisect_left(ts, b_hi, i)
        acc: dict[int, int] = dict(zip(stack[i:j], value[i:j], strict=True)) if distinct else {}
        if len(acc) < j - i:  # (same first-seen order either way)
            distinct = False
            acc = {}
            for s, v in zip(stack[i:j], value[i:j], strict=True):
                acc[s] = acc.get(s, 0) + v
        if total:
            for s, v in acc.items():
                total[s] = total.get(s, 0) + v
        else:
            total.update(acc)
        buckets.append((b_lo, b_hi, saturate(sum(acc.values())), array("I", list(acc.keys())),
                        saturated(acc.values())))
        spans.append((i, j, ts[i]))
        i = j
    per_thread: dict[tuple[int, int], dict[int, int]] = {}
    pid, tid = cols.pid, cols.tid
    if n and all(c.count(c[0]) == n for c in (pid, tid, cols.thread, cols.comm)):
        # One thread (or none named): common for pushed profiles, and cheap.
        threads[(pid[0], tid[0], cols.thread[0], cols.comm[0])] = [saturate(sum(value)),
                                                                   sum(count)]
        per_thread[(pid[0], tid[0])] = dict(total)
    else:
        for p, t_, th, c, s, v, cnt in zip(pid, tid, cols.thread, cols.comm, stack, value,
                                            count, strict=True):
            t = threads.get((p, t_, th, c))
            if t is None:
                threads[(p, t_, th, c)] = [v, cnt]
            else:
                t[0] += v
                t[1] += cnt
            tab = per_thread.get((p, t_))
            if tab is None:
                tab = per_thread[(p, t_)] = {}
            tab[s] = tab.get(s, 0) + v
    fine: list[int] = []
    first = ts[0] // FINE_NS if n else 0
    if n and ts[-1] // FINE_NS == first:  # ts is sorted: one fine bucket
        fine.append(sum(value))
    else:
        for t, v in zip(ts, value, strict=False):
            k = t // FINE_NS - first
            while k >= len(fine):
                fine.append(0)
            fine[k] += v
    st = cols.strings
    return Aggregate(
        array("I", list(total.keys())),
        saturated(total.values()),
        buckets,
        [(p, t, st[th], st[c], saturate(v[0]), v[1]) for (p, t, th, c), v in threads.items()],
        (first, [saturate(v) for v in fine]),
        spans,
        [(p, t, array("I", list(tab.keys())), saturated(tab.values()))
         for (p, t), tab in per_thread.items()],
        weight=value[0] if n and min(count) == max(count) == 1 and min(value) == max(value)
        and value[0] > 0 else 0,
    )


def encode_agg(agg: Aggregate, level: int = 3) -> bytes:
    arrays = [agg.stacks, agg.values]
    meta = []
    for lo, hi, tot, s, v in agg.buckets:
        meta.append([lo, hi, tot, len(s)])
        arrays.extend((s, v))
    tt = []
    for pid, tid, s, v in agg.thread_tables:
        tt.append([pid, tid, len(s)])
        arrays.extend((s, v))
    header = {"n": len(agg.stacks), "b": meta, "t": agg.threads, "f": list(agg.fine),
              "s": [list(x) for x in agg.spans], "tt": tt, "w": agg.weight}
    return _compress(header, arrays, level)


def decode_agg(blob: bytes) -> Aggregate:
    header, body = _decompress(blob)
    n = header["n"]
    stacks = _unshuffle(bytes(body[:4 * n]), "I", n)
    values = _unshuffle(bytes(body[4 * n:12 * n]), "q", n)
    pos = 12 * n
    tables: list[list[tuple]] = [[], []]  # buckets, threads: each decoded when read
    for out, heads in zip(tables, (header["b"], header.get("tt", [])), strict=True):
        for *head, m in heads:
            out.append((*head, m, bytes(body[pos:pos + 12 * m])))
            pos += 12 * m
    buckets, threads = (Tables(t, sum(x[-2] for x in t)) for t in tables)
    first, fine = header.get("f") or (0, [])
    return Aggregate(stacks, values, buckets, [tuple(t) for t in header["t"]], (first, fine),
                     [tuple(x) for x in header.get("s", [])], threads, header.get("w", 0))


def add_weighted(acc: dict[int, int], stacks: array, values: array) -> None:
    """acc[stack] += value over two parallel columns.

    On-CPU samples all weigh one period, so when the values are uniform the
    sum is a count (Counter counts in C) times the value.
    """
    if not len(stacks):
        return
    if min(values) == max(values):
        v = values[0]
        for s, c in Counter(stacks).items():
            acc[s] = acc.get(s, 0) + c * v
        return
    get = acc.get
    for s, v in zip(stacks, values, strict=False):
        acc[s] = get(s, 0) + v


def add_timeline(points: list[int], origin: int, step: int, reader: EdgeReader,
                 edges: list[tuple[int, int, int, int, int]]) -> None:
    """points[(ts - origin) // step] += value for samples in each edge (as add_range)."""
    for start, end, _first, lo, hi in edges:
        ts, _stack, value = reader.span(start, end)
        for k in range(bisect_left(ts, lo), bisect_left(ts, hi)):
            points[(ts[k] - origin) // step] += value[k]


def add_range(acc: dict[int, int], reader: EdgeReader,
              edges: list[tuple[int, int, int, int, int]]) -> None:
    """Add the samples in each edge (start, end, first_ts, lo, hi) of a block.

    Reads only the chunk of each edge bucket, and only its ts, stack and value.
    """
    for start, end, _first, lo, hi in edges:
        ts, stack, value = reader.span(start, end)
        i, j = bisect_left(ts, lo), bisect_left(ts, hi)
        add_weighted(acc, stack[i:j], value[i:j])


def concat(parts: list[SampleColumns]) -> SampleColumns:
    """Merge blocks' columns (re-indexing strings), sorted by time.

    Parts that follow each other in time are appended column by column; only
    overlapping input pays for a full sort.
    """
    parts = sorted((p for p in parts if len(p.ts)), key=lambda p: p.ts[0])
    out = SampleColumns()
    index: dict[str, int] = {"": 0}
    for p in parts:
        remap = []
        for st in p.strings:
            i = index.get(st)
            if i is None:
                i = index[st] = len(out.strings)
                out.strings.append(st)
            remap.append(i)
        identity = all(i == j for i, j in enumerate(remap))
        out.ts.extend(p.ts)
        for name, _ in RAW_COLUMNS[1:]:
            col = getattr(p, name)
            if name in _STRING_COLUMNS and not identity:
                col = array(col.typecode, [remap[i] for i in col])
            getattr(out, name).extend(col)
    ts = out.ts
    if any(ts[i] > ts[i + 1] for i in range(len(ts) - 1)):
        order = sorted(range(len(ts)), key=ts.__getitem__)
        out.ts = [ts[i] for i in order]
        for name, code in RAW_COLUMNS[1:]:
            col = getattr(out, name)
            setattr(out, name, array(code, [col[i] for i in order]))
    return out


_STRING_COLUMNS = frozenset({"thread", "comm", "reason", "labels"})
