"""Validation of series labels coming from clients."""

from __future__ import annotations

import re
import time

from profiler.web.errors import BadRequest
from profiler.web.limits import Limits

LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
# Labels that are not series identity but per-sample or reserved.
DROPPED = frozenset({"__name__", "__delta__", "__session_id__"})


def validate_labels(pairs: list[tuple[str, str]], limits: Limits) -> dict[str, str]:
    """Check names, values, counts and duplicates; add `service_name` if missing."""
    out: dict[str, str] = {}
    for name, value in pairs:
        if len(name) > limits.max_label_name:
            raise BadRequest(400, f"label name longer than {limits.max_label_name}")
        if not LABEL_NAME.match(name):
            raise BadRequest(400, f"invalid label name {name[:80]!r}")
        if len(value) > limits.max_label_value:
            raise BadRequest(400, f"label {name} value longer than {limits.max_label_value}")
        if any(ord(c) < 32 for c in value):
            raise BadRequest(400, f"label {name} value has control characters")
        if name in out:
            raise BadRequest(400, f"duplicate label name {name!r}")
        out[name] = value
    if len(out) > limits.max_series_labels:
        raise BadRequest(400, f"{len(out)} labels exceed the limit of {limits.max_series_labels}")
    for name in DROPPED:
        out.pop(name, None)
    if not out.get("service_name"):
        out["service_name"] = "unknown_service"
    return out


def check_time(ts_ns: int, limits: Limits, now_ns: int | None = None) -> None:
    now_ns = now_ns or time.time_ns()
    if ts_ns < now_ns - limits.max_age_s * 10**9:
        raise BadRequest(422, "timestamp older than the retention window")
    if ts_ns > now_ns + limits.max_future_s * 10**9:
        raise BadRequest(422, "timestamp too far in the future")
