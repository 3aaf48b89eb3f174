"""Trace queries: trace lists, one trace's threads, and flame graphs of a trace.

A thread's CPU time on a trace is exact: the time its thread spans cover
(reported by the agent from the process's own context switches of the span)
minus the off-CPU intervals linked to the trace inside them, which the
scheduler bounds exactly. Only on-CPU *stacks* are sampled. Without thread
spans, the linked samples alone give sampled figures ("approximate"); without
either, a trace has "no thread data" and no figures are guessed.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace

from profiler.model import CPU, OFFCPU, Frame, Sample, ThreadSpan
from profiler.query import flamegraph as fg
from profiler.query.engine import MAX_EVENTS, QueryEngine, Selection, StackNames
from profiler.query.tracks import TrackColumns
from profiler.store import (
    KeptWait,
    LinkedSample,
    LinkedTotal,
    Served,
    StackProcesses,
    TraceReader,
    TraceRoot,
)

EXACT, APPROXIMATE, NONE = "exact", "approximate", "none"
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_SPAN_ID = re.compile(r"^[0-9a-f]{16}$")
_MARGIN_NS = 10**9  # around a trace's extent, when no range is given
# A thread's exact on-CPU time on a trace that no on-CPU sample caught: a stack
# id and frame id of the query's own (never stored; stored ids are >= 1).
UNSAMPLED_ID = -1
UNSAMPLED = Frame("[on-CPU, no stack sampled]", "unknown")


class TraceQueryError(ValueError):
    """A trace parameter is malformed (answered with 400)."""


def check_trace_id(v: str) -> str:
    v = v.strip().lower()
    if not _TRACE_ID.match(v) or not v.strip("0"):
        raise TraceQueryError("trace_id must be 32 hex digits, not all zero")
    return v


def check_span_id(v: str) -> str:
    v = v.strip().lower()
    if not _SPAN_ID.match(v) or not v.strip("0"):
        raise TraceQueryError("span_id must be 16 hex digits, not all zero")
    return v


def _merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def served_by_thread(rows: Iterable[ThreadSpan]) -> Served:
    """Each (trace, pid, tid)'s thread spans merged into disjoint intervals."""
    served: dict[tuple[str, int, int], list[tuple[int, int]]] = defaultdict(list)
    for r in rows:
        served[(r.trace_id, r.pid, r.tid)].append((r.start_ns, r.end_ns))
    return {k: _merge(v) for k, v in served.items()}


def thread_figures(rows: list[ThreadSpan], totals: Iterable[LinkedTotal]) -> list[dict]:
    """Per thread of one trace: CPU and off-CPU ns by reason, and its intervals.

    With thread spans: exact (served time minus the linked off-CPU time inside
    it; `totals` then holds the off-CPU time clipped to the thread spans, as
    `thread_totals_of(within=...)` sums it). Without: from the linked samples'
    totals (on-CPU sampled).
    """
    threads: dict[tuple[int, int], dict] = {}

    def thread(pid: int, tid: int, name: str) -> dict:
        t = threads.get((pid, tid))
        if t is None:
            t = threads[(pid, tid)] = {"pid": pid, "tid": tid, "thread_name": name,
                                       "cpu_ns": 0, "offcpu_ns": {}, "intervals": []}
        if name and not t["thread_name"]:
            t["thread_name"] = name
        return t

    for r in rows:
        thread(r.pid, r.tid, r.thread_name)["intervals"].append(
            [r.start_ns / 1e6, r.end_ns / 1e6, r.span_id])
    if rows:
        off: dict[tuple[int, int], int] = defaultdict(int)
        for s in totals:
            t = threads.get((s.pid, s.tid))
            if s.kind != OFFCPU or t is None:
                continue
            t["offcpu_ns"][s.reason] = t["offcpu_ns"].get(s.reason, 0) + s.value_ns
            off[(s.pid, s.tid)] += s.value_ns
        for (_trace, pid, tid), m in served_by_thread(rows).items():
            threads[(pid, tid)]["cpu_ns"] = max(0, sum(b - a for a, b in m) - off[(pid, tid)])
    else:
        for s in totals:
            t = thread(s.pid, s.tid, s.thread_name)
            if s.kind == CPU:
                t["cpu_ns"] += s.value_ns
            else:
                t["offcpu_ns"][s.reason] = t["offcpu_ns"].get(s.reason, 0) + s.value_ns
    out = list(threads.values())
    out.sort(key=lambda t: (-(t["cpu_ns"] + sum(t["offcpu_ns"].values())), t["pid"], t["tid"]))
    return out


