"""Parsing of query selectors (times are `profiler.web.params`).

`query` is `<type>{label="value", ...}` where type is `cpu`, `offcpu`, `wall`
or a Pyroscope profile type id (`process_cpu:cpu:nanoseconds:cpu:nanoseconds`),
and matchers are `=`, `!=`, `=~`, `!~` as in PromQL: a regex must match the
whole value (fully anchored). User regexes run on RE2 (`google-re2`), whose
matching is linear in the value's length: `(a|a)+b` against 29 a's took 31 s
in Python's backtracking `re`, holding a server thread. RE2 has no
backreferences or lookaround; such a regex is a 400.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import re2

from profiler.model import CPU, OFFCPU, type_id, unit_scale
from profiler.web.params import QueryError

_MATCHER = re.compile(
    r'\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)'
)
_TYPE = re.compile(r"^[A-Za-z0-9_:.\-]*$")


@dataclass(frozen=True)
class Selector:
    kinds: tuple[str, ...]
    matchers: tuple[tuple[str, str, str], ...] = field(default=())

    def matches(self, labels: dict[str, str]) -> bool:
        for name, op, value in self.matchers:
            have = labels.get(name, "")
            if op == "=" and have != value:
                return False
            if op == "!=" and have == value:
                return False
            if op == "=~" and not _regex(value).fullmatch(have):
                return False
            if op == "!~" and _regex(value).fullmatch(have):
                return False
        return True


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False       # a bad user regex is a 400, not a line on stderr
_RE2_OPTIONS.max_mem = 8 << 20        # per compiled regex; a larger program fails to compile


@functools.lru_cache(maxsize=256)
def _regex(value: str) -> re2._Regexp:
    """The compiled matcher (a query's regexes are matched against every series)."""
    return re2.compile(value, _RE2_OPTIONS)


def kinds_of(profile_type: str) -> tuple[str, ...]:
    """Stored kinds a profile type stands for.

    `cpu`, `offcpu` and `wall` (both) are Flamecam's own; Pyroscope's CPU ids
    map to `cpu`. Any other full id (`memory:alloc_space:bytes:space:bytes`)
    is the stored kind of that client type, its units spelled as stored
    (`wall:wall:microseconds:...` reads the nanoseconds Flamecam kept).
    """
    t = profile_type.strip()
    if t in ("", "wall", "process_cpu:wall", "merged"):
        return (CPU, OFFCPU)
    if t in (CPU, OFFCPU):
        return (t,)
    if t in ("off_cpu", "off-cpu"):
        return (OFFCPU,)
    parts = t.split(":")
    if len(parts) >= 2 and parts[1] in ("off_cpu", "offcpu"):
        return (OFFCPU,)
    if parts[0] in ("process_cpu", "cpu") or (len(parts) >= 2 and parts[1] in ("cpu", "samples")
                                             and len(parts) != 5):
        return (CPU,)
    if len(parts) == 5 and all(parts):
        name, sample_type, unit, period_type, period_unit = parts
        return (type_id(name, sample_type, unit_scale(unit)[0],
                                      period_type, unit_scale(period_unit)[0]),)
    raise QueryError(f"unknown profile type {profile_type!r}")


def parse_selector(query: str | None, default_type: str = "wall") -> Selector:
    """Parse `<type>{matchers}`; a bare `{...}` means wall (cpu + offcpu)."""
    q = (query or "").strip()
    if len(q) > 4096:
        raise QueryError("query too long")
    if "{" in q:
        if not q.endswith("}"):
            raise QueryError("query must end with '}'")
        head, body = q[:-1].split("{", 1)
    else:
        head, body = q, ""
    head = head.strip() or default_type
    if not _TYPE.match(head):
        raise QueryError(f"bad profile type {head!r}")
    kinds = kinds_of(head)
    matchers = []
    pos = 0
    body = body.strip()
    while pos < len(body):
        m = _MATCHER.match(body, pos)
        if not m:
            raise QueryError(f"bad label matcher near {body[pos:pos + 40]!r}")
        name, op, value = m.group(1), m.group(2), _unescape(m.group(3))
        if op in ("=~", "!~"):
            try:
                _regex(value)
            except re2.error as e:
                reason = e.args[0].decode(errors="replace") if e.args and isinstance(
                    e.args[0], bytes) else str(e)
                raise QueryError(f"bad regular expression {value[:100]!r}: {reason}") from None
        if name != "__name__":
            matchers.append((name, op, value))
        pos = m.end()
    return Selector(kinds, tuple(matchers))


def _unescape(v: str) -> str:
    return re.sub(r"\\(.)", r"\1", v)
