"""pprof (perftools.profiles.Profile) encoding and decoding.

pprof is the lingua franca of profilers: `go tool pprof`, Pyroscope, Parca and
Grafana read it, and most clients push it. Flamecam writes one sample per
`Sample` with two values (`cpu/nanoseconds`, `off_cpu/nanoseconds`) so on-CPU
and off-CPU time stay separable, and keeps the thread identity in labels.

Decoding treats its input as hostile: decompression is bounded, every index is
checked, and every failure is a `PprofError` (a `ValueError`) with one line
saying what was wrong.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from profiler.formats.proto import profile_pb2
from profiler.model import (
    COUNT_SAMPLE_TYPES,
    CPU,
    CPU_SAMPLE_TYPES,
    OFFCPU,
    OFFCPU_SAMPLE_TYPES,
    Frame,
    Profile,
    Sample,
    family_of,
    profile_type,
    type_id,
    unit_scale,
)

# pprof addresses are uint64; a frame keeps a raw (possibly wrapped) offset.
_U64 = 0xFFFF_FFFF_FFFF_FFFF

DEFAULT_MAX_DECOMPRESSED = 64 << 20
DEFAULT_MAX_SAMPLES = 1_000_000

# Label keys Flamecam maps onto Sample fields instead of free labels.
_THREAD_ID_KEYS = ("tid", "thread_id")

KERNEL_MAPPING = "[kernel.kallsyms]"


class PprofError(ValueError):
    """The bytes are not a pprof profile Flamecam can use."""


class PprofTooLarge(PprofError):
    """Decompressed or decoded size is over the configured bound."""


class PprofMalformed(PprofError):
    """Not protobuf, truncated, or with dangling references."""


# --------------------------------------------------------------------- encode


class _Strings:
    def __init__(self) -> None:
        self.table: list[str] = [""]
        self.index: dict[str, int] = {"": 0}

    def __call__(self, s: str) -> int:
        i = self.index.get(s)
        if i is None:
            i = self.index[s] = len(self.table)
            self.table.append(s)
        return i


def encode(profile: Profile, *, timestamps: bool = True, compress: bool = True) -> bytes:
    """Encode a profile as (gzipped) pprof.

    Functions, locations and mappings are deduplicated. With `timestamps`, each
    sample carries its own `ts_ns` numeric label, which `decode` restores, so a
    round trip keeps what per-thread timelines need.
    """
    strings = _Strings()
    msg = profile_pb2.Profile()
    msg.sample_type.add(type=strings("cpu"), unit=strings("nanoseconds"))
    msg.sample_type.add(type=strings("off_cpu"), unit=strings("nanoseconds"))
    msg.period_type.type = strings("cpu")
    msg.period_type.unit = strings("nanoseconds")
    msg.period = 1_000_000_000 // profile.hz if profile.hz > 0 else 0
    # A client's types (heap, locks, ...) get a column each, named as they came.
    column = {CPU: 0, OFFCPU: 1}
    for s in profile.samples:
        if s.kind not in column:
            t = profile_type(s.kind)
            column[s.kind] = len(msg.sample_type)
            msg.sample_type.add(type=strings(t.sample_type), unit=strings(t.sample_unit))
            if len(column) == 3:
                msg.period_type.type = strings(t.period_type)
                msg.period_type.unit = strings(t.period_unit)
                msg.period = 0
    zeros = [0] * len(msg.sample_type)
    msg.time_nanos = profile.start_ns
    msg.duration_nanos = profile.duration_ns

    functions: dict[tuple[str, str], int] = {}
    mappings: dict[tuple[str, str], int] = {}
    locations: dict[Frame, int] = {}

    def mapping_id(frame: Frame) -> int:
        module = frame.module or (KERNEL_MAPPING if frame.kind == "kernel" else "")
        if not module and not frame.build_id:
            return 0
        key = (module, frame.build_id)
        mid = mappings.get(key)
        if mid is None:
            mid = mappings[key] = len(mappings) + 1
            msg.mapping.add(
                id=mid,
                filename=strings(module),
                build_id=strings(frame.build_id),
                has_functions=True,
            )
        return mid

    def location_id(frame: Frame) -> int:
        lid = locations.get(frame)
        if lid is not None:
            return lid
        fkey = (frame.name, frame.file)
        fid = functions.get(fkey)
        if fid is None:
            fid = functions[fkey] = len(functions) + 1
            name = strings(frame.name)
            msg.function.add(id=fid, name=name, system_name=name, filename=strings(frame.file))
        lid = locations[frame] = len(locations) + 1
        loc = msg.location.add(id=lid, mapping_id=mapping_id(frame), address=frame.offset & _U64)
        loc.line.add(function_id=fid, line=frame.line)
        return lid

    k_pid, k_tid, k_thread = strings("pid"), strings("tid"), strings("thread_name")
    k_reason, k_comm, k_cpu, k_ts = strings("reason"), strings("comm"), strings("cpu"), (
        strings("ts_ns")
    )
    for s in profile.samples:
        out = msg.sample.add()
        out.location_id.extend(location_id(f) for f in reversed(s.stack))
        values = zeros.copy()
        values[column[s.kind]] = s.value_ns
        out.value.extend(values)
        out.label.add(key=k_pid, num=s.pid)
        out.label.add(key=k_tid, num=s.tid)
        out.label.add(key=k_cpu, num=s.cpu)
        if s.thread_name:
            out.label.add(key=k_thread, str=strings(s.thread_name))
        if s.comm:
            out.label.add(key=k_comm, str=strings(s.comm))
        if s.kind == OFFCPU:
            out.label.add(key=k_reason, str=strings(s.reason or "other"))
        if timestamps:
            out.label.add(key=k_ts, num=s.ts_ns)
        for k, v in s.labels.items():
            out.label.add(key=strings(k), str=strings(v))
        # the request it served, as span profiles label it (decode keeps them per sample)
        for k, v in (("trace_id", s.trace_id), ("span_id", s.span_id)):
            if v and k not in s.labels:
                out.label.add(key=strings(k), str=strings(v))
    msg.string_table.extend(strings.table)
    raw = msg.SerializeToString()
    return gzip.compress(raw, compresslevel=6) if compress else raw


# --------------------------------------------------------------------- decode


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Gunzip `data`, failing as soon as the output would exceed `limit` bytes."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise PprofMalformed(f"bad gzip data: {e}") from None
    if len(out) > limit:
        raise PprofTooLarge(f"decompressed profile exceeds {limit} bytes")
    if not d.eof:
        raise PprofMalformed("truncated gzip data")
    return out


def inflate(data: bytes, max_decompressed: int = DEFAULT_MAX_DECOMPRESSED) -> bytes:
    """pprof bytes, gunzipped if they are gzip, bounded by `max_decompressed`."""
    if not data:
        raise PprofMalformed("empty profile")
    if data[:2] == b"\x1f\x8b":
        return gunzip_bounded(data, max_decompressed)
    if len(data) > max_decompressed:
        raise PprofTooLarge(f"profile exceeds {max_decompressed} bytes")
    return data


def parse(data: bytes, *, max_decompressed: int = DEFAULT_MAX_DECOMPRESSED) -> profile_pb2.Profile:
    """Parse pprof bytes (gzip sniffed) into the protobuf message, bounded."""
    return parse_raw(inflate(data, max_decompressed))


def parse_raw(data: bytes) -> profile_pb2.Profile:
    """Parse uncompressed pprof bytes into the protobuf message."""
    msg = profile_pb2.Profile()
    try:
        msg.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        fixed = _replace_bad_utf8(data)  # clients write non-UTF-8 names; Pyroscope reads them
        try:
            if fixed is None:
                raise
            msg.ParseFromString(fixed)
        except (DecodeError, RuntimeError, ValueError):
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise PprofMalformed(f"not a pprof protobuf: {first}") from None
    if not msg.string_table or msg.string_table[0] != "":
        raise PprofMalformed("string table must start with an empty string")
    if not msg.sample_type:
        raise PprofMalformed("profile has no sample types")
    return msg


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data) and shift < 64:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
    raise PprofMalformed("bad varint")


def _put_varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_STRING_TABLE_FIELD = 6  # the only string field of profile.proto


def _replace_bad_utf8(data: bytes) -> bytes | None:
    """The profile with its non-UTF-8 strings decoded with U+FFFD; None if none or not protobuf."""
    out = bytearray()
    pos, changed = 0, False
    try:
        while pos < len(data):
            start = pos
            tag, pos = _varint(data, pos)
            tag_end = pos
            wire = tag & 7
            if wire == 0:
                pos = _varint(data, pos)[1]
            elif wire in (1, 5):
                pos += 8 if wire == 1 else 4
            elif wire == 2:
                size, body = _varint(data, pos)
                pos = body + size
                if tag >> 3 == _STRING_TABLE_FIELD and pos <= len(data):
                    text = data[body:pos]
                    try:
                        text.decode("utf-8")
                    except UnicodeDecodeError:
                        text = text.decode("utf-8", "replace").encode()
                        out += data[start:tag_end]
                        out += _put_varint(len(text)) + text
                        changed = True
                        continue
            else:
                return None
            if pos > len(data):
                return None
            out += data[start:pos]
    except PprofMalformed:
        return None
    return bytes(out) if changed else None


def _kind_of(name: str, file: str, module: str) -> str:
    if module == KERNEL_MAPPING or name.endswith("_[k]"):
        return "kernel"
    if file.endswith(".py") or file.endswith(".pyx"):
        return "python"
    if file.endswith(".java") or file.endswith(".kt"):
        return "java"
    return "native"


# Frames seen in earlier profiles, by content: clients resend the same frames
# every push, and handing out the same Frame objects lets the store find their
# ids by identity instead of hashing each frame again.
_FRAMES: dict[tuple, Frame] = {}
_FRAMES_MAX = 500_000


class _ById:
    """Lookup by `id` of a repeated message field.

    Writers number ids 1..n in order, so try the index first and only build
    a dict when that fails: building one per profile cost more than the rest.
    """

    __slots__ = ("items", "n", "index")

    def __init__(self, items) -> None:
        self.items = items
        self.n = len(items)
        self.index: dict | None = None

    def get(self, i: int):
        if 0 < i <= self.n:
            item = self.items[i - 1]
            if item.id == i:
                return item
        if self.index is None:
            self.index = {x.id: x for x in self.items}
        return self.index.get(i)


# Per-sample labels that stay per sample; any other pprof label becomes a series label.
PER_SAMPLE_LABELS = frozenset({"span_id", "span_name", "trace_id", "profile_id"})
# Any spelling of a key that names one request (request_id, x-request-id, requestId,
# correlation.id, ...) stays per sample too: as series labels, one push of 50,000
# samples made 50,000 series and slowed every later query of the tenant.
_REQUEST_SCOPED = re.compile(r"(?i)^(x[-_.]?)?(request|req|correlation|span|trace)[-_.]?id$")


def per_sample_key(key: str) -> bool:
    """Whether a pprof label stays with its sample rather than naming a series."""
    return key in PER_SAMPLE_LABELS or _REQUEST_SCOPED.match(key) is not None


@dataclass(frozen=True, slots=True)
class SampleLabels:
    """What a pprof sample's labels say; `ts` (ns) is None when they carry no time.

    `per_sample` holds the labels that stay with each sample (trace and span
    ids); `tags` the rest, which Pyroscope makes series labels.
    """

    pid: int = 0
    tid: int = 0
    cpu: int = 0
    thread_name: str = ""
    reason: str = ""
    comm: str = ""
    ts: int | None = None
    per_sample: dict[str, str] | None = None
    tags: tuple[tuple[str, str], ...] = ()


NO_LABELS = SampleLabels()


def sample_labels(labels, s) -> SampleLabels:
    """Decode one sample's labels; `s` resolves string indexes (bounds-checked)."""
    pid = tid = cpu = 0
    thread_name = reason = comm = ""
    ts = None
    per_sample = None
    other = []
    for lab in labels:
        key = s(lab.key)
        if key == "pid":
            pid = lab.num if lab.num or not lab.str else _int(s(lab.str))
        elif key in _THREAD_ID_KEYS:
            tid = lab.num if lab.num or not lab.str else _int(s(lab.str))
        elif key == "thread_name":
            thread_name = s(lab.str)
        elif key == "reason":
            reason = s(lab.str)
        elif key == "comm":
            comm = s(lab.str)
        elif key == "cpu":
            cpu = lab.num
        elif key == "ts_ns":
            ts = lab.num
        elif lab.str or key in PER_SAMPLE_LABELS:
            # Numeric labels (Go's heap `bytes`: each allocation's size) are not
            # series identity; as in Pyroscope they are not kept.
            val = s(lab.str) if lab.str else str(lab.num)
            if per_sample_key(key):
                per_sample = per_sample or {}
                per_sample[key] = val
            else:
                other.append((key, val))
    return SampleLabels(pid, tid, cpu, thread_name, reason, comm, ts, per_sample,
                        tuple(sorted(other)))