def trace_totals(traces: TraceReader, tenant: str, rows: dict[str, list[ThreadSpan]],
                 ids: list[str], span_ids: Collection[str] | None = None
                 ) -> dict[str, list[LinkedTotal]]:
    """Per trace, what `thread_figures` sums: for a trace with thread spans its
    off-CPU time inside them, for the others all their linked samples."""
    exact = [t for t in ids if rows.get(t)]
    out: dict[str, list[LinkedTotal]] = defaultdict(list)
    if exact:
        within = served_by_thread(r for t in exact for r in rows[t])
        for s in traces.thread_totals_of(tenant, exact, kinds=(OFFCPU,), span_ids=span_ids,
                                         within=within):
            out[s.trace_id].append(s)
    rest = [t for t in ids if not rows.get(t)]
    if rest:
        for s in traces.thread_totals_of(tenant, rest, span_ids=span_ids):
            out[s.trace_id].append(s)
    return out


def _linking(rows: list[ThreadSpan], totals: list[LinkedTotal]) -> str:
    """exact: thread spans, none flagged by the process; approximate: some
    flagged (asyncio), or linked samples alone; none: no thread data."""
    if rows:
        return APPROXIMATE if any(r.approximate for r in rows) else EXACT
    return APPROXIMATE if totals else NONE


def _totals(threads: list[dict]) -> tuple[int, dict[str, int]]:
    cpu, off = 0, {}
    for t in threads:
        cpu += t["cpu_ns"]
        for r, v in t["offcpu_ns"].items():
            off[r] = off.get(r, 0) + v
    return cpu, off


def figures(traces: TraceReader, tenant: str, roots: list[TraceRoot]) -> list[dict]:
    """Per root (in order): its trace's CPU ns, off-CPU ns by reason, threads, linking."""
    ids = [r.trace_id for r in roots]
    rows: dict[str, list[ThreadSpan]] = defaultdict(list)
    for r in traces.thread_spans_of(tenant, ids):
        rows[r.trace_id].append(r)
    totals = trace_totals(traces, tenant, rows, ids)
    out = []
    for r in roots:
        th = thread_figures(rows[r.trace_id], totals[r.trace_id])
        cpu, off = _totals(th)
        out.append({"cpu_ns": cpu, "offcpu_ns": off, "threads": len(th),
                    "linking": _linking(rows[r.trace_id], totals[r.trace_id])})
    return out


def trace_list(traces: TraceReader, tenant: str, service: str, lo: int, hi: int, *,
               endpoint: str = "", min_ms: float = 0, limit: int = 100) -> list[dict]:
    """The service's traces started in [lo, hi), slowest first, with their CPU figures."""
    roots = traces.roots(tenant, service, lo, hi, endpoint=endpoint,
                         min_ns=int(min_ms * 1e6), limit=limit)
    return [{"trace_id": r.trace_id, "root": r.name, "service": r.service,
             "start_ms": r.start_ns / 1e6, "duration_ms": r.duration_ns / 1e6, **f}
            for r, f in zip(roots, figures(traces, tenant, roots), strict=True)]


def trace_view(traces: TraceReader, tenant: str, trace_id: str) -> dict | None:
    """One trace: spans, threads with their intervals, time breakdown; None if unknown."""
    spans = traces.spans_of(tenant, trace_id)
    rows = traces.thread_spans_of(tenant, [trace_id])
    totals = trace_totals(traces, tenant, {trace_id: rows}, [trace_id])[trace_id]
    counts = traces.counts_of(tenant, trace_id)
    n_cpu, n_off = counts[CPU], counts[OFFCPU]
    if not (spans or rows or n_off or n_cpu):
        return None
    threads = thread_figures(rows, totals)
    cpu, off = _totals(threads)
    return {
        "trace_id": trace_id,
        "spans": [{"span_id": s.span_id, "parent_id": s.parent_id, "name": s.name,
                   "kind": s.kind, "service": s.service, "start_ms": s.start_ns / 1e6,
                   "duration_ms": (s.end_ns - s.start_ns) / 1e6, "status": s.status,
                   "attributes": dict(s.attributes), "pid": s.pid, "host": s.host}
                  for s in spans],
        "threads": threads,
        "breakdown": {"cpu": cpu, **off},
        "samples": n_cpu,
        "offcpu_intervals": n_off,
        "linking": _linking(rows, totals),
    }


