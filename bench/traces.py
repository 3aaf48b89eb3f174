"""Trace list and trace view over one hour of a 100 requests/s app.

Synthetic data written through the trace store's API (as the OTLP route and
the agent push route do): one root span per request (5 endpoints, log-normal
durations; 360k spans per hour), one thread span per request, and a linked
on-CPU sample and off-CPU interval per request. Prints bytes per span (spans
and their indexes only, then with the thread data) and the time of each API
call through the Flask app (JSON included), cold (first call) and warm:
trace lists and views, endpoints, the scatter (a heatmap over the hour) and a
slow-vs-fast comparison (500 requests a side).

    .venv/bin/python bench/traces.py [--rate 100] [--seconds 3600] [--db URL]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from profiler.model import Frame, Sample, Span, ThreadSpan  # noqa: E402
from profiler.server.app import ServerConfig, create_app, shutdown  # noqa: E402

ENDPOINTS = [("GET /api/items", 30), ("GET /api/items/{id}", 12), ("POST /api/cart", 45),
             ("GET /health", 2), ("POST /api/checkout", 120)]
BATCH = 5000


def generate(store, rate: int, seconds: int, t0: int, with_threads: bool) -> list[str]:
    """Write the hour; returns the trace ids (hex) in order."""
    rng = random.Random(7)
    stacks = [(Frame("handler", "python", file="/srv/app.py", line=5),
               Frame(f"work_{i}", "python", file="/srv/app.py", line=20 + i)) for i in range(50)]
    ids = []
    spans, rows, samples = [], [], []
    n = rate * seconds
    for i in range(n):
        start = t0 + i * 10**9 // rate
        name, median_ms = ENDPOINTS[i % len(ENDPOINTS)]
        dur = int(rng.lognormvariate(0, 0.6) * median_ms * 10**6)
        trace, span = rng.getrandbits(128), rng.getrandbits(64) | 1
        tid_hex, sid_hex = f"{trace:032x}", f"{span:016x}"
        ids.append(tid_hex)
        spans.append(Span(tid_hex, sid_hex, "", name, "server", "ok", start, start + dur, "shop",
                          "1.4.2", (("http.route", name.split(" ")[1]),
                                    ("http.request.method", name.split(" ")[0]),
                                    ("http.response.status_code", "200")), 4242, "web-1"))
        if with_threads:
            tid = 5000 + i % 16
            rows.append(ThreadSpan(4242, tid, tid_hex, sid_hex, start, start + dur, "worker"))
            samples.append(Sample("cpu", start + dur // 3, 4242, tid, 0, "python", "worker",
                                  stacks[i % 50], 10**7, trace_id=tid_hex, span_id=sid_hex))
            samples.append(Sample("offcpu", start + dur // 2, 4242, tid, 0, "python", "worker",
                                  stacks[(i * 7) % 50], dur // 4, reason="io",
                                  trace_id=tid_hex, span_id=sid_hex))
        if len(spans) >= BATCH:
            store.write_spans("anonymous", spans)
            spans = []
        if len(rows) >= BATCH:
            store.write_links("anonymous", samples, rows)
            rows, samples = [], []
    if spans:
        store.write_spans("anonymous", spans)
    if rows:
        store.write_links("anonymous", samples, rows)
    return ids


def timed(client, url: str, repeat: int = 5) -> tuple[float, float, dict]:
    t = time.perf_counter()
    r = client.get(url)
    cold = (time.perf_counter() - t) * 1000
    assert r.status_code == 200, r.data[:300]
    warm = []
    for _ in range(repeat):
        t = time.perf_counter()
        client.get(url)
        warm.append((time.perf_counter() - t) * 1000)
    return cold, statistics.median(warm), r.get_json()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=100, help="requests per second")
    ap.add_argument("--seconds", type=int, default=3600)
    ap.add_argument("--db", help="database URL (default: SQLite in a temporary directory)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="flamecam-bench-traces-"))
    url = args.db or f"sqlite:///{tmp / 'flamecam.db'}"
    app = create_app(ServerConfig(db_url=url, maintenance=False))
    st = app.extensions["flamecam"]
    try:
        n = args.rate * args.seconds
        t0 = time.time_ns() - args.seconds * 10**9 - 60 * 10**9
        t0 -= t0 % 10**9
        base = st.store.size_bytes()
        t = time.perf_counter()
        ids = generate(st.traces, args.rate, args.seconds, t0, with_threads=False)
        w_spans = time.perf_counter() - t
        spans_bytes = st.store.size_bytes() - base
        print(f"spans: {n} written in {w_spans:.1f} s ({n / w_spans:,.0f}/s); "
              f"{spans_bytes / n:.0f} bytes/span (rows and indexes)")
        st.store.engine.dispose()
        # Thread data for the same requests (same seed, same ids: the spans are
        # resent, as exporters do, and stored once).
        t = time.perf_counter()
        before = st.store.size_bytes()
        ids = generate(st.traces, args.rate, args.seconds, t0, with_threads=True)
        w_links = time.perf_counter() - t
        link_bytes = st.store.size_bytes() - before
        print(f"thread spans + 2 linked samples per request: written in {w_links:.1f} s; "
              f"{link_bytes / n:.0f} bytes/request")
        c = app.test_client()
        frm, until = t0 // 10**9, (t0 // 10**9) + args.seconds + 1
        rng = f"from={frm}&until={until}"
        q = [
            ("trace list, whole hour, 100 slowest", f"/api/v1/traces?service=shop&{rng}"),
            ("trace list, one endpoint", f"/api/v1/traces?service=shop&{rng}"
                                         "&endpoint=/api/checkout"),
            ("trace list, last 5 min", f"/api/v1/traces?service=shop&from={until - 300}"
                                       f"&until={until}"),
            ("trace list, min_ms=300", f"/api/v1/traces?service=shop&{rng}&min_ms=300"),
        ]
        for label, u in q:
            cold, warm, body = timed(c, u)
            print(f"{label:42s} cold {cold:7.1f} ms  warm {warm:7.1f} ms  "
                  f"({len(body['traces'])} traces)")
        slow = timed(c, q[0][1])[2]["traces"][0]["trace_id"]
        for label, u in [
            ("trace view (slowest trace)", f"/api/v1/trace/{slow}"),
            ("trace view (a middle trace)", f"/api/v1/trace/{ids[len(ids) // 2]}"),
            ("trace flame graph (wall)", f"/api/v1/render?query=wall{{}}&trace_id={slow}"),
            ("endpoints, whole hour", f"/api/v1/endpoints?service=shop&{rng}"),
            ("trace services, whole hour", f"/api/v1/trace-services?{rng}"),
            ("scatter, whole hour (heatmap)", f"/api/v1/traces/scatter?service=shop&{rng}"),
            ("scatter, last 30 s (points)", f"/api/v1/traces/scatter?service=shop"
                                             f"&from={until - 30}&until={until}"),
            ("slow vs fast, one endpoint (p90/p50)", f"/api/v1/traces/diff?service=shop&{rng}"
                                                     "&endpoint=/api/checkout"),
        ]:
            cold, warm, _ = timed(c, u)
            print(f"{label:42s} cold {cold:7.1f} ms  warm {warm:7.1f} ms")
    finally:
        shutdown(app)
        if not args.db:
            shutil.rmtree(tmp, ignore_errors=True)
        os.sync()


if __name__ == "__main__":
    main()
