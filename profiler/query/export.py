"""Exports of a selection: pprof, folded and speedscope bytes."""

from __future__ import annotations

import json

from profiler.formats import pprof, speedscope
from profiler.model import Profile, Sample


def _profile(samples: list[Sample], lo: int, hi: int) -> Profile:
    return Profile(samples, lo, hi, hz=19, meta={"exporter": "flamecam"})


def to_pprof(samples: list[Sample], lo: int, hi: int) -> bytes:
    return pprof.encode(_profile(samples, lo, hi))


def to_speedscope(samples: list[Sample], lo: int, hi: int) -> bytes:
    doc = speedscope.to_dict(_profile(samples, lo, hi))
    return json.dumps(doc, separators=(",", ":")).encode()
