"""flamecam_otel: tells the Flamecam agent which trace and span each thread serves.

    import flamecam_otel
    flamecam_otel.instrument()      # after or before setting up the OTel SDK

or, with no code change, run the app under `opentelemetry-instrument` (this
package registers an `opentelemetry_instrumentor` entry point named
`flamecam`), or set OTEL_PYTHON_CONTEXT=flamecam (context only, no pool
propagation). The channel is described in Flamecam's docs/TRACE_CONTEXT.md.
"""

from __future__ import annotations

import threading
from typing import Any

from ._layout import DEFAULT_RING_RECORDS, DEFAULT_SLOTS
from .context import FlamecamRuntimeContext

__all__ = ["FlamecamInstrumentor", "FlamecamRuntimeContext", "instrument", "uninstrument"]

_lock = threading.Lock()


def instrument(*, propagate_pools: bool = True, nslots: int = DEFAULT_SLOTS,
               ring_records: int = DEFAULT_RING_RECORDS) -> FlamecamRuntimeContext:
    """Publish every thread's current span from now on; idempotent.

    Wraps the runtime context the OTel API already uses (contextvars unless
    OTEL_PYTHON_CONTEXT chose another), so contexts attached before this call
    detach normally. With `propagate_pools`, ThreadPoolExecutor.submit carries
    the submitter's context into the worker."""
    import opentelemetry.context as otel_context

    from . import _pools

    with _lock:
        current = otel_context._RUNTIME_CONTEXT
        if isinstance(current, FlamecamRuntimeContext):
            ctx = current
        else:
            ctx = FlamecamRuntimeContext(current, nslots=nslots, ring_records=ring_records)
            otel_context._RUNTIME_CONTEXT = ctx
        ctx.start()
        if propagate_pools:
            _pools.patch()
        return ctx


def uninstrument() -> None:
    """Back to the runtime context that was there before; the table is unmapped."""
    import opentelemetry.context as otel_context

    from . import _pools

    with _lock:
        current = otel_context._RUNTIME_CONTEXT
        if isinstance(current, FlamecamRuntimeContext):
            otel_context._RUNTIME_CONTEXT = current.inner
            current.close()
        _pools.unpatch()


class FlamecamInstrumentor:
    """What `opentelemetry-instrument` loads from the `opentelemetry_instrumentor`
    entry point: it calls instrument() with its own keywords (skip_dep_check),
    which mean nothing here."""

    def instrument(self, **kwargs: Any) -> None:
        instrument()

    def uninstrument(self, **kwargs: Any) -> None:
        uninstrument()