class Decoder:
    """Resolves a parsed pprof into Frames, caching per location."""

    def __init__(self, msg: profile_pb2.Profile) -> None:
        self.msg = msg
        self.st = msg.string_table
        self.nstr = len(self.st)
        self.functions = _ById(msg.function)
        self.mappings = _ById(msg.mapping)
        self.locations = _ById(msg.location)
        self.loc_frames: dict[int, tuple[Frame, ...]] = {}
        self.stacks: dict[tuple[int, ...], tuple[Frame, ...]] = {}
        self.fn_info: dict[tuple[int, str], tuple[str, str, str]] = {}

    def s(self, i: int) -> str:
        if 0 <= i < self.nstr:
            return self.st[i]
        raise PprofMalformed(f"string index {i} out of range")

    def frames_of(self, lid: int) -> tuple[Frame, ...]:
        """Frames of one location, root-most (caller) first."""
        fr = self.loc_frames.get(lid)
        if fr is not None:
            return fr
        loc = self.locations.get(lid)
        if loc is None:
            raise PprofMalformed(f"sample references missing location {lid}")
        module = build_id = ""
        file_offset = start = 0
        if loc.mapping_id:
            m = self.mappings.get(loc.mapping_id)
            if m is None:
                raise PprofMalformed(f"location {lid} references missing mapping")
            module, build_id = self.s(m.filename), self.s(m.build_id)
            file_offset, start = m.file_offset, m.memory_start
        offset = loc.address - start + file_offset if loc.address >= start else loc.address
        out: list[Frame] = []
        for line in loc.line:
            info = self.fn_info.get((line.function_id, module))
            if info is None:
                fn = self.functions.get(line.function_id)
                # A line naming a function the profile lacks (.NET clients write
                # them) is an unnamed frame at the location's address, as in Pyroscope.
                name, file = (self.s(fn.name) or self.s(fn.system_name), self.s(fn.filename)) \
                    if fn is not None else ("", "")
                kind = _kind_of(name, file, module)
                if kind == "kernel" and name.endswith("_[k]"):
                    name = name[:-4]
                info = self.fn_info[(line.function_id, module)] = (name, file, kind)
            name, file, kind = info
            key = (name, kind, module, build_id, offset, file, line.line)
            fr = _FRAMES.get(key)
            if fr is None:
                fr = Frame(
                    name=name or f"[unknown] {loc.address:#x}",
                    kind=kind,
                    module="" if module == KERNEL_MAPPING else module,
                    build_id=build_id,
                    offset=offset,
                    file=file,
                    line=max(0, int(line.line)),
                )
                if len(_FRAMES) >= _FRAMES_MAX:
                    _FRAMES.clear()
                _FRAMES[key] = fr
            out.append(fr)
        if not out:
            base = os.path.basename(module) if module and module != KERNEL_MAPPING else ""
            name = f"{base}+{offset:#x}" if base else f"[unknown] {loc.address:#x}"
            kind = "kernel" if module == KERNEL_MAPPING else "unknown" if not base else "native"
            out.append(Frame(name=name, kind=kind, module=module if base else "",
                             build_id=build_id, offset=offset))
        out.reverse()  # pprof lists inlined callees first
        fr = self.loc_frames[lid] = tuple(out)
        return fr

    def stack_of(self, location_ids: Iterable[int]) -> tuple[Frame, ...]:
        key = tuple(location_ids)
        st = self.stacks.get(key)
        if st is None:
            frames: list[Frame] = []
            for lid in reversed(key):  # pprof is leaf first; Sample is root first
                frames.extend(self.frames_of(lid))
            st = self.stacks[key] = tuple(frames)
        return st


