"""Slow requests against fast ones: where the slow ones spend their extra time.

Two sets of local roots of one service in one window: by latency (at least
`slow_ns` against at most `fast_ns`; by default the p90 and p50 of the
endpoint, or of the whole service) or by a brushed box of the scatter (the
roots inside it against the rest). Each set's linked samples are merged into
one flame graph and divided by the number of requests, so the diff reads as
time per request ("slow requests spend 40 ms more in lock"), and each set gets
its mean breakdown (CPU and off-CPU by reason, exact where thread spans exist).
"""

from __future__ import annotations

from dataclasses import dataclass

from profiler.model import CPU, OFFCPU
from profiler.query.engine import QueryEngine
from profiler.query.traces import figures, percentile
from profiler.store import RootBox, RootFilter, TraceReader, TraceRoot

KINDS = {"cpu": (CPU,), "offcpu": (OFFCPU,), "wall": (CPU, OFFCPU)}
DEFAULT_SIDE = 500  # requests merged per side
MAX_SIDE = 5000


@dataclass(frozen=True)
class Comparison:
    """What to compare: by latency (`slow_ns`/`fast_ns`, None: the percentile)
    or, when `box` is given, the roots in the box against the rest."""

    service: str
    lo: int
    hi: int
    endpoint: str = ""
    slow_ns: int | None = None
    fast_ns: int | None = None
    box: RootBox | None = None
    profile_type: str = "wall"
    limit: int = DEFAULT_SIDE


def sides(traces: TraceReader, tenant: str, c: Comparison
          ) -> tuple[RootFilter, RootFilter, dict]:
    """The filters of A (baseline: fast, or the rest) and B (slow, or the box),
    and what chose them (thresholds or the box) for the answer."""
    if c.box is not None:
        b = c.box
        inside = RootFilter(c.service, max(c.lo, b.lo), min(c.hi, b.hi), c.endpoint,
                            b.min_ns, b.max_ns)
        rest = RootFilter(c.service, c.lo, c.hi, c.endpoint, outside=b)
        return rest, inside, {"box": {"from_ms": b.lo / 1e6, "until_ms": b.hi / 1e6,
                                      "min_ms": b.min_ns / 1e6, "max_ms": b.max_ns / 1e6}}
    slow, fast = c.slow_ns, c.fast_ns
    if slow is None or fast is None:
        ds = sorted(d for by_name in traces.root_durations(tenant, c.service, c.lo, c.hi,
                                                            c.endpoint).values()
                    for d in by_name)
        if ds:
            slow = percentile(ds, 90) if slow is None else slow
            fast = percentile(ds, 50) if fast is None else fast
        else:
            slow = slow if slow is not None else 0
            fast = fast if fast is not None else 0
    # Never one request on both sides, even when the durations do not spread.
    fast_side = RootFilter(c.service, c.lo, c.hi, c.endpoint, max_ns=min(fast, slow - 1))
    slow_side = RootFilter(c.service, c.lo, c.hi, c.endpoint, min_ns=max(slow, 1))
    return fast_side, slow_side, {"slow_ms": slow / 1e6, "fast_ms": fast / 1e6}


def _side(traces: TraceReader, tenant: str, roots: list[TraceRoot], matching: int,
          kinds: tuple[str, ...]) -> tuple[dict[int, int], dict]:
    """Stack values per request of the roots' traces, and the side's summary."""
    n = len(roots)
    values = traces.stack_values_of(tenant, [r.trace_id for r in roots], kinds) if n else {}
    per_request = {s: round(v / n) for s, v in values.items() if round(v / n) > 0}
    breakdown: dict[str, float] = {"cpu": 0.0}
    linked = 0
    for f in figures(traces, tenant, roots) if n else ():
        breakdown["cpu"] += f["cpu_ns"]
        for reason, ns in f["offcpu_ns"].items():
            breakdown[reason] = breakdown.get(reason, 0) + ns
        linked += f["linking"] != "none"
    durations = sorted(r.duration_ns for r in roots)
    summary = {
        "count": matching, "used": n, "linked": linked,
        "mean_ms": sum(durations) / n / 1e6 if n else 0,
        "min_ms": durations[0] / 1e6 if n else 0, "max_ms": durations[-1] / 1e6 if n else 0,
        "p50_ms": percentile(durations, 50) / 1e6 if n else 0,
        "breakdown": {k: round(v / n) if n else 0 for k, v in breakdown.items()},
    }
    return per_request, summary


def compare(engine: QueryEngine, traces: TraceReader, tenant: str, c: Comparison,
            max_nodes: int = 0) -> dict:
    """The diff flamebearer of A (fast, or the rest) against B (slow, or the box),
    in ns per request, with both sides' summaries (`a`, `b`)."""
    a_filter, b_filter, chosen = sides(traces, tenant, c)
    kinds = KINDS[c.profile_type]
    a_roots, a_count = traces.select_roots(tenant, a_filter, c.limit)
    b_roots, b_count = traces.select_roots(tenant, b_filter, c.limit)
    a_values, a = _side(traces, tenant, a_roots, a_count, kinds)
    b_values, b = _side(traces, tenant, b_roots, b_count, kinds)
    out = engine.diff_values(a_values, b_values, max_nodes)
    out.update(per_request=True, a=a, b=b, endpoint=c.endpoint, type=c.profile_type, **chosen)
    return out
