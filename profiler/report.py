"""Where the time went, as text: `flamecam report` and the summary `record` prints.

Like `perf report --stdio`: one row per function with its self and total
time. On the CPU, self time belongs to the leaf frame, kernel included. Off
the CPU every stack ends in the scheduler, so self time goes to the last
frame outside the kernel: the function that blocked (`nanosleep`,
`pthread_mutex_lock`), which is what a reader acts on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .model import OFFCPU, Sample

SORT_KEYS = ("self", "total", "cpu", "offcpu", "name")


@dataclass
class FunctionTime:
    name: str
    self_cpu: int = 0
    self_off: int = 0
    total: int = 0

    @property
    def self(self) -> int:
        return self.self_cpu + self.self_off


@dataclass
class ThreadTime:
    pid: int
    tid: int
    name: str
    cpu: int = 0
    off: dict[str, int] = field(default_factory=dict)
    top: dict[str, int] = field(default_factory=dict)


@dataclass
class Summary:
    """Totals of a set of samples, by function, by off-CPU reason and by thread."""

    cpu_ns: int = 0
    off_ns: dict[str, int] = field(default_factory=dict)
    functions: dict[str, FunctionTime] = field(default_factory=dict)
    threads: dict[tuple[int, int], ThreadTime] = field(default_factory=dict)

    @property
    def total_ns(self) -> int:
        return self.cpu_ns + sum(self.off_ns.values())


def _self_frame(s: Sample) -> str | None:
    if s.kind != OFFCPU:
        return s.stack[-1].name if s.stack else None
    for f in reversed(s.stack):
        if f.kind != "kernel":
            return f.name
    return s.stack[-1].name if s.stack else None


def summarize(samples: Iterable[Sample], kinds: tuple[str, ...] = ("cpu", OFFCPU),
              into: Summary | None = None) -> Summary:
    """Adds up `samples` of the given kinds (onto `into`, when given)."""
    out = into if into is not None else Summary()
    funcs = out.functions
    for s in samples:
        if s.kind not in kinds:
            continue
        v = s.value_ns
        off = s.kind == OFFCPU
        reason = s.reason or "other"
        if off:
            out.off_ns[reason] = out.off_ns.get(reason, 0) + v
        else:
            out.cpu_ns += v
        leaf = _self_frame(s)
        if leaf is not None:
            ft = funcs.get(leaf) or funcs.setdefault(leaf, FunctionTime(leaf))
            if off:
                ft.self_off += v
            else:
                ft.self_cpu += v
        for name in {f.name for f in s.stack}:
            ft = funcs.get(name) or funcs.setdefault(name, FunctionTime(name))
            ft.total += v
        th = out.threads.get((s.pid, s.tid))
        if th is None:
            th = out.threads[(s.pid, s.tid)] = ThreadTime(s.pid, s.tid, s.thread_name or s.comm)
        if off:
            th.off[reason] = th.off.get(reason, 0) + v
        else:
            th.cpu += v
        if leaf is not None:
            th.top[leaf] = th.top.get(leaf, 0) + v
    return out


def seconds(ns: int) -> str:
    """A duration the way people read it: 12.3 s, 45.6 ms, 7.0 us."""
    if ns >= 10**9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 10**6:
        return f"{ns / 1e6:.1f} ms"
    return f"{ns / 1e3:.1f} us"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:6.2f}%" if whole else "     -"


def off_split(summary: Summary) -> str:
    """`sleep 4.00 s (80%), lock 1.00 s (20%)`, heaviest first."""
    whole = sum(summary.off_ns.values())
    parts = sorted(summary.off_ns.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{r} {seconds(v)} ({100 * v / whole:.0f}%)" for r, v in parts) or "none"


def sorted_functions(summary: Summary, sort: str = "self") -> list[FunctionTime]:
    keys = {
        "self": lambda f: (-f.self, -f.total, f.name),
        "total": lambda f: (-f.total, -f.self, f.name),
        "cpu": lambda f: (-f.self_cpu, -f.total, f.name),
        "offcpu": lambda f: (-f.self_off, -f.total, f.name),
        "name": lambda f: f.name,
    }
    return sorted(summary.functions.values(), key=keys[sort])


def format_functions(summary: Summary, sort: str = "self", limit: int = 20) -> list[str]:
    """The function table: one line per function, a header line first."""
    whole = summary.total_ns
    rows = sorted_functions(summary, sort)
    if sort in ("self", "cpu", "offcpu"):  # a function with no self time is not a row here
        rows = [r for r in rows if r.self]
    lines = ["#   Self%        Self   On-CPU self  Off-CPU self    Total%       Total  Function"]
    for f in rows[:limit] if limit > 0 else rows:
        lines.append(f"  {_pct(f.self, whole)} {seconds(f.self):>11} {seconds(f.self_cpu):>13} "
                     f"{seconds(f.self_off):>13}  {_pct(f.total, whole)} {seconds(f.total):>11}  "
                     f"{f.name}")
    return lines


def format_threads(summary: Summary, limit: int = 20) -> list[str]:
    """One line per thread, busiest (on + off) first, with its top function."""
    lines = ["#     pid     tid  thread            On-CPU     Off-CPU  off-CPU split; top function"]
    rows = sorted(summary.threads.values(),
                  key=lambda t: (-(t.cpu + sum(t.off.values())), t.pid, t.tid))
    for t in rows[:limit] if limit > 0 else rows:
        off = sum(t.off.values())
        split = ", ".join(f"{r} {seconds(v)}" for r, v in
                          sorted(t.off.items(), key=lambda kv: -kv[1])) or "-"
        top = max(t.top.items(), key=lambda kv: kv[1])[0] if t.top else "-"
        lines.append(f"  {t.pid:7} {t.tid:7}  {t.name[:16]:16} {seconds(t.cpu):>9} "
                     f"{seconds(off):>11}  {split}; {top}")
    return lines


def format_header(summary: Summary) -> list[str]:
    return [f"# Total {seconds(summary.total_ns)}: on-CPU {seconds(summary.cpu_ns)}, "
            f"off-CPU {seconds(sum(summary.off_ns.values()))}",
            f"# Off-CPU by reason: {off_split(summary)}"]


def format_report(summary: Summary, sort: str = "self", limit: int = 20,
                  threads: bool = False) -> str:
    """The whole `flamecam report` text."""
    lines = format_header(summary) + ["#"]
    lines += format_threads(summary, limit) if threads else format_functions(summary, sort, limit)
    return "\n".join(lines) + "\n"


def record_summary(summary: Summary, path: str, fmt: str) -> str:
    """What `flamecam record` prints at the end: top 5 functions, the off-CPU split, what next."""
    top = [f for f in sorted_functions(summary, "cpu")[:5] if f.self_cpu]
    lines = [f"on-CPU {seconds(summary.cpu_ns)}; top functions (self):"]
    for f in top:
        lines.append(f"  {_pct(f.self_cpu, summary.cpu_ns)}  {f.name}")
    if summary.off_ns:
        lines.append(f"off-CPU {seconds(sum(summary.off_ns.values()))}: {off_split(summary)}")
    lines.append(f"next: flamecam report {path}" + _viewer(path, fmt))
    return "\n".join(lines)


def _viewer(path: str, fmt: str) -> str:
    if fmt == "pprof":
        return f"   or: go tool pprof -http=: {path}"
    if fmt == "speedscope":
        return "   or: open it at https://www.speedscope.app"
    if fmt in ("svg", "html"):
        return f"   or: open {path} in a browser"
    return f"   or: flamegraph.pl {path} > flame.svg"
