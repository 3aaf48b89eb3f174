"""The profile model every stage of Flamecam speaks.

Samplers produce raw events; the symbolizer turns them into `Sample`s made of
`Frame`s; formats, the agent, storage and queries consume `Sample`s only.
Keeping one small, immutable vocabulary is what lets each stage change alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Profile types, as stored and queried. "wall" is not stored: it is cpu + offcpu.
CPU = "cpu"
OFFCPU = "offcpu"
PROFILE_TYPES = (CPU, OFFCPU)

# Why a thread was off the CPU. Order matters only for display.
OFFCPU_REASONS = ("runqueue", "sleep", "lock", "io", "net", "poll", "gil", "other")

# Frame kinds, used by the UI for colour and by the symbolizer for folding.
FRAME_KINDS = ("kernel", "native", "python", "java", "jit", "unknown", "offcpu", "process")


def waker_kinds(frames: tuple[Frame, ...] | list[Frame]) -> str:
    """The kinds of a waker's frames beside its folded `waker_stack` label: one
    character per frame, its index in FRAME_KINDS ("0" kernel, "2" python, ...),
    so that the off-wake graph and the tooltips colour them by kind."""
    return "".join(str(FRAME_KINDS.index(f.kind)) if f.kind in FRAME_KINDS else "5"
                   for f in frames)


def kinds_of_waker(codes: str, n: int) -> list[str]:
    """`waker_kinds` read back: the kind of each of a waker's `n` frames ("" when
    the label is absent or does not match the stack: older agents)."""
    if len(codes) != n or not codes.isdigit():
        return [""] * n
    return [FRAME_KINDS[int(c)] if int(c) < len(FRAME_KINDS) else "unknown" for c in codes]


# A view spanning processes roots each stack at a frame of this kind naming its
# process (comm); stored stacks never hold one (profiler/query/processes.py).
PROCESS_KIND = "process"

# What an agent reports lost with each batch (`AgentBatch.lost` keys): what
# each one counts and why it was lost, as the UI says it ("N samples lost on
# HOST: why"). An agent may send other keys; they are kept and shown by name.
AGENT_LOSSES = {
    "spool_dropped": ("samples", "dropped from the agent's full spool or disk"),
    "rejected": ("samples", "refused by the server"),
    "lost_cpu": ("on-CPU sampler events", "the kernel's buffer was full"),
    "lost_offcpu": ("off-CPU sampler events", "the kernel's buffer was full"),
    "tracectx_lost_records": ("trace-context records", "overwritten before they were read"),
    "tracectx_bad_records": ("trace-context records", "wrong, or their thread was gone"),
    "tracectx_unreadable": ("thread-context tables", "could not be read"),
    "tracectx_torn": ("thread-context slots", "read while being written"),
    # The kernel sometimes delivers no sched_switch for a switch-in (seen on
    # this VM): the interval is ended at the thread's wakeup, and the wait for
    # a CPU after it counts as CPU (bpf/offcpu.c, COUNT_OFF_MISSED_IN).
    "offcpu_missed_switch_in": ("off-CPU intervals", "their switch-in was never seen: ended "
                                "at the wakeup, the run-queue wait after it counted as CPU"),
    # Not lost: over its CPU budget the agent keeps 1 in N off-CPU intervals
    # above the threshold one by one and sums the rest (profiler/sampler/budget.py).
    "offcpu_summed": ("off-CPU intervals", "summed, not kept one by one (agent CPU budget): "
                      "totals exact, waits sampled"),
}
# The AGENT_LOSSES keys that count data sampled, not lost: shown apart.
AGENT_SAMPLED = frozenset({"offcpu_summed"})


# ---------------------------------------------------------------- profile types
# Flamecam's own samplers store `cpu` and `offcpu` (nanoseconds; `wall` is
# both, derived at query time). Clients push many more: heap, allocations,
# locks, goroutines, their own wall clock. Each of those is stored as its own
# series kind, named as Pyroscope names profile types
# (`name:sample_type:sample_unit:period_type:period_unit`, for example
# `memory:alloc_space:bytes:space:bytes`), so a Go heap profile is never added
# to CPU time. Values are stored in the type's canonical unit: times in
# nanoseconds (a `milliseconds` column is multiplied on the way in), sizes in
# bytes, everything else as counted.

# The id Pyroscope gives Flamecam's `cpu` (clients and Grafana query by it).
PROCESS_CPU_ID = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"

# Time units, in nanoseconds each; sizes in bytes each.
_TIME = {"nanoseconds": 1, "nanosecond": 1, "ns": 1, "microseconds": 1000,
         "microsecond": 1000, "us": 1000, "µs": 1000, "milliseconds": 1_000_000,
         "millisecond": 1_000_000, "ms": 1_000_000, "seconds": 1_000_000_000,
         "second": 1_000_000_000, "s": 1_000_000_000}
_SIZE = {"bytes": 1, "byte": 1, "kilobytes": 1024, "kb": 1024, "megabytes": 1 << 20,
         "mb": 1 << 20}

# Families (Pyroscope's `__name__`) of the sample types clients send.
_FAMILY = {
    **dict.fromkeys(("alloc_objects", "alloc_space", "inuse_objects", "inuse_space",
                     "alloc_in_new_tlab_objects", "alloc_in_new_tlab_bytes",
                     "alloc_outside_tlab_objects", "alloc_outside_tlab_bytes",
                     "alloc_samples", "alloc_size", "objects", "space", "live"), "memory"),
    **dict.fromkeys(("contentions", "delay", "lock_count", "lock_time"), "mutex"),
    **dict.fromkeys(("goroutine", "goroutines"), "goroutines"),
    **dict.fromkeys(("exception", "exceptions"), "exceptions"),
    "wall": "wall",
}
# Sample types that mean "on the CPU" and "off it" (Flamecam's own kinds).
CPU_SAMPLE_TYPES = frozenset({"cpu", "process_cpu", "itimer"})
OFFCPU_SAMPLE_TYPES = frozenset({"off_cpu", "offcpu"})
# Sample types that count samples: the count column of a time type.
COUNT_SAMPLE_TYPES = frozenset({"samples", "sample"})
# Sample types that are a state at one moment, not events over time: over a
# range they are averaged per profile, never summed.
_GAUGES = frozenset({"inuse_objects", "inuse_space", "goroutine", "goroutines", "objects",
                     "space", "live"})


@dataclass(frozen=True, slots=True)
class ProfileType:
    """One stored kind: `id` is the series kind (`cpu`, `offcpu`, or a Pyroscope id)."""

    id: str
    name: str
    sample_type: str
    sample_unit: str
    period_type: str
    period_unit: str
    aggregation: str  # "sum", or "average" for gauges (in-use memory, goroutines)

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "sample_type": self.sample_type,
                "unit": self.sample_unit, "period_type": self.period_type,
                "period_unit": self.period_unit, "aggregation": self.aggregation}


BUILTIN_TYPES = {
    CPU: ProfileType(CPU, "process_cpu", "cpu", "nanoseconds", "cpu", "nanoseconds", "sum"),
    OFFCPU: ProfileType(OFFCPU, "off_cpu", "off_cpu", "nanoseconds", "off_cpu", "nanoseconds",
                        "sum"),
}


def unit_scale(unit: str) -> tuple[str, int]:
    """(canonical unit, multiplier): times to nanoseconds, sizes to bytes, others as they are."""
    u = (unit or "").strip().lower()
    if u in _TIME:
        return "nanoseconds", _TIME[u]
    if u in _SIZE:
        return "bytes", _SIZE[u]
    return (_clean(u) or "count"), 1


def _clean(part: str) -> str:
    """A part of a type id: no `:` (the separator), no spaces, bounded."""
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in part.strip())[:48]


def family_of(sample_type: str, hint: str = "") -> str:
    """Pyroscope's `__name__` for a sample type; `hint` is the client's (mutex vs block)."""
    fam = _FAMILY.get(sample_type)
    if fam == "mutex" and hint in ("mutex", "block"):
        return hint
    if fam:
        return fam
    hint = _clean(hint)
    return hint if hint and hint not in ("process_cpu", "cpu") else _clean(sample_type) or "unknown"


def type_id(name: str, sample_type: str, unit: str, period_type: str, period_unit: str) -> str:
    """The stored kind of a client's type: Pyroscope's id, each part cleaned."""
    return ":".join(_clean(p) or "unknown" for p in (name, sample_type, unit, period_type,
                                                     period_unit))


def profile_type(kind: str) -> ProfileType:
    """The type a stored kind stands for (builtins by name, others by their id)."""
    t = BUILTIN_TYPES.get(kind)
    if t is not None:
        return t
    parts = kind.split(":")
    if len(parts) != 5:
        raise ValueError(f"not a profile type id: {kind!r}")
    name, sample_type, unit, period_type, period_unit = parts
    agg = "average" if sample_type in _GAUGES else "sum"
    return ProfileType(kind, name, sample_type, unit, period_type, period_unit, agg)


def folded_name(name: str, kind: str) -> str:
    """A frame's name as FlameGraph-style folded output writes it (kernel frames
    marked `_[k]`), from its name and kind alone: renders name ~50k frames cold."""
    return name + "_[k]" if kind == "kernel" else name


@dataclass(frozen=True, slots=True)
class Frame:
    """One stack frame, already symbolized.

    `name` is what a user reads. An address that could not be named keeps
    `module`, `build_id` and `offset`, so a server with more symbols can name
    it later: frames are never dropped, only left unnamed.
    """

    name: str
    kind: str = "native"
    module: str = ""
    build_id: str = ""
    offset: int = 0
    file: str = ""
    line: int = 0

    def folded_name(self) -> str:
        """The name as FlameGraph-style folded output writes it."""
        return folded_name(self.name, self.kind)


@dataclass(slots=True)
class Sample:
    """A weighted stack of one thread at one moment.

    On-CPU samples weigh 1e9/Hz ns. Off-CPU samples weigh the measured time
    (blocked or run-queue part of one interval, or the sum of `count` short
    intervals aggregated in the kernel), so totals are exact, not sampled.
    `ts_ns` is wall-clock Unix time in ns (the start of an off-CPU part).
    `stack` is root first.
    """

    kind: str
    ts_ns: int
    pid: int
    tid: int
    cpu: int
    comm: str
    thread_name: str
    stack: tuple[Frame, ...]
    value_ns: int
    count: int = 1
    reason: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    # The request this thread was serving at that moment (OpenTelemetry ids,
    # lowercase hex: 32 and 16 characters), "" when none or unknown. Per
    # sample, never a label: there are millions of trace ids.
    trace_id: str = ""
    span_id: str = ""

    def folded_stack(self) -> list[str]:
        """Root-first frame names, with the off-CPU reason as the last frame."""
        names = [f.folded_name() for f in self.stack]
        if self.kind == OFFCPU:
            names.append(f"[off-cpu:{self.reason or 'other'}]")
        return names


@dataclass(frozen=True, slots=True)
class ThreadSpan:
    """A thread served one span from `start_ns` to `end_ns` (Unix ns).

    Reported by the agent from the process's own attach/detach of the span's
    context, on the samplers' clock, so it bounds that thread's samples and
    off-CPU intervals exactly. One span may have many (a pool worker too).
    """

    pid: int
    tid: int
    trace_id: str
    span_id: str
    start_ns: int
    end_ns: int
    thread_name: str = ""
    # The process flagged this link approximate: its runtime switches work on
    # the thread without telling the writer (asyncio before CPython 3.14).
    approximate: bool = False


@dataclass(frozen=True, slots=True)
class Span:
    """One OpenTelemetry span, as received over OTLP (times Unix ns)."""

    trace_id: str  # 32 lowercase hex
    span_id: str  # 16 lowercase hex
    parent_id: str  # "" for a root
    name: str
    kind: str  # "server", "client", "internal", "producer", "consumer", "unspecified"
    status: str  # "unset", "ok", "error"
    start_ns: int
    end_ns: int
    service: str
    service_version: str = ""
    attributes: tuple[tuple[str, str], ...] = ()
    pid: int = 0
    host: str = ""


@dataclass(slots=True)
class Profile:
    """A recording: samples plus what a reader needs to trust them."""

    samples: list[Sample]
    start_ns: int
    end_ns: int
    hz: int
    lost: dict[str, int] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)
