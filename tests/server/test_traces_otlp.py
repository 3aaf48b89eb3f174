"""OTLP/HTTP spans in: the real OpenTelemetry SDK and exporter against a real server.

Bad input is sent through the Flask app itself (the same code the server
runs), and must leave nothing stored.
"""

from __future__ import annotations

import gzip
import json
import time

import pytest
import requests
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import func, select

from profiler.server.app import ServerConfig, create_app, shutdown
from profiler.store.trace_tables import spans as spans_table
from profiler.web.limits import Limits

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}
MS = 10**6


def make_spans(service: str = "shop", t0: int | None = None, slow_ms: int = 120):
    """Two traces made by the real SDK: a slow checkout (3 spans) and a fast one."""
    t0 = t0 or time.time_ns() - 60 * 10**9
    mem = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({
        "service.name": service, "service.version": "1.2.3", "process.pid": 4242,
        "host.name": "web-1"}))
    provider.add_span_processor(SimpleSpanProcessor(mem))
    tracer = provider.get_tracer("test")
    root = tracer.start_span("GET /checkout", kind=SpanKind.SERVER, start_time=t0, attributes={
        "http.route": "/checkout", "http.request.method": "GET",
        "http.response.status_code": 500, "user.tier": "gold"})
    from opentelemetry import trace
    ctx = trace.set_span_in_context(root)
    db = tracer.start_span("SELECT orders", context=ctx, start_time=t0 + 10 * MS,
                           kind=SpanKind.CLIENT, attributes={"db.system": "postgresql"})
    db.end(end_time=t0 + 40 * MS)
    work = tracer.start_span("price", context=ctx, start_time=t0 + 50 * MS)
    work.end(end_time=t0 + 90 * MS)
    root.set_status(Status(StatusCode.ERROR, "boom"))
    root.end(end_time=t0 + slow_ms * MS)
    fast = tracer.start_span("GET /health", kind=SpanKind.SERVER, start_time=t0 + 200 * MS,
                             attributes={"http.route": "/health"})
    fast.end(end_time=t0 + 205 * MS)
    provider.shutdown()
    return mem.get_finished_spans()


def hex_ids(doc: dict) -> dict:
    """OTLP JSON as SDKs write it: protobuf's base64 ids turned into hex."""
    import base64

    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for sp in ss.get("spans", []):
                for k in ("traceId", "spanId", "parentSpanId"):
                    if k in sp:
                        sp[k] = base64.b64decode(sp[k]).hex()
    return doc


def otlp_json(spans) -> bytes:
    return json.dumps(hex_ids(json_format.MessageToDict(encode_spans(spans)))).encode()


def stored(app) -> int:
    with app.extensions["flamecam"].store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(spans_table)).scalar()


def traces_of(base_get, service: str = "shop") -> list[dict]:
    r = base_get(f"/api/v1/traces?service={service}&from=now-1h&until=now")
    assert r.status_code == 200, r
    return (r.json() if hasattr(r, "json") and callable(r.json) else r.get_json())["traces"]


# ------------------------------------------------------------------ real exporter


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip,
                                         Compression.Deflate])
def test_sdk_exporter_to_real_server(db_url, server_factory, monkeypatch, compression):
    srv = server_factory(db_url).start()
    # Exactly what an app does: the standard variable, the exporter's own path.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.url)
    spans = make_spans()
    exporter = OTLPSpanExporter(compression=compression)
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    assert exporter.export(spans) == SpanExportResult.SUCCESS  # a resend stores nothing twice
    exporter.shutdown()

    def get(path):
        return requests.get(srv.url + path, timeout=10)

    listed = traces_of(get)
    assert [t["root"] for t in listed] == ["GET /checkout", "GET /health"]  # slowest first
    slow = listed[0]
    assert slow["duration_ms"] == pytest.approx(120)
    assert slow["service"] == "shop" and slow["threads"] == 0 and slow["cpu_ns"] == 0
    assert slow["trace_id"] == format(spans[-2].context.trace_id, "032x")
    view = get(f"/api/v1/trace/{slow['trace_id']}").json()
    assert view["linking"] == "none" and view["threads"] == [] and view["samples"] == 0
    by_name = {s["name"]: s for s in view["spans"]}
    assert set(by_name) == {"GET /checkout", "SELECT orders", "price"}
    root = by_name["GET /checkout"]
    assert root["parent_id"] == "" and root["status"] == "error"
    assert root["attributes"]["http.route"] == "/checkout"
    assert root["attributes"]["http.response.status_code"] == "500"
    assert root["attributes"]["user.tier"] == "gold"
    assert by_name["SELECT orders"]["parent_id"] == root["span_id"]
    assert by_name["SELECT orders"]["duration_ms"] == pytest.approx(30)
    assert by_name["SELECT orders"]["attributes"] == {"db.system": "postgresql"}
    assert by_name["price"]["start_ms"] - root["start_ms"] == pytest.approx(50, abs=0.01)
    assert get("/api/v1/traces?service=shop&endpoint=/health").json()["traces"][0]["root"] \
        == "GET /health"
    assert get("/api/v1/traces?service=shop&min_ms=50").json()["traces"] == [slow]
    eps = get("/api/v1/endpoints?service=shop").json()["endpoints"]
    assert {e["name"]: e["count"] for e in eps} == {"GET /checkout": 1, "GET /health": 1}


