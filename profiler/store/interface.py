"""The store's interface: what ingest writes, what queries and upkeep read.

Ingest, query, maintenance and the server see only this (and the columnar
batch types of `columns.py`); SQLAlchemy and the block format stay inside the
backend (`store.py`, `blocks.py`, `block_reads.py`), so a second backend is
one new module implementing `ProfileStore` (and `MaintainedStore` if it keeps
blocks to compact). Ids of stacks and frames are the backend's own: a query
gets stack ids with values, then asks for their frames.

Trace linking adds span tables beside these in their own modules (the few
samples linked to a span reach them as `Sample`s, not through `write`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the SQL backend's connection, for `within` (annotations only)
    from sqlalchemy.engine import Connection

from profiler.model import Frame
from profiler.store.columns import ColumnBatch, SampleColumns, SeriesBatch


class StoreError(Exception):
    """A store operation failed for a reason of the store, not of the request."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or refused the operation; retrying later may work."""


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


@dataclass(frozen=True, slots=True)
class SampleSlice:
    """Rows `start` to `end` of `cols` are the samples of series `series_id` in a range."""

    series_id: int
    cols: SampleColumns
    start: int
    end: int


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
              within: Callable[[Connection], None] | None = None) -> int:
        """Store the batches (and the losses the agent reported with them) all or
        nothing; returns the samples stored. `within(conn)` writes more in the
        same transaction (the trace store's rows of one request).

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

    def timeline(self, series_ids: Collection[int], lo: int, hi: int, step_ns: int, *,
                 pid: int | None = None, tid: int | None = None,
                 memo: dict | None = None) -> list[int]:
        """Summed value per step from `lo`: ceil((hi - lo) / step_ns) points, zeros included."""
        ...

    def thread_totals(self, series_ids: Collection[int], lo: int, hi: int
                      ) -> list[ThreadTotal]:
        """Value per thread over the range, in order of first appearance."""
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

    def stack_frames(self, stack_ids: Iterable[int]) -> dict[int, tuple[int, ...]]:
        """Frame ids (root first) of each stack id."""
        ...

    def frames(self, frame_ids: Iterable[int]) -> dict[int, Frame]:
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
