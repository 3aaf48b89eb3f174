"""The selection broken down by process or by thread: the web UI's group-by.

Series labels (service, version, host) break a selection down by series;
processes and threads are no labels (pid, tid and names travel with each
sample), yet every view roots its stacks at their process. This answers the
same breakdown for them: each process (or thread) with its total and its
value per step, the largest first, in one read of the range.
"""

from __future__ import annotations

from profiler.query.engine import QueryEngine, Selection

GROUP_BY = ("process", "thread")


def breakdown(engine: QueryEngine, sel: Selection, by: str, limit: int, step_ns: int) -> dict:
    """`{"by", "units", "step_ms", "total", "count", "groups": [{"pid", ["tid",] "name",
    "comm", "value", "points": [[ms, value], ..]}, ..]}`: the `limit` largest groups
    of `by` ("process": by pid, named by its comm; "thread": by (pid, tid)),
    totals exact, `points` per step from `sel.lo` (zeros included)."""
    if by not in GROUP_BY:
        raise ValueError(f"by must be one of {', '.join(GROUP_BY)}")
    groups: dict[tuple[int, ...], dict] = {}
    for t in engine.threads(sel):
        value = t["cpu_ns"] + t["offcpu_ns"] + t.get("value", 0)
        key = (t["pid"],) if by == "process" else (t["pid"], t["tid"])
        g = groups.get(key)
        if g is None:
            g = groups[key] = {"pid": t["pid"], "name": "", "comm": t["comm"], "value": 0}
            if by == "thread":
                g["tid"] = t["tid"]
                g["name"] = t["thread_name"] or t["comm"]
            else:
                g["name"] = t["comm"]
        g["value"] += value
    total = sum(g["value"] for g in groups.values())
    top = sorted((g for g in groups.values() if g["value"] > 0),
                 key=lambda g: (-g["value"], g["pid"], g.get("tid", 0)))[:limit]
    nsteps = max(1, -(-(sel.hi - sel.lo) // step_ns))
    points = {(g["pid"],) if by == "process" else (g["pid"], g["tid"]): [0] * nsteps
              for g in top}
    series = [s.id for s in engine.series(sel.tenant, sel.selector)]
    steps = engine.store.thread_steps(series, sel.lo, sel.hi, step_ns, pid=sel.pid)
    for (pid, tid), per in steps.items():
        row = points.get((pid,) if by == "process" else (pid, tid))
        if row is not None:
            for i, v in per.items():
                if 0 <= i < nsteps:
                    row[i] += v
    for g in top:
        row = points[(g["pid"],) if by == "process" else (g["pid"], g["tid"])]
        g["points"] = [[(sel.lo + i * step_ns) // 10**6, v] for i, v in enumerate(row)]
    return {"by": by, "units": engine.units(sel), "step_ms": step_ns // 10**6, "total": total,
            "count": len(groups), "groups": top}