def test_json_encoding_gzip_and_not(db_url, server_factory):
    srv = server_factory(db_url).start()
    spans = make_spans("cart")
    body = otlp_json(spans)
    r = requests.post(srv.url + "/v1/traces", data=gzip.compress(body),
                      headers={**JS, "Content-Encoding": "gzip"}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {}  # a full success: no partial_success
    r = requests.post(srv.url + "/v1/traces", data=body, headers=JS, timeout=10)
    assert r.status_code == 200
    listed = requests.get(srv.url + "/api/v1/traces?service=cart", timeout=10).json()["traces"]
    assert len(listed) == 2
    assert listed[0]["trace_id"] == format(spans[-2].context.trace_id, "032x")
    view = requests.get(srv.url + f"/api/v1/trace/{listed[0]['trace_id']}", timeout=10).json()
    assert len(view["spans"]) == 3


# ------------------------------------------------------------------------ bad input


@pytest.fixture
def make_app(db_url):
    apps = []

    def make(**kw):
        app = create_app(ServerConfig(db_url=db_url, maintenance=False, **kw))
        apps.append(app)
        return app

    yield make
    for a in apps:
        shutdown(a)


def request_of(spans) -> ExportTraceServiceRequest:
    return encode_spans(spans)


def post_pb(client, req: ExportTraceServiceRequest, **headers):
    return client.post("/v1/traces", data=req.SerializeToString(), headers={**PB, **headers})


def refused(r, status: int, words: str) -> str:
    """The one-line reason of a refusal, in the request's encoding."""
    assert r.status_code == status, r.data[:300]
    if r.mimetype == "application/json":
        msg = r.get_json()["error"]
        assert r.get_json()["message"] == msg
    else:
        msg = status_pb2.Status.FromString(r.data).message
    assert words in msg and "\n" not in msg
    return msg


def test_malformed_bodies(make_app):
    app = make_app()
    c = app.test_client()
    refused(c.post("/v1/traces", data=b"\x0a\xff\xff\xff", headers=PB), 400, "malformed")
    refused(c.post("/v1/traces", data=b"{not json", headers=JS), 400, "malformed")
    refused(c.post("/v1/traces", data=b"[1, 2]", headers=JS), 400, "not an object")
    bad_hex = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "01"}]}]}]}
    refused(c.post("/v1/traces", json=bad_hex), 400, "not hex")
    refused(c.post("/v1/traces", data=b"x", headers={"Content-Type": "text/plain"}), 415,
            "Content-Type")
    refused(c.post("/v1/traces", data=b"x", headers={**PB, "Content-Encoding": "gzip"}), 400,
            "gzip")
    refused(c.post("/v1/traces", data=b"x", headers={**PB, "Content-Encoding": "br"}), 415,
            "Content-Encoding")
    assert stored(app) == 0


@pytest.mark.parametrize("breakage, words", [
    ("short_trace_id", "trace id"),
    ("zero_span_id", "span id"),
    ("long_parent_id", "parent span id"),
    ("end_before_start", "ends before it starts"),
    ("past_int64", "int64"),
    ("no_start", "time missing"),
    ("huge_attributes", "attributes"),
])
def test_a_bad_span_refuses_the_whole_request(make_app, breakage, words):
    app = make_app()
    c = app.test_client()
    req = request_of(make_spans())
    bad = req.resource_spans[0].scope_spans[0].spans[1]  # the good spans stay beside it
    if breakage == "short_trace_id":
        bad.trace_id = bad.trace_id[:8]
    elif breakage == "zero_span_id":
        bad.span_id = bytes(8)
    elif breakage == "long_parent_id":
        bad.parent_span_id = bytes(range(1, 17))
    elif breakage == "end_before_start":
        bad.end_time_unix_nano = bad.start_time_unix_nano - 1
    elif breakage == "past_int64":
        bad.end_time_unix_nano = 1 << 63
    elif breakage == "no_start":
        bad.start_time_unix_nano = 0
    else:
        for i in range(1001):
            bad.attributes.add(key=f"k{i}").value.string_value = "v"
    refused(post_pb(c, req), 400, words)
    doc = hex_ids(json_format.MessageToDict(req))  # the same refusal in OTLP JSON
    refused(c.post("/v1/traces", json=doc), 400, words)
    assert stored(app) == 0