def percentile(sorted_ns: list[int], q: int) -> int:
    """The nearest-rank q-th percentile of a sorted, non-empty list."""
    n = len(sorted_ns)
    return sorted_ns[min(n - 1, max(0, (n * q + 99) // 100 - 1))]


def endpoints(traces: TraceReader, tenant: str, service: str, lo: int, hi: int) -> list[dict]:
    """Root span names of the service with count and p50/p90/p99 duration (ms)."""
    out = []
    for name, ds in traces.root_durations(tenant, service, lo, hi).items():
        out.append({"name": name, "count": len(ds),
                    **{f"p{q}_ms": percentile(ds, q) / 1e6 for q in (50, 90, 99)}})
    out.sort(key=lambda e: (-e["count"], e["name"]))
    return out


class TraceEngine(QueryEngine):
    """The query engine over one trace's linked samples (or one span and its children).

    Flame graphs, top, folded output, exports and thread timelines run the
    engine's own code over the trace's samples instead of the stored blocks.
    """

    def __init__(self, base: QueryEngine, traces: TraceReader, tenant: str, trace_id: str,
                 span_id: str = "") -> None:
        super().__init__(base.store)
        self.traces = traces
        self.tenant = tenant
        self.trace_id = trace_id
        self.span_ids: set[str] | None = None
        spans = traces.spans_of(tenant, trace_id)
        if span_id:
            children: dict[str, list[str]] = defaultdict(list)
            for s in spans:
                children[s.parent_id].append(s.span_id)
            self.span_ids, todo = set(), [span_id]
            while todo:
                s = todo.pop()
                if s not in self.span_ids:
                    self.span_ids.add(s)
                    todo.extend(children.get(s, ()))
        self._loaded: list[LinkedSample] | None = None
        self._rows = [r for r in traces.thread_spans_of(tenant, [trace_id])
                      if self.span_ids is None or r.span_id in self.span_ids]
        self._spans_extent = [(s.start_ns, s.end_ns) for s in spans
                              if self.span_ids is None or s.span_id in self.span_ids]

    @property
    def _samples(self) -> list[LinkedSample]:
        """The trace's linked samples, read on first use: flame graphs and tracks
        ask the store for just what they need instead."""
        if self._loaded is None:
            self._loaded = self.traces.samples_of(self.tenant, [self.trace_id],
                                                  span_ids=self.span_ids)
        return self._loaded

    def extent(self) -> tuple[int, int] | None:
        """[first, last) ns of the trace's spans, thread spans and samples."""
        ts = [t for a, b in self._spans_extent for t in (a, b)]
        ts += [t for r in self._rows for t in (r.start_ns, r.end_ns)]
        ts += self.traces.samples_extent(self.tenant, self.trace_id, self.span_ids) or ()
        return (min(ts), max(ts) + 1) if ts else None

    def _selected(self, sel: Selection) -> list[LinkedSample]:
        kinds = set(sel.selector.kinds)
        return [s for s in self._samples if s.kind in kinds and sel.lo <= s.ts_ns < sel.hi
                and (sel.pid is None or s.pid == sel.pid)
                and (sel.tid is None or s.tid == sel.tid)]

    def stack_values(self, sel: Selection, memo: dict | None = None) -> dict[int, int]:
        values = self.traces.stack_totals_of(self.tenant, self.trace_id,
                                             kinds=sel.selector.kinds, span_ids=self.span_ids,
                                             lo=sel.lo, hi=sel.hi, pid=sel.pid, tid=sel.tid)
        if CPU in sel.selector.kinds and self._rows:
            self._exact_cpu(sel, values)
        return values

    def _exact_cpu(self, sel: Selection, values: dict[int, int]) -> None:
        """Each thread's on-CPU stacks made to total its exact CPU time on the trace.

        On-CPU samples come one per period (10 ms at 99 Hz): a thread that ran
        20 ms for a request gets 0 to 4 of them, and the GIL's 5 ms switches
        alias with the period, so a sampled total can miss or add a third of a
        request's CPU. The scheduler bounds it exactly (thread_figures), so the
        samples only share that time out between stacks, in proportion; a
        thread no sample caught shows its time under UNSAMPLED."""
        for _pid, _tid, sampled, want in self._cpu_shares(sel):
            have = sum(sampled.values())
            if have:
                for sid, v in sampled.items():
                    values[sid] += round(v * want / have) - v
            elif want:
                values[UNSAMPLED_ID] = values.get(UNSAMPLED_ID, 0) + want

    def _cpu_shares(self, sel: Selection
                    ) -> Iterable[tuple[int, int, dict[int, int], int]]:
        """Per thread whose thread spans lie wholly inside the selection (a
        trace's figures are for whole spans): its sampled on-CPU ns by stack
        and its exact CPU ns, what `_exact_cpu` and `samples` share out alike."""
        totals = trace_totals(self.traces, self.tenant, {self.trace_id: self._rows},
                              [self.trace_id], self.span_ids)[self.trace_id]
        per_thread = self.traces.thread_stack_totals_of(
            self.tenant, self.trace_id, kinds=(CPU,), span_ids=self.span_ids, lo=sel.lo,
            hi=sel.hi, pid=sel.pid, tid=sel.tid)
        for t in thread_figures(self._rows, totals):
            if (sel.pid is not None and t["pid"] != sel.pid) or (
                    sel.tid is not None and t["tid"] != sel.tid):
                continue
            if not all(sel.lo <= r.start_ns and r.end_ns <= sel.hi for r in self._rows
                       if (r.pid, r.tid) == (t["pid"], t["tid"])):
                continue
            yield t["pid"], t["tid"], per_thread.get((t["pid"], t["tid"]), {}), t["cpu_ns"]

    def _name_stacks(self, stack_ids: list[int], table: StackNames
                     ) -> tuple[list[int], list[bytes]]:
        if UNSAMPLED_ID not in stack_ids:
            return super()._name_stacks(stack_ids, table)
        ids, keys = super()._name_stacks([s for s in stack_ids if s != UNSAMPLED_ID], table)
        with table.lock:
            k = fg.stack_key((table.names(UNSAMPLED.name, UNSAMPLED.kind),))
            table.keys.put(UNSAMPLED_ID, k)
        return [*ids, UNSAMPLED_ID], [*keys, k]

    def stack_frames(self, stack_ids: Iterable[int]
                     ) -> tuple[dict[int, tuple[int, ...]], dict[int, Frame]]:
        ids = set(stack_ids)
        if UNSAMPLED_ID not in ids:
            return super().stack_frames(ids)
        sf, frames = super().stack_frames(ids - {UNSAMPLED_ID})
        return {**sf, UNSAMPLED_ID: (UNSAMPLED_ID,)}, {**frames, UNSAMPLED_ID: UNSAMPLED}

    def stack_processes(self, sel: Selection, at_least: int = 1) -> StackProcesses:
        """Nothing: a trace's views have no process level (one request's stacks; the
        database sums them by stack, never reading each sample)."""
        return StackProcesses()

    def timeline(self, sel: Selection, step_ns: int, memo: dict | None = None
                 ) -> list[list[int]]:
        points = self.traces.step_totals_of(self.tenant, self.trace_id, sel.lo, sel.hi, step_ns,
                                            kinds=sel.selector.kinds, span_ids=self.span_ids,
                                            pid=sel.pid, tid=sel.tid)
        return [[(sel.lo + i * step_ns) // 10**6, v] for i, v in enumerate(points)]

    def threads(self, sel: Selection, reasons: bool = False) -> list[dict]:
        out = []  # a trace's threads always carry their off-CPU reasons
        ids = [self.trace_id]
        totals = trace_totals(self.traces, self.tenant, {self.trace_id: self._rows}, ids,
                              self.span_ids)[self.trace_id]
        for t in thread_figures(self._rows, totals):
            if (sel.pid is None or t["pid"] == sel.pid) and (sel.tid is None or
                                                             t["tid"] == sel.tid):
                out.append({**t, "comm": "",
                            "offcpu_ns": sum(t["offcpu_ns"].values()),
                            "offcpu_by_reason": t["offcpu_ns"]})
        return out

    def track_events(self, sel: Selection, tids: Collection[int] | None = None,
                     limit: int = MAX_EVENTS) -> tuple[TrackColumns, bool]:
        if tids is None and sel.tid is not None:
            tids = (sel.tid,)
        c, more = self.traces.columns_of(self.tenant, self.trace_id, kinds=sel.selector.kinds,
                                         span_ids=self.span_ids, lo=sel.lo, hi=sel.hi,
                                         pid=sel.pid, tids=tids, limit=limit)
        return TrackColumns(c.cpu, c.ts_ns, c.value_ns, c.pid, c.tid, c.stack_id, c.reason,
                            c.span_id, c.names, c.labels, c.count), more

    def kept_waits(self, sel: Selection) -> list[KeptWait]:
        if OFFCPU not in sel.selector.kinds:
            return []
        return self.traces.waits_of(self.tenant, self.trace_id, span_ids=self.span_ids,
                                    lo=sel.lo, hi=sel.hi, pid=sel.pid, tid=sel.tid)

    def track_intervals(self, sel: Selection, tids: Collection[int] | None = None
                        ) -> list[tuple[int, int, int, int, str]]:
        if tids is None and sel.tid is not None:
            tids = (sel.tid,)
        want = set(tids) if tids is not None else None
        return [(r.pid, r.tid, r.start_ns, r.end_ns, r.span_id) for r in self._rows
                if (sel.pid is None or r.pid == sel.pid) and (want is None or r.tid in want)]

    def samples(self, sel: Selection, limit: int = 2_000_000) -> list[Sample]:
        """The trace's samples, on-CPU ones weighing what its flame graph gives
        their stacks (`_exact_cpu`), so an export totals what the view shows."""
        picked = self._selected(sel)[:limit]
        stacks = self.named_stacks(s.stack_id for s in picked)
        out = []
        for s in picked:
            stack = stacks.get(s.stack_id, ())
            if s.kind == OFFCPU and stack and stack[-1].kind == "offcpu":
                stack = stack[:-1]
            out.append(Sample(s.kind, s.ts_ns, s.pid, s.tid, s.cpu, s.comm, s.thread_name,
                              stack, s.value_ns, s.count, s.reason,
                              json.loads(s.labels) if s.labels else {}, s.trace_id,
                              s.span_id))
        if CPU in sel.selector.kinds and self._rows:
            out = self._exact_samples(sel, picked, out)
        return out

    def _exact_samples(self, sel: Selection, picked: list[LinkedSample],
                       samples: list[Sample]) -> list[Sample]:
        """`samples` with each thread's on-CPU samples of one stack weighing that
        stack's share of its exact CPU time (split between them in proportion,
        the last taking the rounding), and a sample under UNSAMPLED for a
        thread no sample caught."""
        groups: dict[tuple[int, int, int], list[int]] = defaultdict(list)
        comms: dict[tuple[int, int], str] = {}
        for k, s in enumerate(picked):
            comms[(s.pid, s.tid)] = comms.get((s.pid, s.tid)) or s.comm
            if s.kind == CPU:
                groups[(s.pid, s.tid, s.stack_id)].append(k)
        first: dict[tuple[int, int], ThreadSpan] = {}
        for r in self._rows:
            if (r.pid, r.tid) not in first or r.start_ns < first[(r.pid, r.tid)].start_ns:
                first[(r.pid, r.tid)] = r
        for pid, tid, sampled, want in self._cpu_shares(sel):
            have = sum(sampled.values())
            if not have:
                if want:
                    r = first[(pid, tid)]
                    samples.append(Sample(CPU, r.start_ns, pid, tid, 0, comms.get((pid, tid), ""),
                                          r.thread_name, (UNSAMPLED,), want,
                                          trace_id=self.trace_id, span_id=r.span_id))
                continue
            for sid, v in sampled.items():
                ks = groups.get((pid, tid, sid), []) if v > 0 else []
                target, left, seen = round(v * want / have), 0, 0
                for n, k in enumerate(ks):
                    seen += picked[k].value_ns
                    share = target - left if n == len(ks) - 1 else round(target * seen / v) - left
                    left += share
                    samples[k] = replace(samples[k], value_ns=share)
        return samples


def scoped(engine: QueryEngine, traces: TraceReader, sel: Selection,
           args: Mapping[str, str]) -> tuple[QueryEngine, Selection]:
    """The engine and selection a query runs on: a trace's when `trace_id` is given.

    Without `from`/`until`, a trace query covers the whole trace (plus a second
    either side), however long ago it ran.
    """
    trace_id = args.get("trace_id")
    if not trace_id:
        return engine, sel
    span_id = args.get("span_id")
    eng = TraceEngine(engine, traces, sel.tenant, check_trace_id(trace_id),
                      check_span_id(span_id) if span_id else "")
    if not args.get("from") and not args.get("until"):
        ext = eng.extent()
        if ext:
            sel = replace(sel, lo=ext[0] - _MARGIN_NS, hi=ext[1] + _MARGIN_NS)
    return eng, sel
