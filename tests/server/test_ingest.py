"""Ingest over HTTP: Pyroscope Push, legacy /ingest, and every kind of bad upload."""

from __future__ import annotations

import base64
import gzip
import json
import time

import pytest
import zstandard

from profiler.formats import pprof
from tests.server.helpers import gz, profile, push_request

PROTO = {"Content-Type": "application/proto", "Content-Encoding": "gzip"}


def _count(client) -> int:
    r = client.get("/api/v1/render?query={}&from=now-1d&until=now%2B1h")
    assert r.status_code == 200, r.data
    return r.get_json()["flamebearer"]["numTicks"]


def _stored_nothing(client):
    assert _count(client) == 0
    assert client.get("/api/v1/labels?from=now-1d").get_json()["names"] == []
    assert client.get("/healthz").status_code == 200


def test_push_binary_and_json(client):
    r = client.post("/push.v1.PusherService/Push",
                    data=gz(push_request({"service_name": "svc", "env": "ci"})), headers=PROTO)
    assert r.status_code == 200, r.data
    body = {"series": [{"labels": [{"name": "__name__", "value": "process_cpu"},
                                   {"name": "service_name", "value": "svc-json"}],
                        "samples": [{"rawProfile": base64.b64encode(
                            pprof.encode(profile())).decode(), "ID": "1"}]}]}
    r = client.post("/push.v1.PusherService/Push", data=json.dumps(body),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.data
    vals = client.get("/api/v1/labels/service_name/values?from=now-1h").get_json()["values"]
    assert vals == ["svc", "svc-json"]
    fb = client.get('/api/v1/render?query=cpu{service_name="svc"}').get_json()
    assert "burn_a" in fb["flamebearer"]["names"]
    assert fb["flamebearer"]["numTicks"] == 20 * 10**7
    off = client.get('/api/v1/render?query=offcpu{service_name="svc"}').get_json()
    assert "[off-cpu:io]" in off["flamebearer"]["names"]
    threads = client.get('/api/v1/threads?query={service_name="svc"}').get_json()["threads"]
    assert {(t["tid"], t["thread_name"]) for t in threads} == {(101, "worker-0"),
                                                              (102, "worker-1")}
    tl = client.get('/api/v1/thread-timeline?query={service_name="svc"}&tid=101').get_json()
    kinds = {e["kind"] for e in tl["events"]}
    assert kinds == {"cpu", "offcpu"}
    assert all(0 <= e["stack"] < len(tl["stacks"]) for e in tl["events"])
    top = client.get('/api/v1/top?query=cpu{service_name="svc"}').get_json()["functions"]
    assert top[0]["name"] == "burn_a" and top[0]["self"] == 20 * 10**7


def test_legacy_ingest_formats(client):
    r = client.post("/ingest?name=legacy.cpu{env=prod}&sampleRate=100&format=folded",
                    data=b"main;foo 3\nmain;bar 2\n")
    assert r.status_code == 200, r.data
    r = client.post("/ingest?name=lines&format=lines", data=b"main;foo\nmain;foo\n")
    assert r.status_code == 200, r.data
    r = client.post("/ingest?name=rawpprof&format=pprof", data=pprof.encode(profile()))
    assert r.status_code == 200, r.data
    r = client.post("/ingest?name=multi", data={"profile": (
        __import__("io").BytesIO(pprof.encode(profile())), "profile.pprof")},
        content_type="multipart/form-data")
    assert r.status_code == 200, r.data
    speed = {"shared": {"frames": [{"name": "main"}, {"name": "spd"}]},
             "profiles": [{"type": "sampled", "unit": "nanoseconds", "samples": [[0, 1]],
                           "weights": [5000]}]}
    r = client.post("/ingest?name=speed&format=speedscope", data=json.dumps(speed))
    assert r.status_code == 200, r.data
    folded = client.get('/api/v1/render?query=cpu{service_name="legacy"}&format=folded').data
    assert folded.decode().splitlines() == ["main;foo 30000000", "main;bar 20000000"]
    vals = client.get("/api/v1/labels/service_name/values?from=now-1h").get_json()["values"]
    assert vals == ["legacy", "lines", "multi", "rawpprof", "speed"]
    assert client.get("/api/v1/labels/env/values").get_json()["values"] == ["prod"]


def _bomb_gzip(size: int) -> bytes:
    return gzip.compress(b"\0" * size, compresslevel=9)


BAD_PUSHES = [
    ("not protobuf", b"\xff\xff\xff\xff", {"Content-Type": "application/proto"}, 400),
    ("truncated", None, {"Content-Type": "application/proto"}, 400),
    ("bad gzip", b"\x1f\x8b\x08\x00junk", PROTO, 400),
    ("gzip bomb", _bomb_gzip(80 << 20), PROTO, 413),
    ("zstd bomb", zstandard.ZstdCompressor(level=19).compress(b"\0" * (80 << 20)),
     {"Content-Type": "application/proto", "Content-Encoding": "zstd"}, 413),
    ("wrong type", b"x", {"Content-Type": "text/plain"}, 415),
    ("bad json", b"{", {"Content-Type": "application/json"}, 400),
    ("bad encoding", b"x", {"Content-Type": "application/proto", "Content-Encoding": "br"}, 415),
]


@pytest.mark.parametrize("name,body,headers,status", BAD_PUSHES, ids=[b[0] for b in BAD_PUSHES])
def test_bad_pushes_rejected_and_nothing_stored(client, name, body, headers, status):
    if body is None:
        body = push_request({"service_name": "x"})[:-7]
    r = client.post("/push.v1.PusherService/Push", data=body, headers=headers)
    assert r.status_code == status, r.data
    reason = r.get_json()
    assert reason["message"] and "\n" not in reason["message"]
    _stored_nothing(client)


def test_bad_profiles_and_labels_rejected_atomically(client):
    from profiler.formats.proto import push_pb2

    # One good series and one with a broken pprof: nothing of the request is stored.
    req = push_pb2.PushRequest.FromString(push_request({"service_name": "good"}))
    bad = req.series.add()
    bad.labels.add(name="service_name", value="bad")
    bad.samples.add(raw_profile=b"\x1f\x8b\x08\x00broken")
    r = client.post("/push.v1.PusherService/Push", data=gz(req.SerializeToString()),
                    headers=PROTO)
    assert r.status_code == 400
    for labels in ({"service_name": "x", "bad-name": "v"}, {"service_name": "x" * 3000},
                   {f"l{i}": "v" for i in range(40)}):
        r = client.post("/push.v1.PusherService/Push", data=gz(push_request(labels)),
                        headers=PROTO)
        assert r.status_code == 400, labels
    old = profile(t0=10**18)  # 2001: older than retention
    r = client.post("/push.v1.PusherService/Push",
                    data=gz(push_request({"service_name": "old"}, old)), headers=PROTO)
    assert r.status_code == 422
    pprof_bomb = gz(push_request({"service_name": "pb"}, None))
    from profiler.formats.proto import push_pb2 as pb

    msg = pb.PushRequest.FromString(gzip.decompress(pprof_bomb))
    msg.series[0].samples[0].raw_profile = _bomb_gzip(70 << 20)
    r = client.post("/push.v1.PusherService/Push", data=gz(msg.SerializeToString()),
                    headers=PROTO)
    assert r.status_code == 413
    _stored_nothing(client)


def test_legacy_and_agent_bad_input(client):
    cases = [
        ("/ingest?name=bad%20name", b"a;b 1", {}, 400),
        ("/ingest?name=app&format=folded", b"a;b notanumber", {}, 422),
        ("/ingest?name=app&format=pprof", b"\x00\x01garbage", {}, 422),
        ("/ingest?name=app&format=jfr", b"x", {}, 422),  # read since issue 18: unreadable
        ("/ingest?name=app&format=trie", b"x", {}, 415),
        ("/ingest?name=app&format=speedscope", b"{}", {}, 422),
        ("/ingest?name=app&from=yesterday", b"a 1", {}, 400),
        ("/api/v1/agent/push", b"junk", {"Content-Type": "application/x-flamecam-batch",
                                         "Content-Encoding": "zstd"}, 400),
        ("/api/v1/agent/push", b"\xff\xff\xff", {"Content-Type":
                                                 "application/x-flamecam-batch"}, 400),
        ("/api/v1/agent/push", b"x", {"Content-Type": "text/plain"}, 415),
    ]
    for url, body, headers, status in cases:
        r = client.post(url, data=body, headers=headers)
        assert r.status_code == status, (url, r.data)
        assert "error" in r.get_json()
    _stored_nothing(client)


def test_oversized_body_413(app):
    from profiler.web.limits import Limits

    app.extensions["flamecam"].config.limits = Limits(max_body=1 << 20)
    client = app.test_client()
    r = client.post("/push.v1.PusherService/Push", data=b"\0" * (2 << 20), headers=PROTO)
    assert r.status_code == 413
    r = client.post("/ingest?name=app", data=b"a 1\n" * (600 << 10))
    assert r.status_code == 413
    _stored_nothing(client)


def test_query_errors_are_4xx(client):
    for url in ("/api/v1/render?query=cpu{a=}", "/api/v1/render?query=nope{}",
                "/api/v1/render?from=now&until=now-1h", "/api/v1/thread-timeline?query={}",
                "/api/v1/render?query={a=~\"(\"}", "/api/v1/render?pid=x"):
        r = client.get(url)
        assert 400 <= r.status_code < 500, url
        assert r.get_json()["error"]


def test_concurrent_pushes_all_stored(app):
    """Many request threads writing at once (the server runs 8): nothing lost or corrupted."""
    from concurrent.futures import ThreadPoolExecutor

    def push(i: int) -> int:
        c = app.test_client()
        body = gz(push_request({"service_name": f"svc{i % 3}", "host": f"h{i}"}))
        return c.post("/push.v1.PusherService/Push", data=body, headers=PROTO).status_code

    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(push, range(24)))
    assert codes == [200] * 24
    client = app.test_client()
    assert _count(client) == 24 * (20 * 10**7 + 3 * 10**6)
    hosts = client.get("/api/v1/labels/host/values?from=now-1h").get_json()["values"]
    assert len(hosts) == 24


