"""URL parameters every endpoint parses the same way: times and time ranges.

Ingest (`/ingest?from=&until=`) and query (`/render?from=&until=`) accept the
same forms, so both call these and answer a `QueryError` with 400.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping


class QueryError(ValueError):
    """A URL query parameter is malformed (answered with 400)."""


_REL = re.compile(r"^now(?:([-+])(\d+)([smhdw]))?$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(value: str | None, default: str, now_ns: int | None = None) -> int:
    """Unix seconds, ms, µs or ns (by digit count), or `now`/`now-1h`, to ns."""
    v = (value or default).strip()
    now_ns = now_ns or time.time_ns()
    m = _REL.match(v)
    if m:
        if not m.group(1):
            return now_ns
        delta = int(m.group(2)) * _UNITS[m.group(3)] * 10**9
        return now_ns - delta if m.group(1) == "-" else now_ns + delta
    try:
        if "." in v:
            return int(float(v) * 10**9)
        n = int(v)
    except ValueError:
        raise QueryError(f"bad time {v!r}") from None
    if n < 0:
        raise QueryError(f"bad time {v!r}")
    digits = len(str(n))
    if digits <= 11:
        return n * 10**9
    if digits <= 14:
        return n * 10**6
    if digits <= 17:
        return n * 10**3
    if digits <= 19:
        return n
    raise QueryError(f"bad time {v!r}")


def parse_range(args: Mapping[str, str], from_key: str = "from",
                until_key: str = "until") -> tuple[int, int]:
    """`from` (default an hour ago) and `until` (default now) as ns; until must be later."""
    now = time.time_ns()
    lo = parse_time(args.get(from_key), "now-1h", now)
    hi = parse_time(args.get(until_key), "now", now)
    if hi <= lo:
        raise QueryError(f"{until_key} must be after {from_key}")
    return lo, hi