def period_nanos(msg: profile_pb2.Profile) -> int:
    """The period in nanoseconds when it is a time (an unnamed unit is read as ns), else 0."""
    st = msg.string_table
    i = msg.period_type.unit
    unit = st[i] if 0 <= i < len(st) else ""
    canon, mult = unit_scale(unit)
    if msg.period <= 0 or (unit and canon != "nanoseconds"):
        return 0
    return msg.period * mult


def value_columns(msg: profile_pb2.Profile, st, hint: str = "",
                  display_names: dict[str, str] | None = None
                  ) -> tuple[list[tuple[int, str, int]], int]:
    """Which value index becomes which stored kind, with its multiplier; and the count index.

    On-CPU and off-CPU time become `cpu` and `offcpu` (nanoseconds); every
    other sample type becomes its own profile type (`model.profile_type`), its
    values scaled to the type's canonical unit, so a heap profile is never
    CPU time. A `samples/count` column is the count of the others; alone, it
    is CPU time weighed by the period in its own unit (py-spy: 10 ms).
    `hint` is the client's family name (`__name__`, or the `/ingest` name's
    suffix) and `display_names` Pyroscope's `sample_type_config` renames:
    Go's mutex and block profiles differ by nothing else.
    """
    def text(i: int) -> str:
        return st[i] if 0 <= i < len(st) else ""

    types = [(text(t.type), text(t.unit)) for t in msg.sample_type]
    period_type, period_unit = text(msg.period_type.type), text(msg.period_type.unit)
    p_unit = unit_scale(period_unit)[0]
    period_ns = period_nanos(msg)
    count_idx = next((i for i, (name, _u) in enumerate(types)
                      if name in COUNT_SAMPLE_TYPES), -1)
    cols: list[tuple[int, str, int]] = []
    for i, (name, unit) in enumerate(types):
        if i == count_idx or not name:
            continue
        canon, mult = unit_scale(unit)
        if name in CPU_SAMPLE_TYPES or name in OFFCPU_SAMPLE_TYPES:
            if canon != "nanoseconds":  # counted samples: weigh by the period
                mult = period_ns or 10_000_000
            kind = CPU if name in CPU_SAMPLE_TYPES else OFFCPU
            cols.append((i, kind, mult))
            continue
        shown = (display_names or {}).get(name, "")
        fam = family_of(name, shown.split("_")[0] if shown else hint)
        kind = type_id(fam, name, canon, period_type or name,
                                     p_unit if period_type else canon)
        cols.append((i, kind, mult))
    if not cols:
        # Only samples/count (or an unnamed first column): CPU weighed by the period,
        # unless the client named another family and the period is not a time.
        idx = count_idx if count_idx >= 0 else 0
        name, unit = types[idx]
        canon, mult = unit_scale(unit)
        fam = family_of(name, hint)
        if canon == "nanoseconds":
            cols.append((idx, CPU, mult))
        elif period_ns or fam in ("samples", "sample", "unknown") or not period_type:
            cols.append((idx, CPU, period_ns or 10_000_000))
        else:
            cols.append((idx, type_id(fam, name, canon, period_type, p_unit), 1))
        count_idx = idx if name in COUNT_SAMPLE_TYPES else -1
    return cols, count_idx


