"""Series cardinality through pprof sample labels (issue 15 item 8): request
ids stay per sample, not series; and one push cannot make more series than
`max_series_per_request` (real app, SQLite and PostgreSQL)."""

from __future__ import annotations

import time

from profiler.formats.proto import profile_pb2, push_pb2

PROTO = {"Content-Type": "application/proto"}


def _labelled_pprof(n: int, key: str) -> bytes:
    """n samples, each with its own value of label `key`."""
    p = profile_pb2.Profile()
    p.string_table.extend(["", "cpu", "nanoseconds", "main", key])
    p.sample_type.add(type=1, unit=2)
    p.function.add(id=1, name=3)
    p.location.add(id=1).line.add(function_id=1)
    for i in range(n):
        p.string_table.append(f"v{i:06d}")
        s = p.sample.add(location_id=[1], value=[10**6])
        s.label.add(key=4, str=len(p.string_table) - 1)
    p.time_nanos = time.time_ns() - 10**9
    return p.SerializeToString()


def _push(client, raw: bytes):
    req = push_pb2.PushRequest()
    s = req.series.add()
    s.labels.add(name="service_name", value="card")
    s.samples.add(raw_profile=raw)
    return client.post("/push.v1.PusherService/Push", data=req.SerializeToString(),
                       headers=PROTO)


def test_request_ids_stay_per_sample(client):
    for key in ("request_id", "x-request-id", "correlation_id"):
        r = _push(client, _labelled_pprof(2000, key))
        assert r.status_code == 200, r.data[:200]
    got = client.get("/api/v1/series?query=cpu{}&from=now-1h&until=now").get_json()
    assert [s["labels"] for s in got["series"]] == [{"service_name": "card"}]
    fb = client.get("/api/v1/render?query=cpu{}&from=now-1h&until=now").get_json()
    assert fb["flamebearer"]["numTicks"] == 3 * 2000 * 10**6


def test_one_push_cannot_make_more_series_than_the_limit(client):
    r = _push(client, _labelled_pprof(1001, "user"))
    assert r.status_code == 400, (r.status_code, r.data[:200])
    assert "series" in r.get_json()["error"]
    got = client.get("/api/v1/series?query={}&from=0&until=now%2B1h").get_json()
    assert got == {"series": []}
    assert _push(client, _labelled_pprof(1000, "user")).status_code == 200
