"""speedscope's JSON file format: one sampled profile per thread, in time order.

Each profile lists its samples as they happened, weighted in nanoseconds, so
speedscope's time-order view replays what a thread did on and off the CPU.
See https://www.speedscope.app/file-format-schema.json.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import TextIO

from ..model import Profile

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
            stack = [index(s.comm)]
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
            "unit": "nanoseconds",
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


def write(profile: Profile, out: TextIO, name: str = "flamecam") -> None:
    json.dump(to_dict(profile, name), out, separators=(",", ":"))
