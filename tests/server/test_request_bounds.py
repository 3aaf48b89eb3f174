"""Decompression is bounded per request, not per profile (issue 15 item 9):
a push of many small gzipped pprofs that each inflate within the limit, but
together past it, is a 413 and stores nothing (real app, SQLite and PostgreSQL)."""

from __future__ import annotations

import gzip
import time

from profiler.formats import pprof
from profiler.formats.proto import profile_pb2, push_pb2
from tests.server.helpers import profile

PROTO = {"Content-Type": "application/proto"}


def _padded_pprof(pad_bytes: int) -> bytes:
    """A valid gzipped pprof that inflates to about `pad_bytes` (one long unused string)."""
    msg = profile_pb2.Profile()
    msg.ParseFromString(gzip.decompress(pprof.encode(profile(5, time.time_ns() - 10**9))))
    msg.string_table.append("x" * pad_bytes)
    return gzip.compress(msg.SerializeToString())


def test_push_inflating_past_the_limit_in_total_is_413(client):
    one = _padded_pprof(10 << 20)  # 10 MiB inflated, ~10 KiB sent
    req = push_pb2.PushRequest()
    s = req.series.add()
    s.labels.add(name="service_name", value="bomb")
    for _ in range(8):  # 80 MiB in all, past the 64 MiB a request may inflate
        s.samples.add(raw_profile=one)
    body = req.SerializeToString()
    assert len(body) < 1 << 20
    r = client.post("/push.v1.PusherService/Push", data=body, headers=PROTO)
    assert r.status_code == 413, (r.status_code, r.data[:200])
    assert "\n" not in r.get_json()["error"]
    got = client.get("/api/v1/series?query={}&from=0&until=now%2B1h").get_json()
    assert got == {"series": []}
    # Within the bound, the same profiles still go in.
    del s.samples[6:]
    r = client.post("/push.v1.PusherService/Push", data=req.SerializeToString(), headers=PROTO)
    assert r.status_code == 200, r.data[:200]
