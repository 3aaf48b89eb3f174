"""Encoding of samples into the agent's upload batch (see agent.proto)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import zstandard

from profiler.formats.proto import agent_pb2
from profiler.model import Frame, Sample


def encode_batch(samples: Iterable[Sample], labels_of: Callable[[Sample], dict[str, str]],
                 *, agent_id: str, seq: int, lost: dict[str, int] | None = None) -> bytes:
    """zstd(Batch) with strings, frames and stacks deduplicated."""
    msg = agent_pb2.Batch(agent_id=agent_id, seq=seq)
    strings: dict[str, int] = {}
    frames: dict[Frame, int] = {}
    stacks: dict[tuple[Frame, ...], int] = {}
    series: dict[tuple[str, tuple], agent_pb2.Series] = {}
    last_ts: dict[int, int] = {}

    def s_idx(s: str) -> int:
        i = strings.get(s)
        if i is None:
            i = strings[s] = len(strings)
            msg.strings.append(s)
        return i

    s_idx("")
    samples = sorted(samples, key=lambda s: s.ts_ns)
    msg.base_ns = samples[0].ts_ns if samples else 0
    for s in samples:
        st = stacks.get(s.stack)
        if st is None:
            ids = []
            for f in s.stack:
                fi = frames.get(f)
                if fi is None:
                    fi = frames[f] = len(frames)
                    msg.frames.add(name=f.name, kind=f.kind, module=f.module,
                                   build_id=f.build_id, offset=f.offset & 0xFFFFFFFFFFFFFFFF,
                                   file=f.file, line=max(0, f.line))
                ids.append(fi)
            st = stacks[s.stack] = len(stacks)
            msg.stacks.add(frame=ids)
        labels = labels_of(s)
        key = (s.kind, tuple(sorted(labels.items())))
        ser = series.get(key)
        if ser is None:
            ser = series[key] = msg.series.add(kind=s.kind)
            ser.labels.update(labels)
        prev = last_ts.get(id(ser), msg.base_ns)
        ser.ts_delta_ns.append(s.ts_ns - prev)
        last_ts[id(ser)] = s.ts_ns
        ser.stack.append(st)
        ser.value_ns.append(max(0, s.value_ns))
        ser.count.append(max(0, s.count))
        ser.pid.append(s.pid)
        ser.tid.append(s.tid)
        ser.thread.append(s_idx(s.thread_name))
        ser.comm.append(s_idx(s.comm))
        ser.reason.append(s_idx(s.reason))
        ser.cpu.append(max(0, s.cpu))
    for k, v in (lost or {}).items():
        msg.lost[k] = v
    # A compressor per call: they are not thread-safe, and this runs every 10 s.
    return zstandard.ZstdCompressor(level=3).compress(msg.SerializeToString())
