"""ThreadPoolExecutor.submit carries the submitter's OTel context into the worker.

The worker attaches that context for exactly the time it runs the task, so the
table shows the worker serving the request's span then and at no other time.
This also covers asyncio's run_in_executor and to_thread, which submit to a
ThreadPoolExecutor. opentelemetry-instrumentation-threading does the same when
present; both together only attach the same context twice (no second write).
Worker threads themselves start outside any context (see _submit).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from opentelemetry import context as otel_context

_original: Callable[..., Future] | None = None


def _run_in(ctx: otel_context.Context, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    token = otel_context.attach(ctx)
    try:
        return fn(*args, **kwargs)
    finally:
        otel_context.detach(token)


def _submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any,
            **kwargs: Any) -> Future:
    assert _original is not None
    # submit() may start a worker thread. It runs in an empty contextvars
    # context, so that a thread-start hook (opentelemetry-instrumentation-
    # threading's) does not make the new worker serve this request for life.
    return contextvars.Context().run(_original, self, _run_in, otel_context.get_current(),
                                     fn, args, kwargs)


def patch() -> None:
    global _original
    if _original is None:
        _original = ThreadPoolExecutor.submit
        _submit.__wrapped__ = _original  # type: ignore[attr-defined]
        ThreadPoolExecutor.submit = _submit  # type: ignore[method-assign]


def unpatch() -> None:
    """Restore submit, unless someone wrapped ours since (then ours stays, harmless)."""
    global _original
    if _original is not None and ThreadPoolExecutor.submit is _submit:
        ThreadPoolExecutor.submit = _original  # type: ignore[method-assign]
        _original = None
