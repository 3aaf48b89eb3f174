"""Two releases of one service with known sample counts, for diff significance
tests (server and web UI): each change's z is computed here from the events
themselves, by the method the server and the UI implement (compound Poisson:
a function's self time S = sum(d) has variance sum(d**2); shares by the delta
method), so an answer can be checked against it.

On-CPU (99 Hz, 10,101,010 ns a sample): `tiny` doubles on a few samples
(2 -> 4 of 1000: noise), `hot` grows from 100 to 300 (real), `steady` shrinks.
Off-CPU (intervals of distinct lengths, so their GCD is 1 ns): `tiny_wait`
doubles on two long waits (2 -> 4 io intervals of ~30 ms: noise), `lock_wait`
grows from 50 to 300 lock intervals of ~5 ms (real); `nap` sleeps alike.
"""

from __future__ import annotations

import math

from profiler.agent.batch import encode_batch
from profiler.model import Frame, Sample

SERVICE = "sigdemo"
PERIOD = 10_101_010
# release -> [(kind, function, reason, count, base length ns)]
EVENTS = {
    "1.0": [("cpu", "steady", "", 898, PERIOD), ("cpu", "tiny", "", 2, PERIOD),
            ("cpu", "hot", "", 100, PERIOD),
            ("offcpu", "nap", "sleep", 400, 5_000_000),
            ("offcpu", "tiny_wait", "io", 2, 30_000_000),
            ("offcpu", "lock_wait", "lock", 50, 5_000_000)],
    "2.0": [("cpu", "steady", "", 696, PERIOD), ("cpu", "tiny", "", 4, PERIOD),
            ("cpu", "hot", "", 300, PERIOD),
            ("offcpu", "nap", "sleep", 400, 5_000_000),
            ("offcpu", "tiny_wait", "io", 4, 30_000_000),
            ("offcpu", "lock_wait", "lock", 300, 5_000_000)],
}
PIDS = {"1.0": 4101, "2.0": 4102}
Z_REAL = 3.29


def leaf(function: str, reason: str) -> str:
    """The name a function's self time sits under: its own, or its reason frame."""
    return f"[off-cpu:{reason}]" if reason else function


def events(version: str, kinds: tuple[str, ...]) -> list[tuple[str, str, int]]:
    """(function, leaf name, value ns) of every event of the release, of `kinds`."""
    out = []
    for kind, fn, reason, n, base in EVENTS[version]:
        if kind not in kinds:
            continue
        for k in range(n):
            # off-CPU lengths differ by a prime number of ns each: measured, not a unit
            out.append((fn, leaf(fn, reason), base if kind == "cpu" else base + 7919 * k + 13))
    return out


def samples(version: str, t0: int) -> list[Sample]:
    """The release's events as agent samples of one process, 1 ms apart from t0."""
    pid = PIDS[version]
    main = Frame("main", "native", module="sigdemo")
    out = []
    for i, (kind, fn, reason, n, base) in enumerate(EVENTS[version]):
        for k in range(n):
            value = base if kind == "cpu" else base + 7919 * k + 13
            out.append(Sample(kind, t0 + (i * 1000 + k) * 10**6, pid, pid, 0, "sigdemo",
                              "sigdemo", (main, Frame(fn, "native", module="sigdemo")), value,
                              reason=reason))
    return out


def push(post, t0: int) -> None:
    """Both releases through POST /api/v1/agent/push; `post(body)` sends one batch."""
    for seq, version in enumerate(EVENTS, 1):
        labels = {"service_name": SERVICE, "service_version": version}
        body = encode_batch(samples(version, t0), lambda s, labels=labels: labels,
                            agent_id="sigdemo", seq=seq)
        post(body)


def expected_z(kinds: tuple[str, ...], name: str, by: str = "leaf") -> float:
    """z of the change of `name`'s share from 1.0 (A) to 2.0 (B): its self time
    (`by="leaf"`) or the time of the function (`by="function"`, its total)."""
    sides = []
    for version in ("1.0", "2.0"):
        ev = events(version, kinds)
        total = sum(v for _, _, v in ev)
        q_all = sum(v * v for _, _, v in ev)
        mine = [v for fn, lf, v in ev if (lf if by == "leaf" else fn) == name]
        s, q = sum(mine) / total, sum(v * v for v in mine)
        var = ((1 - s) ** 2 * q + s * s * (q_all - q)) / total ** 2
        sides.append((s, var))
    (sa, va), (sb, vb) = sides
    return (sb - sa) / math.sqrt(va + vb)
