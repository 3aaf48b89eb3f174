"""Series cardinality through pprof sample labels (issue 15 item 8): request
ids stay per sample, not series; one push cannot make more series than
`max_series_per_request`, nor a tenant more than `max_series_per_tenant`
(real app, SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from profiler.formats.proto import profile_pb2, push_pb2
from profiler.web.context import EXT

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


def _push(client, raw: bytes, service: str = "card"):
    req = push_pb2.PushRequest()
    s = req.series.add()
    s.labels.add(name="service_name", value=service)
    s.samples.add(raw_profile=raw)
    return client.post("/push.v1.PusherService/Push", data=req.SerializeToString(),
                       headers=PROTO)


def test_request_ids_stay_per_sample(client):
    for key in ("request_id", "x-request-id", "correlation_id"):
        r = _push(client, _labelled_pprof(2000, key))
        assert r.status_code == 200, r.data[:200]
    got = client.get("/api/v1/series?query=cpu{}&from=now-1h&until=now").get_json()
    # one series, labelled by the service only (plus the type every series names)
    assert [{k: v for k, v in s["labels"].items() if k != "__profile_type__"}
            for s in got["series"]] == [{"service_name": "card"}]
    fb = client.get("/api/v1/render?query=cpu{}&from=now-1h&until=now").get_json()
    assert fb["flamebearer"]["numTicks"] == 3 * 2000 * 10**6


def test_one_push_cannot_make_more_series_than_the_limit(client):
    r = _push(client, _labelled_pprof(1001, "user"))
    assert r.status_code == 400, (r.status_code, r.data[:200])
    assert "series" in r.get_json()["error"]
    got = client.get("/api/v1/series?query={}&from=0&until=now%2B1h").get_json()
    assert got == {"series": []}
    assert _push(client, _labelled_pprof(1000, "user")).status_code == 200


def test_fifty_thousand_request_ids_make_one_series(client):
    """The issue's push: 50,000 samples, each with its own request_id."""
    r = _push(client, _labelled_pprof(50_000, "request_id"))
    assert r.status_code == 200, r.data[:200]
    got = client.get("/api/v1/series?query=cpu{}&from=now-1h&until=now").get_json()
    assert len(got["series"]) == 1
    fb = client.get("/api/v1/render?query=cpu{}&from=now-1h&until=now").get_json()
    assert fb["flamebearer"]["numTicks"] == 50_000 * 10**6


def _series(client) -> list[str]:
    got = client.get("/api/v1/series?query={}&from=0&until=now%2B1h").get_json()
    return sorted(s["labels"]["service_name"] + "/" + s["labels"].get("user", "")
                  for s in got["series"])


def test_a_tenant_cannot_pass_its_series_limit(app, client):
    cfg = app.extensions[EXT].config
    cfg.limits = dataclasses.replace(cfg.limits, max_series_per_tenant=5)
    assert _push(client, _labelled_pprof(3, "user"), "a").status_code == 200
    before = _series(client)
    assert len(before) == 3
    # 3 new series would make 6: refused whole, with the reason, nothing stored
    r = _push(client, _labelled_pprof(3, "user"), "b")
    assert r.status_code == 400, (r.status_code, r.data[:200])
    assert "limit of 5" in r.get_json()["error"]
    assert _series(client) == before
    fb = client.get("/api/v1/render?query=cpu{}&from=now-1h&until=now").get_json()
    assert fb["flamebearer"]["numTicks"] == 3 * 10**6
    # the legacy endpoint is bounded too
    r = client.post("/ingest?name=c.cpu{k=1}&from=now-10s&until=now", data=b"main;f 5\n")
    assert r.status_code == 200
    r = client.post("/ingest?name=c.cpu{k=2}&from=now-10s&until=now", data=b"main;f 5\n")
    assert r.status_code == 200
    r = client.post("/ingest?name=c.cpu{k=3}&from=now-10s&until=now", data=b"main;f 5\n")
    assert r.status_code == 400 and "limit of 5" in r.get_json()["error"]
    # the tenant's existing series still take samples at the limit
    assert _push(client, _labelled_pprof(3, "user"), "a").status_code == 200
    assert len(_series(client)) == 5


def test_expired_series_no_longer_count(db_url):
    from profiler.model import Frame, Sample
    from profiler.store import SeriesBatch, SeriesLimitExceeded, open_store

    store = open_store(db_url)
    try:
        t0 = time.time_ns() - 10**9
        sample = [Sample("cpu", t0, 1, 1, 0, "a", "a", (Frame("main", "native"),), 10**6)]

        def push(*names: str) -> int:
            return store.write("t", [SeriesBatch("cpu", {"s": n}, sample) for n in names],
                               max_series=2)

        assert push("a", "b") == 2
        with pytest.raises(SeriesLimitExceeded) as e:
            push("c")
        assert (e.value.have, e.value.new, e.value.limit) == (2, 1, 2)
        store.expire(time.time_ns())  # a and b's samples are past retention now
        assert push("c", "d") == 2
    finally:
        store.close()
