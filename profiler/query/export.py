"""Exports of a selection: pprof, folded and speedscope bytes."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable

from profiler.formats import pprof, speedscope
from profiler.model import Profile, Sample


def _profile(samples: list[Sample], lo: int, hi: int) -> Profile:
    return Profile(samples, lo, hi, hz=19, meta={"exporter": "flamecam"})


def to_pprof(samples: list[Sample], lo: int, hi: int) -> bytes:
    return pprof.encode(_profile(samples, lo, hi))


def to_speedscope(samples: list[Sample], lo: int, hi: int) -> bytes:
    doc = speedscope.to_dict(_profile(samples, lo, hi))
    return json.dumps(doc, separators=(",", ":")).encode()


def to_folded(samples: Iterable[Sample],
              names: Callable[[Sample], list[str]] = Sample.folded_stack) -> str:
    """FlameGraph folded text of samples (`a;b;c value_ns`, one line per
    stack, in stack order), as `QueryEngine.folded` writes a selection's."""
    totals: Counter[str] = Counter()
    for s in samples:
        totals[";".join(names(s))] += s.value_ns
    return "".join(f"{stack} {v}\n" for stack, v in sorted(totals.items()))