def test_large_attribute_maps_keep_the_filter_keys(make_app):
    app = make_app()
    c = app.test_client()
    req = request_of(make_spans())
    root = req.resource_spans[0].scope_spans[0].spans[2]
    assert root.name == "GET /checkout"
    for i in range(100):
        root.attributes.add(key=f"big.{i:03d}").value.string_value = "x" * 200
    r = post_pb(c, req)
    assert r.status_code == 200
    resp = ExportTraceServiceResponse.FromString(r.data)
    assert resp.partial_success.rejected_spans == 0
    assert "attributes dropped" in resp.partial_success.error_message
    tid = root.trace_id.hex()
    view = c.get(f"/api/v1/trace/{tid}").get_json()
    attrs = next(s for s in view["spans"] if s["name"] == "GET /checkout")["attributes"]
    assert attrs["http.route"] == "/checkout" and attrs["http.request.method"] == "GET"
    assert attrs["http.response.status_code"] == "500"
    assert len(json.dumps(attrs)) < 6000 and 10 < len(attrs) < 30


def test_old_spans_are_rejected_in_partial_success(make_app):
    app = make_app()
    c = app.test_client()
    old = make_spans(t0=time.time_ns() - 8 * 86400 * 10**9)
    new = make_spans()
    req = request_of(list(old) + list(new))
    r = post_pb(c, req)
    assert r.status_code == 200
    ps = ExportTraceServiceResponse.FromString(r.data).partial_success
    assert ps.rejected_spans == 4 and "retention" in ps.error_message
    assert stored(app) == 4
    doc = hex_ids(json_format.MessageToDict(request_of(old)))
    r = c.post("/v1/traces", json=doc)
    assert r.get_json()["partialSuccess"]["rejectedSpans"] == "4"  # int64 as a string


def test_sizes_are_bounded(make_app):
    app = make_app(limits=Limits(max_body=64 << 10, max_decompressed=256 << 10))
    c = app.test_client()
    body = request_of(make_spans()).SerializeToString()
    big = body + b"\x00" * (70 << 10)
    refused(c.post("/v1/traces", data=big, headers=PB), 413, "exceeds")
    bomb = gzip.compress(b"{" + b" " * (1 << 20))
    refused(c.post("/v1/traces", data=bomb, headers={**JS, "Content-Encoding": "gzip"}), 413,
            "decompressed")
    assert stored(app) == 0


def test_a_runaway_attribute_map_is_refused(make_app):
    """Past the stored budget attributes are trimmed (above); past 64 KiB a map is
    not an attribute map but a misuse, and the request is refused whole."""
    app = make_app()
    c = app.test_client()
    req = request_of(make_spans())
    root = req.resource_spans[0].scope_spans[0].spans[2]
    for i in range(400):
        root.attributes.add(key=f"big.{i:03d}").value.string_value = "x" * 200
    msg = refused(post_pb(c, req), 400, "attributes of")
    assert f"span {root.span_id.hex()}" in msg and "at most 65536" in msg
    assert stored(app) == 0


def test_duplicate_spans(make_app):
    """The same span twice in a request, or stored with other data: refused whole.
    The same request again (an exporter's resend after a lost answer, which OTLP
    expects servers to take): 200, kept once, said as a warning."""
    app = make_app()
    c = app.test_client()
    spans = make_spans()
    twice = refused(post_pb(c, request_of(list(spans) + list(spans))), 400, "twice")
    assert twice.startswith("span ") and "in one request" in twice
    assert stored(app) == 0
    assert post_pb(c, request_of(spans)).status_code == 200
    assert stored(app) == 4
    r = post_pb(c, request_of(spans))
    assert r.status_code == 200
    ps = ExportTraceServiceResponse.FromString(r.data).partial_success
    assert ps.rejected_spans == 0 and "4 spans already stored" in ps.error_message
    assert stored(app) == 4
    # The same ids with another name, beside a new trace: nothing of it is stored.
    req = request_of([spans[0], *make_spans("other")])
    first = req.resource_spans[0].scope_spans[0].spans[0]
    first.name = "renamed"
    msg = refused(post_pb(c, req), 409, "already stored with other data")
    assert f"span {first.span_id.hex()} of trace {first.trace_id.hex()}" in msg
    assert stored(app) == 4
    assert traces_of(lambda u: c.get(u), "other") == []


