"""The store's interface: what ingest writes, what queries and upkeep read.

Ingest, query, maintenance and the server see only this (and the columnar
batch types of `columns.py`); SQLAlchemy and the block format stay inside the
backend (`store.py`, `blocks.py`, `block_reads.py`), so a second backend is
one new module implementing `ProfileStore` (and `MaintainedStore` if it keeps
blocks to compact). Ids of stacks and frames are the backend's own: a query
gets stack ids with values, then asks for their frames.

Trace linking adds span tables beside these in their own modules (the few
samples linked to a span reach them as `Sample`s, not through `write`); the
trace queries read them through `TraceReader`.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from profiler.model import Frame, Span, ThreadSpan
from profiler.store.columns import ColumnBatch, SampleColumns, SeriesBatch


class StoreError(Exception):
    """A store operation failed for a reason of the store, not of the request."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or refused the operation; retrying later may work."""


class SeriesLimitExceeded(StoreError):
    """A write would give its tenant more series than allowed: nothing of it was stored.

    One push whose sample labels varied per request made 50,000 series and
    slowed every later query of the tenant; the bound is per tenant, so a
    client cannot reach it by splitting its pushes.
    """

    def __init__(self, tenant: str, have: int, new: int, limit: int) -> None:
        super().__init__(f"tenant {tenant!r} has {have} series; {new} new would pass its "
                         f"limit of {limit} (no series, no sample of the request stored)")
        self.have, self.new, self.limit = have, new, limit


class SpanConflict(StoreError):
    """A span of the request is stored already with other data: nothing of it was stored.

    The same span sent again unchanged is an exporter's resend, which OTLP
    expects servers to take (it is kept once); the same ids with another name,
    parent or time are two different spans claiming one identity.
    """

    def __init__(self, trace_id: str, span_id: str, more: int) -> None:
        super().__init__(f"span {span_id} of trace {trace_id} is already stored with other "
                         "data" + (f" (and {more} more of this request)" if more else "")
                         + "; nothing of the request was stored")
        self.trace_id, self.span_id, self.more = trace_id, span_id, more


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    id: int
    kind: str
    labels: dict[str, str]


@dataclass(frozen=True, slots=True)
class ThreadTotal:
    """Value of one thread (under one name and comm) in one series over a range."""

    series_id: int
    pid: int
    tid: int
    thread_name: str
    comm: str
    value: int


@dataclass(frozen=True, slots=True)
class ThreadEvent:
    """One stored sample of one thread: an on-CPU sample or an off-CPU interval
    (`ts_ns` its start, `value_ns` its length, `reason` why it was off the CPU)."""

    series_id: int
    ts_ns: int
    pid: int
    tid: int
    thread_name: str
    comm: str
    stack_id: int
    value_ns: int
    reason: str
    labels: str = ""  # the sample's own labels as JSON ("" for none): why it waited
    count: int = 1  # > 1: that many off-CPU intervals summed in the kernel (when unknown)


@dataclass(frozen=True, slots=True)
class SampleSlice:
    """Rows `start` to `end` of `cols` are the samples of series `series_id` in a range."""

    series_id: int
    cols: SampleColumns
    start: int
    end: int

    def rows(self, pid: int | None = None, tid: int | None = None) -> Iterable[int]:
        """Indices of the rows of process `pid` and thread `tid` (None: any), in order."""
        if pid is None and tid is None:
            return range(self.start, self.end)
        pids, tids = self.cols.pid, self.cols.tid
        return (k for k in range(self.start, self.end)
                if (pid is None or pids[k] == pid) and (tid is None or tids[k] == tid))


