"""An OpenTelemetry runtime context that tells the Flamecam table, on every
attach and detach, which span the calling thread now serves.

Two ways in: flamecam_otel.instrument() wraps the runtime context already in
use, or OTEL_PYTHON_CONTEXT=flamecam makes the API build this one (entry point
group `opentelemetry_context`). This module is imported while
opentelemetry.context itself is still importing in the second case, so it
imports nothing from opentelemetry.trace at module level.
"""

from __future__ import annotations

import os
from contextvars import Token

from opentelemetry.context.context import Context, _RuntimeContext
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

from ._layout import DEFAULT_RING_RECORDS, DEFAULT_SLOTS
from ._table import ThreadContextWriter


def _span_key() -> str:
    """The key under which the trace API keeps the current span in a Context.

    It is generated per process (create_key adds a uuid), so it is found by
    asking the public API to store a span and seeing where it went."""
    from opentelemetry import trace

    probe = trace.set_span_in_context(trace.INVALID_SPAN, Context())
    return next(k for k, v in probe.items() if v is trace.INVALID_SPAN)


class FlamecamRuntimeContext(_RuntimeContext):
    """Delegates to `inner` (contextvars by default) and publishes each change."""

    def __init__(self, inner: _RuntimeContext | None = None, *,
                 nslots: int = DEFAULT_SLOTS, ring_records: int = DEFAULT_RING_RECORDS) -> None:
        self.inner = inner if inner is not None else ContextVarsRuntimeContext()
        if type(self.inner) is ContextVarsRuntimeContext:
            # Its ContextVar directly: one Python call less on every operation.
            var = self.inner._current_context
            self._set, self._get, self._reset = var.set, var.get, var.reset
        else:
            self._set = self.inner.attach
            self._get = self.inner.get_current
            self._reset = self.inner.detach
        # The table exists from here, before any span, and is announced: the
        # agent registers it at once, so the first request is linked.
        self.writer: ThreadContextWriter = ThreadContextWriter(nslots, ring_records)
        self._sync = self._first_sync
        _register_for_fork(self)

    def _first_sync(self, context: Context) -> None:
        # The span key is looked up at the first attach: with OTEL_PYTHON_CONTEXT
        # this object is built while opentelemetry.context is half-imported.
        self.writer.span_key = _span_key()
        self._sync = self.writer.sync
        self._sync(context)

    def attach(self, context: Context) -> Token[Context]:
        token = self._set(context)
        self._sync(context)
        return token

    def get_current(self) -> Context:
        return self._get()

    def detach(self, token: Token[Context]) -> None:
        self._reset(token)
        self._sync(self._get())

    def start(self) -> None:
        """Publish the calling thread's current span now rather than at its next attach."""
        self._sync(self._get())

    def close(self) -> None:
        """Unmap the table (after this object stops being the runtime context)."""
        if self in _live:
            _live.remove(self)
        self.writer.close()

    def _after_fork_in_child(self) -> None:
        self.writer.after_fork_in_child(self._get() if self.writer.span_key else None)


_live: list[FlamecamRuntimeContext] = []


def _register_for_fork(ctx: FlamecamRuntimeContext) -> None:
    if not _live:
        os.register_at_fork(after_in_child=_after_fork_in_child)
    _live.append(ctx)


def _after_fork_in_child() -> None:
    for ctx in _live:
        ctx._after_fork_in_child()
