"""Flamecam's storage: SQLAlchemy over SQLite or PostgreSQL, zstd sample blocks."""

from profiler.store.store import SeriesBatch, SeriesInfo, Store, default_url

__all__ = ["SeriesBatch", "SeriesInfo", "Store", "default_url"]