def decode(
    data: bytes,
    *,
    max_decompressed: int = DEFAULT_MAX_DECOMPRESSED,
    max_samples: int = DEFAULT_MAX_SAMPLES,
    default_ts_ns: int = 0,
    labels: dict[str, str] | None = None,
) -> list[Sample]:
    """Decode pprof bytes (gzipped or not) into root-first `Sample`s.

    Values of CPU-like sample types become `cpu` samples, `off_cpu` ones
    `offcpu` samples; a pprof sample with both yields two. `default_ts_ns`
    stands in when the profile carries no usable time (old clients wrote
    microseconds into `time_nanos`); `labels` are added to every sample.
    """
    msg = parse(data, max_decompressed=max_decompressed)
    return samples_of(msg, max_samples=max_samples, default_ts_ns=default_ts_ns, labels=labels)


def samples_of(
    msg: profile_pb2.Profile,
    *,
    max_samples: int = DEFAULT_MAX_SAMPLES,
    default_ts_ns: int = 0,
    labels: dict[str, str] | None = None,
) -> list[Sample]:
    """Turn a parsed pprof message into Samples (see `decode`)."""
    if len(msg.sample) > max_samples:
        raise PprofTooLarge(f"profile has {len(msg.sample)} samples, limit {max_samples}")
    dec = Decoder(msg)
    st = msg.string_table
    cols, count_idx = value_columns(msg, st)
    nvalues = len(msg.sample_type)
    # Before 2001 in ns means the writer used another unit: don't trust it.
    base_ts = msg.time_nanos if msg.time_nanos >= 1_000_000_000_000_000_000 else default_ts_ns
    period = period_nanos(msg)
    extra = dict(labels or {})
    out: list[Sample] = []
    s = dec.s
    for ps in msg.sample:
        if len(ps.value) != nvalues:
            raise PprofMalformed("sample value count differs from sample types")
        ls = sample_labels(ps.label, s) if ps.label else NO_LABELS
        pid, tid, cpu = ls.pid, ls.tid, ls.cpu
        thread_name, reason, comm = ls.thread_name, ls.reason, ls.comm
        ts = base_ts if ls.ts is None else ls.ts
        free = {**dict(ls.tags), **(ls.per_sample or {})}
        if extra:
            free = {**extra, **free}
        stack = dec.stack_of(ps.location_id)
        count = ps.value[count_idx] if count_idx >= 0 else 0
        for idx, kind, mult in cols:
            v = ps.value[idx]
            if v <= 0:
                continue
            value_ns = v * mult
            if kind == CPU:
                n = count if count > 0 else (max(1, round(value_ns / period)) if period else 1)
            else:
                n = count if count > 0 else 1
            out.append(
                Sample(
                    kind=kind,
                    ts_ns=ts,
                    pid=pid,
                    tid=tid,
                    cpu=cpu,
                    comm=comm,
                    thread_name=thread_name,
                    stack=stack,
                    value_ns=value_ns,
                    count=n,
                    reason=(reason or "other") if kind == OFFCPU else "",
                    labels=dict(free) if free else {},
                )
            )
    return out


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0
