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
FRAME_KINDS = ("kernel", "native", "python", "java", "jit", "unknown", "offcpu")


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
        if self.kind == "kernel":
            return self.name + "_[k]"
        return self.name


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
