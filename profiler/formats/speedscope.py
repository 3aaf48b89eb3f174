"""speedscope's JSON file format: one sampled profile per thread, in time order.

Each profile lists its samples as they happened, weighted in nanoseconds, so
speedscope's time-order view replays what a thread did on and off the CPU.
`parse` reads any speedscope file back (sampled or evented profiles, any time
unit), as `/ingest?format=speedscope` receives them.
See https://www.speedscope.app/file-format-schema.json.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import TextIO

from ..model import PROCESS_KIND, Profile, profile_type

SCHEMA = "https://www.speedscope.app/file-format-schema.json"


def to_dict(profile: Profile, name: str = "flamecam") -> dict:
    frame_index: dict[tuple[str, str], int] = {}
    frames: list[dict] = []

    def index(fname: str, file: str = "") -> int:
        key = (fname, file)
        i = frame_index.get(key)
        if i is None:
            i = frame_index[key] = len(frames)
            frames.append({"name": fname, "file": file} if file else {"name": fname})
        return i

    by_thread = defaultdict(list)
    for s in profile.samples:
        by_thread[(s.pid, s.tid)].append(s)

    profiles = []
    for (pid, tid), samples in sorted(by_thread.items()):
        samples.sort(key=lambda s: s.ts_ns)
        stacks, weights = [], []
        for s in samples:
            # the process frame once: a whole-host view's stacks start with it
            rooted = bool(s.stack) and s.stack[0].kind == PROCESS_KIND
            stack = [] if rooted else [index(s.comm)]
            stack += [index(f.folded_name(), f.file) for f in s.stack]
            if s.kind == "offcpu":
                stack.append(index(f"[off-cpu:{s.reason or 'other'}]"))
            stacks.append(stack)
            weights.append(s.value_ns)
        first = samples[0]
        start = first.ts_ns - profile.start_ns
        profiles.append({
            "type": "sampled",
            "name": f"{first.comm} {pid}/{tid} {first.thread_name}",
            "unit": _unit(first.kind),
            "startValue": max(0, start),
            "endValue": max(0, start) + sum(weights),
            "samples": stacks,
            "weights": weights,
        })
    return {
        "$schema": SCHEMA,
        "shared": {"frames": frames},
        "profiles": profiles,
        "name": name,
        "exporter": "flamecam",
        "activeProfileIndex": 0,
    }


def _unit(kind: str) -> str:
    """speedscope's unit of a kind's values (`none` for counts)."""
    unit = profile_type(kind).sample_unit
    return unit if unit in ("nanoseconds", "bytes") else "none"


def write(profile: Profile, out: TextIO, name: str = "flamecam") -> None:
    json.dump(to_dict(profile, name), out, separators=(",", ":"))


_UNITS = {"nanoseconds": 1, "microseconds": 1000, "milliseconds": 10**6, "seconds": 10**9}
INT64_MAX = (1 << 63) - 1
MAX_DEPTH = 10_000  # frames in one stack; deeper is not a real program's stack


def parse(text: str, unitless_ns: int) -> list[tuple[list[str], int]]:
    """(frame names root first, weight in ns) per sample or evented stretch.

    Weights in a time unit convert to ns; weights without one (`none`, bytes)
    count samples, each worth `unitless_ns`. Raises ValueError with a one-line
    reason for anything that is not a speedscope file, and for what would not
    fit: frame names that are not strings, frame indexes out of the list
    (Python would read -1 as the last frame), weights or times that are not
    finite or whose ns exceed int64, stacks deeper than `MAX_DEPTH`.
    """
    try:
        doc = json.loads(text)
        frames = [f["name"] for f in doc["shared"]["frames"]]
        if not all(isinstance(n, str) for n in frames):
            raise ValueError("frame names must be strings")
        out: list[tuple[list[str], int]] = []
        for prof in doc["profiles"]:
            mult = _UNITS.get(prof.get("unit", "none"), 0)
            if prof.get("type") == "sampled":
                weights = prof.get("weights") or [1] * len(prof["samples"])
                for stack, w in zip(prof["samples"], weights, strict=True):
                    out.append((_names(frames, stack), _ns(w, mult, unitless_ns)))
            elif prof.get("type") == "evented":
                open_: list[int] = []
                last = _number(prof.get("startValue", 0))
                for ev in prof["events"]:
                    at = _number(ev["at"])
                    if open_ and at > last:
                        out.append((_names(frames, open_), _ns(at - last, mult, unitless_ns)))
                    last = at
                    if ev["type"] == "O":
                        open_.append(ev["frame"])
                        if len(open_) > MAX_DEPTH:
                            raise ValueError(f"stack deeper than {MAX_DEPTH} frames")
                    elif open_:
                        open_.pop()
            else:
                raise ValueError(f"unknown profile type {prof.get('type')!r}")
        return out
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError,
            OverflowError) as e:
        raise ValueError(f"bad speedscope file: {e}") from None


def _number(v: object) -> float:
    """A JSON number that is finite (Python's json reads Infinity and NaN)."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(f"not a finite number: {str(v)[:40]}")
    return v


def _ns(w: object, mult: int, unitless_ns: int) -> int:
    """A weight in ns (`mult` per unit, or `unitless_ns` per count) within [0, int64]."""
    w = _number(w)
    ns = w * mult if mult else int(w) * unitless_ns
    if not 0 <= ns <= INT64_MAX:
        raise ValueError(f"weight {str(w)[:40]} out of range")
    return int(ns)


def _names(frames: list[str], stack: list) -> list[str]:
    """Frame names of a stack of indexes, each checked to be in the frame list."""
    if len(stack) > MAX_DEPTH:
        raise ValueError(f"stack deeper than {MAX_DEPTH} frames")
    n = len(frames)
    for i in stack:
        if type(i) is not int or not 0 <= i < n:
            raise ValueError(f"frame index {str(i)[:40]} not in the frame list")
    return [frames[i] for i in stack]
