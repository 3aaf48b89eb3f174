"""Trace links from SDK profilers' pprof labels (`pyroscope-otel`).

`pyroscope-otel`'s span processor tags the thread that starts a local root
span with `span_id` (16 hex), `trace_id` (32 hex) and `span_name`; the
`pyroscope-io` client sends them as pprof sample labels. They stay per sample
in the profile (never series labels), and a sample that names both ids is
also a linked sample of the trace store, as the agent's links are (`linking`
is then "approximate": sampled CPU, no thread spans). `profile_id` is
Pyroscope's older name for `span_id`. A sample whose ids are not well formed
stays a plain sample: the labels are the client's, not a link we can trust.

A pprof profile gives many rows one timestamp (one per stack, no thread):
the trace store keeps one row per (trace, thread, ns, kind, reason), so the
k-th row of a trace at one time is moved k ns later. The shift is the same
for the same profile, so a resent profile still stores nothing twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from profiler.model import OFFCPU, Sample
from profiler.store.columns import ColumnBatch

_TRACE = re.compile(r"^[0-9a-f]{32}$")
_SPAN = re.compile(r"^[0-9a-f]{16}$")


def _ids(labels: dict[str, str]) -> tuple[str, str] | None:
    trace = labels.get("trace_id", "").lower()
    span = (labels.get("span_id") or labels.get("profile_id") or "").lower()
    if _TRACE.match(trace) and _SPAN.match(span) and trace.strip("0") and span.strip("0"):
        return trace, span
    return None


def linked_samples(batches: Iterable[ColumnBatch]) -> list[Sample]:
    """The rows of `batches` whose per-sample labels name a trace and span."""
    out: list[Sample] = []
    taken: dict[tuple, int] = {}  # (trace, tid, ts, kind, reason) -> rows so far
    for b in batches:
        cols = b.cols
        if cols.labels.count(0) == len(cols.labels):  # no sample has labels (counted in C)
            continue
        ids_of: dict[int, tuple[str, str] | None] = {}
        for k, li in enumerate(cols.labels):
            if not li:
                continue
            ids = ids_of.get(li, False)
            if ids is False:
                try:
                    ids = ids_of[li] = _ids(json.loads(cols.strings[li]))
                except (ValueError, AttributeError):
                    ids = ids_of[li] = None
            if ids is None:
                continue
            si = cols.stack[k]
            if b.stack_frames is not None:
                stack = tuple(b.stack_frames(si))
            else:
                stack = tuple(b.frames[i] for i in b.stacks[si])
            reason = cols.strings[cols.reason[k]] if b.kind == OFFCPU else ""
            if b.kind == OFFCPU and stack and stack[-1].kind == "offcpu":
                stack = stack[:-1]  # the trace store adds the reason frame itself
            key = (ids[0], cols.tid[k], cols.ts[k], b.kind, reason)
            shift = taken.get(key, 0)
            taken[key] = shift + 1
            out.append(Sample(b.kind, cols.ts[k] + shift, cols.pid[k], cols.tid[k], cols.cpu[k],
                              cols.strings[cols.comm[k]], cols.strings[cols.thread[k]], stack,
                              cols.value[k], cols.count[k] or 1, reason,
                              trace_id=ids[0], span_id=ids[1]))
    return out
