"""Alembic migrations of the store; run by `profiler.store.migrate`."""