def test_mutated_uploads_never_500(client):
    """Random byte mutations of valid uploads: always a 2xx or a 4xx, never a 5xx."""
    import random

    import zstandard

    from profiler.agent.batch import encode_batch
    from profiler.formats.proto import push_pb2
    from tests.server.helpers import profile as make_profile

    rng = random.Random(11)
    push = push_request({"service_name": "fz"})
    raw = pprof.encode(make_profile(), compress=False)
    batch = zstandard.ZstdDecompressor().decompress(encode_batch(
        make_profile().samples, lambda s: {"service_name": "a"}, agent_id="x", seq=1),
        max_output_size=1 << 24)

    def mutate(b: bytes) -> bytes:
        b = bytearray(b)
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b)) if b else 0
            op = rng.random()
            if op < 0.5 and b:
                b[i] = rng.randrange(256)
            elif op < 0.7:
                b.insert(i, rng.randrange(256))
            elif op < 0.9 and b:
                del b[i]
            else:
                b = b[:i]
        return bytes(b)

    for n in range(240):
        if n % 3 == 0:
            r = client.post("/push.v1.PusherService/Push", data=mutate(push),
                            headers={"Content-Type": "application/proto"})
        elif n % 3 == 1:
            req = push_pb2.PushRequest()
            s = req.series.add()
            s.labels.add(name="service_name", value="fz")
            s.samples.add(raw_profile=mutate(raw))
            r = client.post("/push.v1.PusherService/Push", data=req.SerializeToString(),
                            headers={"Content-Type": "application/proto"})
        else:
            r = client.post("/api/v1/agent/push", data=mutate(batch),
                            headers={"Content-Type": "application/x-flamecam-batch"})
        assert r.status_code < 500, r.data
    assert client.get("/healthz").status_code == 200


