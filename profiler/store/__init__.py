"""Flamecam's storage: SQLAlchemy over SQLite or PostgreSQL, zstd sample blocks."""

from profiler.store.store import SeriesBatch, SeriesInfo, Store, default_url
from profiler.store.traces import LinkedSample, TraceRoot, TraceStore, TraceStoreUnavailable

__all__ = ["LinkedSample", "SeriesBatch", "SeriesInfo", "Store", "TraceRoot", "TraceStore",
           "TraceStoreUnavailable", "default_url"]
