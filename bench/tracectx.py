"""Cost of flamecam_otel per span, against the OpenTelemetry SDK's own cost.

One process, the real SDK (TracerProvider + BatchSpanProcessor, an exporter
that drops what it gets). Alternating rounds with the plain runtime context
and with the add-on's (same provider, same thread, same parent span), so
machine noise hits both sides alike. Three workloads:

- child span: `with start_as_current_span()` under an open parent: two slot
  writes and two ring appends per span (parent -> child -> parent), the most
  the add-on does for one span;
- root span: no parent: two slot writes, one ring append;
- attach without change: attach/detach of the context already current (the
  add-on's fast path: nothing written).

Prints µs per span without and with the add-on, the add-on's cost, and that
cost as a share of the SDK's.

    .venv/bin/python bench/tracectx.py [--spans 20000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "otel-addon" / "src"))

import flamecam_otel  # noqa: E402
import opentelemetry.context as otel_context  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import (  # noqa: E402
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)


class DropExporter(SpanExporter):
    """The end of the pipeline: spans are exported, then forgotten."""

    def export(self, spans: Sequence) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def per_op_us(fn: Callable[[int], None], n: int) -> float:
    t0 = time.perf_counter_ns()
    fn(n)
    return (time.perf_counter_ns() - t0) / n / 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spans", type=int, default=20000, help="spans per round")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=1 << 16))
    tracer = provider.get_tracer("bench")

    def child_spans(n: int) -> None:
        for _ in range(n):
            with tracer.start_as_current_span("child"):
                pass

    def no_change(n: int) -> None:
        attach, detach, get = otel_context.attach, otel_context.detach, otel_context.get_current
        for _ in range(n):
            detach(attach(get()))

    plain = otel_context._RUNTIME_CONTEXT
    addon = flamecam_otel.instrument(propagate_pools=False)
    otel_context._RUNTIME_CONTEXT = plain

    results: dict[str, tuple[list[float], list[float]]] = {}

    def measure(name: str, fn: Callable[[int], None]) -> None:
        without, with_ = results.setdefault(name, ([], []))
        for _ in range(args.rounds):
            for ctx, out in ((plain, without), (addon, with_)):
                otel_context._RUNTIME_CONTEXT = ctx
                fn(args.spans // 10)  # warm
                out.append(per_op_us(fn, args.spans))
        otel_context._RUNTIME_CONTEXT = plain

    with tracer.start_as_current_span("parent"):
        measure("child span (under a parent)", child_spans)
        measure("attach+detach, no change", no_change)
    measure("root span", child_spans)
    otel_context._RUNTIME_CONTEXT = addon
    flamecam_otel.uninstrument()
    provider.shutdown()

    print(f"python {sys.version.split()[0]}, {args.rounds} alternating rounds of "
          f"{args.spans} ops, medians")
    print(f"{'workload':32} {'SDK alone':>10} {'with add-on':>12} {'add-on':>8} {'ratio':>7}")
    for name, (without, with_) in results.items():
        a, b = statistics.median(without), statistics.median(with_)
        print(f"{name:32} {a:8.2f}µs {b:10.2f}µs {b - a:6.2f}µs {(b - a) / a:6.1%}")


if __name__ == "__main__":
    main()