@dataclass(frozen=True, slots=True)
class StackProcesses:
    """Which processes (comm) stacks' values came from, over a range.

    `owner`: the stacks seen in one process only, with a positive value there
    (nearly all of a host's: each program's code is its own), by that process:
    a name per stack, where a {comm: value} per stack cost a dict each.
    `shared`: every other stack, {comm: value}.
    """

    owner: dict[int, str] = field(default_factory=dict)
    shared: dict[int, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AgentLoss:
    """What an agent reported lost: `count` of `reason` (an `AgentBatch.lost` key,
    see `model.AGENT_LOSSES`) on `host`, at `ts_ns` (the latest report when summed)."""

    host: str
    reason: str
    count: int
    ts_ns: int


@dataclass(frozen=True, slots=True)
class StoredBlock:
    """One stored unit of samples, as upkeep sees it (no payload)."""

    id: int
    series_id: int
    t_start: int


class ProfileStore(Protocol):
    """Profiles by tenant and series (kind + labels), over time ranges [lo, hi) in Unix ns.

    Every method may raise `StoreUnavailable`.
    """

    url: str  # where the data lives, for logs

    def write(self, tenant: str, batches: Sequence[ColumnBatch | SeriesBatch], *,
              agent_id: str = "", seq: int = -1, losses: Sequence[AgentLoss] = (),
              within: Callable[[Any], None] | None = None,
              max_series: int | None = None) -> int:
        """Store the batches (and the losses the agent reported with them) all or
        nothing; returns the samples stored. `within(tx)` writes more in the
        backend's same transaction (the trace store's rows of one request).

        With `max_series`, a write whose new series would give the tenant more
        than that many raises `SeriesLimitExceeded` and stores nothing.

        With `agent_id`, a batch whose (tenant, agent_id, seq) was already
        stored is acknowledged (0) without storing it again, so agents can
        resend; another tenant's batch numbers never collide with it.
        """
        ...

    def losses(self, tenant: str, lo: int, hi: int) -> list[AgentLoss]:
        """Agent losses reported in [lo, hi), summed per (host, reason), most first."""
        ...

    def series(self, tenant: str, kind: str | None = None) -> list[SeriesInfo]:
        ...

    def has_profiles(self, tenant: str) -> bool:
        """Whether the tenant has stored any profile (one indexed row read)."""
        ...

    def active_series(self, series_ids: Collection[int], lo: int, hi: int) -> set[int]:
        """The series among `series_ids` with samples in [lo, hi)."""
        ...

    def stack_values(self, series_ids: Collection[int], lo: int, hi: int, *,
                     pid: int | None = None, tid: int | None = None,
                     memo: dict | None = None) -> dict[int, int]:
        """Stack id -> summed value over the range (of one pid/tid when given).

        `memo` is a cache the caller may share between the reads of one request.
        """
        ...

    def sample_weights(self, series_ids: Collection[int], lo: int, hi: int) -> dict[int, int]:
        """Series id -> the one value every sample of it over the range has, each
        one event (a fixed sampling rate), or 0 when they differ or it is not
        known; series without data there are left out."""
        ...

    def process_tables(self, series_ids: Collection[int], lo: int, hi: int
                       ) -> Iterator[tuple[str, array, array]]:
        """(comm, stack ids as array("I"), values as array("q")) of each thread's
        table of the blocks over the range: which processes (comm) each stack's
        value came from, so a view spanning processes can root each stack at its
        process (`query.processes.stack_processes`). Whole blocks are read,
        so the split is exact except for a stack id that two processes share
        in a block cut by the range (split by the whole block).
        """
        ...

    def process_names(self, series_ids: Collection[int], lo: int, hi: int) -> set[str]:
        """The processes (comm) of the blocks over the range, without reading
        their thread tables: at least those `process_tables` names."""
        ...

    def timeline(self, series_ids: Collection[int], lo: int, hi: int, step_ns: int, *,
                 pid: int | None = None, tid: int | None = None,
                 memo: dict | None = None) -> list[int]:
        """Summed value per step from `lo`: ceil((hi - lo) / step_ns) points, zeros included."""
        ...

    def thread_totals(self, series_ids: Collection[int], lo: int, hi: int
                      ) -> list[ThreadTotal]:
        """Value per thread over the range, in order of first appearance."""
        ...

    def thread_steps(self, series_ids: Collection[int], lo: int, hi: int, step_ns: int, *,
                     pid: int | None = None) -> dict[tuple[int, int], dict[int, int]]:
        """Value per thread (pid, tid) per step from `lo`: {step index: value},
        steps without samples left out (of one pid when given)."""
        ...

    def thread_events(self, series_ids: Collection[int], lo: int, hi: int, *,
                      pid: int | None = None, tids: Collection[int] | None = None,
                      limit: int = 200_000) -> tuple[list[ThreadEvent], bool]:
        """The samples of the range one by one, by time, of one pid and of those
        threads when given: the first `limit`, and whether more were left out.

        What thread tracks draw; downsampled data has no samples left, so none.
        """
        ...

    def samples(self, series_ids: Collection[int], lo: int, hi: int) -> Iterator[SampleSlice]:
        """Every stored sample in the range, as column slices (none where only
        aggregates are kept: downsampled data)."""
        ...

    def stack_frames(self, stack_ids: Iterable[int], cache: bool = True
                     ) -> dict[int, Sequence[int]]:
        """Frame ids (root first) of each stack id (`cache`: kept for later reads)."""
        ...

    def frames(self, frame_ids: Iterable[int]) -> dict[int, Frame]:
        ...

    def frame_names(self, frame_ids: Iterable[int]
                    ) -> tuple[list[int], list[str], list[str]]:
        """The known ones of `frame_ids` (sorted), and each one's name and kind."""
        ...

    def size_bytes(self) -> int:
        ...

    def close(self) -> None:
        ...


class MaintainedStore(ProfileStore, Protocol):
    """A store of blocks that background upkeep compacts, downsamples and expires.

    `level`: 0 as ingested, 1 merged once (compacted into a window).
    """

    def blocks_to_compact(self, level: int, ended_before_ns: int) -> list[StoredBlock]:
        """Blocks of `level` that still hold their samples and ended before the time."""
        ...

    def merge_blocks(self, series_id: int, block_ids: list[int], bucket_ns: int) -> bool:
        """Replace the blocks by one compacted (level 1) block with `bucket_ns` buckets;
        False (and nothing changed) if another writer merged some of them first."""
        ...

    def drop_samples(self, ended_before_ns: int) -> int:
        """Drop the per-sample columns of blocks that ended before the time, keeping
        their aggregates; returns how many blocks."""
        ...

    def expire(self, ended_before_ns: int) -> int:
        """Delete blocks (and agent batch and loss records) older than the time;
        returns blocks."""
        ...


# ------------------------------------------------------------------- traces


@dataclass(frozen=True, slots=True)
class TraceRoot:
    """The local root span of a trace in one service (what a trace list shows)."""

    trace_id: str
    span_id: str
    name: str
    route: str
    service: str
    start_ns: int
    duration_ns: int


@dataclass(frozen=True, slots=True)
class LinkedSample:
    """One stored sample of a trace; `stack_id` names a row of the stacks table."""

    trace_id: str
    span_id: str
    kind: str
    ts_ns: int
    pid: int
    tid: int
    thread_name: str
    comm: str
    cpu: int
    stack_id: int
    value_ns: int
    count: int
    reason: str
    labels: str = ""  # the sample's own labels as JSON ("" for none)


@dataclass(frozen=True, slots=True)
class KeptWait:
    """One kept off-CPU interval whose labels say why it waited (system call,
    target, waker: profiler/recorder.py), as the waits table and the off-wake
    flame graph read it. `labels` is the sample's own labels as JSON."""

    stack_id: int
    reason: str
    value_ns: int
    labels: str


@dataclass(frozen=True, slots=True)
class LinkedTotal:
    """One thread's linked samples of a trace of one kind and reason, summed by
    the store: `value_ns` and how many samples (`count`) gave it."""

    trace_id: str
    pid: int
    tid: int
    thread_name: str
    kind: str
    reason: str
    value_ns: int
    count: int


@dataclass(slots=True)
class LinkedColumns:
    """Linked samples of one trace as parallel columns, each thread's by time:
    what thread tracks draw, read without an object per sample. Thread names
    come once per thread."""

    cpu: Sequence[int]  # 1 on-CPU, 0 off-CPU
    ts_ns: Sequence[int]
    pid: Sequence[int]
    tid: Sequence[int]
    stack_id: Sequence[int]
    value_ns: Sequence[int]
    reason: Sequence[str]  # (reason, span_id, labels: columns.Coded from the store)
    span_id: Sequence[str]
    names: dict[tuple[int, int], tuple[str, str]]  # (pid, tid) -> (thread name, comm)
    labels: Sequence[str] = ()  # each sample's own labels as JSON, "" for none
    count: Sequence[int] = ()  # intervals summed in each (> 1: the kernel's sum of short ones)


# (trace id, pid, tid) -> that thread's disjoint [start, end) ns serving the trace
Served = dict[tuple[str, int, int], list[tuple[int, int]]]


@dataclass(frozen=True, slots=True)
class RootBox:
    """Local roots started in [lo, hi) that lasted [min_ns, max_ns] (a brushed area)."""

    lo: int
    hi: int
    min_ns: int
    max_ns: int


@dataclass(frozen=True, slots=True)
class RootFilter:
    """Which local roots of a service a query means.

    Started in [lo, hi); of one endpoint (root span name or `http.route`) when
    `endpoint` is given; lasting at least `min_ns` and at most `max_ns` (when
    given); outside the box `outside` (when given: "the rest" of a brush).
    """

    service: str
    lo: int
    hi: int
    endpoint: str = ""
    min_ns: int = 0
    max_ns: int | None = None
    outside: RootBox | None = None


class TraceReader(Protocol):
    """What the trace queries read: spans, thread spans and samples linked to traces.

    Every method may raise `StoreUnavailable`.
    """

    def services(self, tenant: str, lo: int, hi: int) -> list[str]:
        """Services with a local root started in [lo, hi), by name."""
        ...

    def roots(self, tenant: str, service: str, lo: int, hi: int, *, endpoint: str = "",
              min_ns: int = 0, limit: int = 100) -> list[TraceRoot]:
        """One local root per trace started in [lo, hi), longest first."""
        ...

    def select_roots(self, tenant: str, where: RootFilter, limit: int
                     ) -> tuple[list[TraceRoot], int]:
        """The `limit` latest matching roots (one per trace), and how many match."""
        ...

    def root_durations(self, tenant: str, service: str, lo: int, hi: int,
                       endpoint: str = "") -> dict[str, list[int]]:
        """Root name -> durations (ns, ascending) of the service's local roots in [lo, hi)."""
        ...

    def root_grid(self, tenant: str, service: str, lo: int, hi: int, x_bins: int,
                  y_bins: int, endpoint: str = "") -> dict | None:
        """Counts of local roots on a grid of start time by duration over their own
        extent: `{"from_ns", "until_ns", "max_ns", "counts"}` (row by row from
        duration 0); None when there are none."""
        ...

    def spans_of(self, tenant: str, trace_id: str) -> list[Span]:
        ...

    def thread_spans_of(self, tenant: str, trace_ids: Iterable[str]) -> list[ThreadSpan]:
        ...

    def samples_of(self, tenant: str, trace_ids: Iterable[str], *,
                   kinds: Iterable[str] = ..., span_ids: Iterable[str] | None = None
                   ) -> list[LinkedSample]:
        ...

    def stack_values_of(self, tenant: str, trace_ids: Iterable[str],
                        kinds: Iterable[str]) -> dict[int, int]:
        """Stack id -> summed value of the traces' linked samples of those kinds."""
        ...

    def thread_totals_of(self, tenant: str, trace_ids: Iterable[str], *,
                         kinds: Iterable[str] = ..., span_ids: Collection[str] | None = None,
                         within: Served | None = None) -> list[LinkedTotal]:
        """The traces' linked samples summed per thread, kind and reason; with
        `within`, only the part of each sample inside its thread's intervals."""
        ...

    # One trace's linked samples, summed or read by the database (trace view).
    def stack_totals_of(self, tenant: str, trace_id: str, *, kinds: Iterable[str] = ...,
                        span_ids: Collection[str] | None = None, lo: int | None = None,
                        hi: int | None = None, pid: int | None = None,
                        tid: int | None = None) -> dict[int, int]:
        """Stack id -> summed value of the trace's linked samples (a flame graph)."""
        ...

    def thread_stack_totals_of(self, tenant: str, trace_id: str, *,
                               kinds: Iterable[str] = ...,
                               span_ids: Collection[str] | None = None, lo: int | None = None,
                               hi: int | None = None, pid: int | None = None,
                               tid: int | None = None) -> dict[tuple[int, int], dict[int, int]]:
        """(pid, tid) -> stack id -> summed value: `stack_totals_of` per thread."""
        ...

    def step_totals_of(self, tenant: str, trace_id: str, lo: int, hi: int, step_ns: int, *,
                       kinds: Iterable[str] = ..., span_ids: Collection[str] | None = None,
                       pid: int | None = None, tid: int | None = None) -> list[int]:
        """Summed value per step from `lo` (a timeline of the trace), zeros included."""
        ...

    def samples_extent(self, tenant: str, trace_id: str,
                       span_ids: Collection[str] | None = None) -> tuple[int, int] | None:
        """(first start, last end) ns of the trace's linked samples; None if none."""
        ...

    def columns_of(self, tenant: str, trace_id: str, *, kinds: Iterable[str] = ...,
                   span_ids: Collection[str] | None = None, lo: int | None = None,
                   hi: int | None = None, pid: int | None = None,
                   tids: Collection[int] | None = None, limit: int = 200_000
                   ) -> tuple[LinkedColumns, bool]:
        """The trace's linked samples as columns, each thread's by time; True if cut at limit."""
        ...

    def counts_of(self, tenant: str, trace_id: str) -> dict[str, int]:
        """How many linked samples of each kind (cpu, offcpu) the trace has."""
        ...

    def waits_of(self, tenant: str, trace_id: str, *, span_ids: Collection[str] | None = None,
                 lo: int | None = None, hi: int | None = None, pid: int | None = None,
                 tid: int | None = None) -> list[KeptWait]:
        """The trace's linked off-CPU samples that carry labels (kept intervals)."""
        ...