def test_tenants_and_token(make_app):
    app = make_app(multitenancy=True, auth_token="s3cret")
    c = app.test_client()
    body = request_of(make_spans()).SerializeToString()
    assert c.post("/v1/traces", data=body, headers=PB).status_code == 401
    auth = {"Authorization": "Bearer s3cret"}
    assert c.post("/v1/traces", data=body, headers={**PB, **auth}).status_code == 401  # no org
    # A tenant with no profiles (a mistyped X-Scope-OrgID): refused, nothing stored.
    r = c.post("/v1/traces", data=body, headers={**PB, **auth, "X-Scope-OrgID": "a"})
    msg = refused(r, 403, "no profiles")
    assert "'a'" in msg and "X-Scope-OrgID" in msg
    assert stored(app) == 0
    r = c.post("/ingest?name=shop.cpu&from=now-1m&until=now", data=b"main;work 3",
               headers={**auth, "X-Scope-OrgID": "a"})
    assert r.status_code == 200
    r = c.post("/v1/traces", data=body, headers={**PB, **auth, "X-Scope-OrgID": "a"})
    assert r.status_code == 200
    r = c.post("/v1/traces", data=request_of(make_spans("b")).SerializeToString(),
               headers={**PB, **auth, "X-Scope-OrgID": "b"})
    refused(r, 403, "'b'")
    a = c.get("/api/v1/traces?service=shop", headers={**auth, "X-Scope-OrgID": "a"})
    b = c.get("/api/v1/traces?service=shop", headers={**auth, "X-Scope-OrgID": "b"})
    assert len(a.get_json()["traces"]) == 2 and b.get_json()["traces"] == []
    tid = a.get_json()["traces"][0]["trace_id"]
    assert c.get(f"/api/v1/trace/{tid}", headers={**auth, "X-Scope-OrgID": "b"}
                 ).status_code == 404


def test_database_down_is_503_with_retry_after(make_app, tmp_path):
    app = make_app()
    c = app.test_client()
    app.extensions["flamecam"].store.engine.dispose()
    st = app.extensions["flamecam"]
    from sqlalchemy import create_engine

    # A database that cannot be reached: what an exporter must retry later.
    st.traces.engine = create_engine(f"sqlite:///{tmp_path}/missing/dir/db.sqlite")
    r = post_pb(c, request_of(make_spans()))
    assert r.status_code == 503 and r.headers["Retry-After"] == "2"
    assert status_pb2.Status.FromString(r.data).code == 14


@pytest.mark.postgres
def test_exporter_retries_while_the_database_is_away(pg_server, server_factory):
    """503 + Retry-After while PostgreSQL refuses connections; the SDK's exporter
    waits as told, retries, and its spans are stored once the database is back."""
    import threading

    import psycopg

    from tests.server.conftest import new_pg_db

    url = new_pg_db(pg_server)
    name = url.rsplit("/", 1)[1]
    srv = server_factory(url).start()
    admin = pg_server.replace("postgresql+psycopg", "postgresql") + "/postgres"

    def allow(yes: bool) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(yes).lower()}')
            if not yes:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = %s", (name,))

    spans = make_spans("away")
    allow(False)
    r = requests.post(srv.url + "/v1/traces", data=request_of(spans).SerializeToString(),
                      headers=PB, timeout=10)
    assert r.status_code == 503 and r.headers["Retry-After"] == "2"
    assert status_pb2.Status.FromString(r.content).code == 14
    back = threading.Timer(1.0, allow, (True,))
    back.start()
    try:
        exporter = OTLPSpanExporter(endpoint=srv.url + "/v1/traces", timeout=20)
        t = time.monotonic()
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        assert time.monotonic() - t >= 1.5  # it waited for Retry-After, not its own backoff
        exporter.shutdown()
    finally:
        back.join()
    listed = requests.get(srv.url + "/api/v1/traces?service=away", timeout=10).json()["traces"]
    assert len(listed) == 2
