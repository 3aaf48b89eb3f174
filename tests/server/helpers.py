"""Small builders shared by the server tests (real profiles, no mocks)."""

from __future__ import annotations

import gzip
import time

from profiler.formats import pprof
from profiler.formats.proto import push_pb2
from profiler.model import Frame, Profile, Sample

MAIN = Frame("main", "python", file="/srv/app.py", line=3)
BURN = Frame("burn_a", "python", file="/srv/app.py", line=10)
READ = Frame("vfs_read", "kernel")


def profile(n: int = 20, t0: int | None = None) -> Profile:
    t0 = t0 or time.time_ns() - 5 * 10**9
    samples = [Sample("cpu", t0 + i * 10**7, 100, 101 + i % 2, 0, "app", f"worker-{i % 2}",
                      (MAIN, BURN), 10**7) for i in range(n)]
    samples.append(Sample("offcpu", t0, 100, 101, 0, "app", "worker-0", (MAIN, READ), 3 * 10**6,
                          reason="io"))
    return Profile(samples, t0, t0 + n * 10**7, 100)


def push_request(labels: dict[str, str], prof: Profile | None = None) -> bytes:
    req = push_pb2.PushRequest()
    s = req.series.add()
    s.labels.add(name="__name__", value="process_cpu")
    for k, v in labels.items():
        s.labels.add(name=k, value=v)
    s.samples.add(raw_profile=pprof.encode(prof or profile()), ID="x")
    return req.SerializeToString()


def gz(b: bytes) -> bytes:
    return gzip.compress(b)
