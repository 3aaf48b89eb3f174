"""URL parameters every endpoint parses the same way: times, durations and integers.

Ingest (`/ingest?from=&until=`) and query (`/render?from=&until=`) accept the
same forms, so both call these and answer a `QueryError` with 400. Every
number is bounded here, before it reaches arithmetic or SQL: times and
durations fit int64 nanoseconds (a larger one was an `OverflowError`, a 500).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping

INT64_MAX = (1 << 63) - 1


class QueryError(ValueError):
    """A URL query parameter is malformed or out of range (answered with 400)."""


_REL = re.compile(r"^now(?:([-+])(\d{1,18})([smhdw]))?$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _seconds_to_ns(v: str, what: str) -> int:
    """A decimal number of seconds (`1.5`, `1e3`) as ns, finite and within int64."""
    try:
        f = float(v)
    except ValueError:
        raise QueryError(f"bad {what} {v[:40]!r}") from None
    if not math.isfinite(f) or not 0 <= f * 1e9 < INT64_MAX:
        raise QueryError(f"{what} {v[:40]!r} out of range")
    return int(f * 10**9)


def parse_time(value: str | None, default: str, now_ns: int | None = None) -> int:
    """Unix seconds, ms, µs or ns (by digit count), or `now`/`now-1h`, to ns
    in [0, 2^63): a time past that is refused, not wrapped or overflowed."""
    v = (value or default).strip()
    now_ns = now_ns or time.time_ns()
    m = _REL.match(v)
    if m:
        ns = now_ns
        if m.group(1):
            delta = int(m.group(2)) * _UNITS[m.group(3)] * 10**9
            ns = now_ns - delta if m.group(1) == "-" else now_ns + delta
    elif re.fullmatch(r"\d{1,19}", v):
        n = int(v)
        digits = len(v.lstrip("0")) or 1
        ns = n * 10**9 if digits <= 11 else n * 10**6 if digits <= 14 else \
            n * 10**3 if digits <= 17 else n
    elif re.fullmatch(r"[0-9.eE+\-]{1,40}", v) and any(c in v for c in ".eE"):
        ns = _seconds_to_ns(v, "time")
    else:
        raise QueryError(f"bad time {v[:40]!r}")
    if not 0 <= ns <= INT64_MAX:
        raise QueryError(f"time {v[:40]!r} out of range")
    return ns


def parse_duration(value: str, name: str) -> int:
    """A positive number of seconds (`step=15`, `step=0.5`) as ns within int64."""
    ns = _seconds_to_ns(value.strip(), name)
    if ns <= 0:
        raise QueryError(f"{name} must be positive")
    return ns


def parse_int(value: str, name: str, lo: int, hi: int) -> int:
    """An integer parameter within [lo, hi] (pid, limit, sampleRate, ...)."""
    v = value.strip()
    if not re.fullmatch(r"[+-]?\d{1,20}", v):
        raise QueryError(f"{name} must be an integer")
    n = int(v)
    if not lo <= n <= hi:
        raise QueryError(f"{name} must be between {lo} and {hi}")
    return n


def parse_range(args: Mapping[str, str], from_key: str = "from",
                until_key: str = "until") -> tuple[int, int]:
    """`from` (default an hour ago) and `until` (default now) as ns; until must be later."""
    now = time.time_ns()
    lo = parse_time(args.get(from_key), "now-1h", now)
    hi = parse_time(args.get(until_key), "now", now)
    if hi <= lo:
        raise QueryError(f"{until_key} must be after {from_key}")
    return lo, hi