def test_top_sums_a_function_across_processes(client):
    """The same function in two binaries (two frames, one name) adds up in
    top, as in the flame graph; total is never below self."""
    from profiler.model import Frame, Profile, Sample

    now = time.time_ns()

    def sample(module: str, value: int) -> Sample:
        stack = (Frame("main", module=module), Frame("work", module=module),
                 Frame("burn_a", module=module))
        return Sample("cpu", now - 10**8, 1, 1, 0, "app", "app", stack, value)

    prof = Profile([sample("app-v1", 3 * 10**7), sample("app-v2", 2 * 10**7)],
                   now - 10**9, now, 100)
    r = client.post("/ingest?name=topsum{env=t}&format=pprof", data=pprof.encode(prof))
    assert r.status_code == 200, r.data
    rows = client.get('/api/v1/top?query=cpu{service_name="topsum"}&from=now-1h'
                      ).get_json()["functions"]
    by = {r["name"]: r for r in rows}
    assert by["burn_a"]["self"] == by["burn_a"]["total"] == 5 * 10**7
    assert by["main"]["total"] == 5 * 10**7 and by["main"]["self"] == 0
    assert all(r["total"] >= r["self"] for r in rows)


def test_agent_batch_keeps_sample_labels(tmp_path):
    """Sample.labels travel in the agent batch, per sample, beside unlabelled samples,
    into the store's columns as `from_samples` writes them, and back out of the store."""
    from profiler.agent.batch import encode_batch
    from profiler.ingest.agent_batch import parse_batch
    from profiler.model import Frame, Sample
    from profiler.store import open_store
    from profiler.store.columns import from_samples
    from profiler.web.limits import Limits

    now = time.time_ns()
    stack = (Frame("main"), Frame("handle"))
    own = [{}, {"span_name": "GET /cart", "profile_id": "p1"}, {}, {"span_name": "GET /"}]
    samples = [Sample("cpu", now + i, 10, 11, 0, "app", "worker", stack, 10_000_000,
                      labels=labels) for i, labels in enumerate(own)]
    samples.append(Sample("offcpu", now, 10, 12, 0, "app", "io", stack, 5_000, reason="io"))
    body = zstandard.ZstdDecompressor().decompress(
        encode_batch(samples, lambda s: {"service_name": "shop"}, agent_id="a", seq=1),
        max_output_size=1 << 24)
    batch = parse_batch(body, Limits())

    def labels_of(cols) -> list[dict[str, str]]:
        return [json.loads(cols.strings[i]) if i else {} for i in cols.labels]

    got = {b.kind: labels_of(b.cols) for b in batch.batches}
    assert got == {"cpu": own, "offcpu": [{}]}
    # The stored strings are the ones the Sample path writes (sorted compact JSON).
    cpu = next(b for b in batch.batches if b.kind == "cpu")
    ref = from_samples("cpu", {}, [s for s in samples if s.kind == "cpu"])
    assert ([cpu.cols.strings[i] for i in cpu.cols.labels]
            == [ref.cols.strings[i] for i in ref.cols.labels])

    store = open_store(f"sqlite:///{tmp_path / 'labels.db'}")
    try:
        assert store.write("t", batch.batches, agent_id="a", seq=1) == 5
        series = {s.id: s.kind for s in store.series("t")}
        stored: dict[str, list[dict[str, str]]] = {}
        for part in store.samples(series, now - 10**9, now + 10**9):
            sl = labels_of(part.cols)[part.start:part.end]
            stored.setdefault(series[part.series_id], []).extend(sl)
        assert stored == {"cpu": own, "offcpu": [{}]}
    finally:
        store.close()
