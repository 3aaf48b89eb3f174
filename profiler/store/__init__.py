"""Flamecam's storage: the `ProfileStore` interface and its SQL backend (SQLite, PostgreSQL).

Callers outside this package use `open_store` and the names of `interface`
and `columns`; the backend (`Store`) and the block format stay behind them.
"""

from profiler.store.cache import ByteBoundedCache
from profiler.store.columns import ColumnBatch, SampleColumns, SeriesBatch
from profiler.store.interface import (
    AgentLoss,
    KeptWait,
    LinkedColumns,
    LinkedSample,
    LinkedTotal,
    MaintainedStore,
    ProfileStore,
    RootBox,
    RootFilter,
    SampleSlice,
    SeriesInfo,
    SeriesLimitExceeded,
    Served,
    SpanConflict,
    StackProcesses,
    StoreError,
    StoreUnavailable,
    ThreadEvent,
    ThreadTotal,
    TraceReader,
    TraceRoot,
)
from profiler.store.store import Store, default_url
from profiler.store.traces import TraceStore


def open_store(url: str | None = None) -> MaintainedStore:
    """The store at a SQLAlchemy URL (default: SQLite under ./data), migrated to its schema."""
    return Store(url)


__all__ = ["AgentLoss", "ByteBoundedCache", "ColumnBatch", "KeptWait", "LinkedColumns",
           "LinkedSample", "LinkedTotal", "MaintainedStore", "ProfileStore", "RootBox",
           "RootFilter", "SampleColumns", "SampleSlice", "SeriesBatch", "SeriesInfo",
           "SeriesLimitExceeded", "Served", "SpanConflict", "StackProcesses", "Store",
           "StoreError", "StoreUnavailable", "ThreadEvent", "ThreadTotal", "TraceReader",
           "TraceRoot", "TraceStore", "default_url", "open_store"]
