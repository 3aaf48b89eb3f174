"""The real pyroscope-otel 1.1 span processor with the real pyroscope-io 1.4
client and the OpenTelemetry SDK, in a subprocess, against a real server: the
`span_id`/`trace_id` pprof labels it puts on a root span's samples become
links to that trace, as the agent's links are (issue 11 §2, the SDK path)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import requests

WORKLOAD = textwrap.dedent("""
    import sys, time
    import pyroscope
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from pyroscope.otel import PyroscopeSpanProcessor

    server = sys.argv[1]
    pyroscope.configure(application_name="fc.pyotel", server_address=server,
                        sample_rate=100, upload_interval=1)
    provider = TracerProvider(resource=Resource.create({"service.name": "fc.pyotel"}))
    provider.add_span_processor(PyroscopeSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=server + "/v1/traces")))
    trace.set_tracer_provider(provider)
    tracer = trace.get_tracer("workload")

    def slow_path(deadline):
        n = 0
        while time.time() < deadline:
            n += 1
        return n

    def fast_path(deadline):
        n = 0
        while time.time() < deadline:
            n += 1
        return n

    for name, fn, seconds in (("GET /slow", slow_path, 2.0), ("GET /fast", fast_path, 1.0)):
        with tracer.start_as_current_span(name) as span:
            print(name, format(span.get_span_context().trace_id, "032x"), flush=True)
            fn(time.time() + seconds)
    time.sleep(1.5)
    pyroscope.shutdown()
    provider.shutdown()
""")


def test_pyroscope_otel_span_labels_link_samples_to_their_trace(tmp_path, server_factory):
    srv = server_factory(f"sqlite:///{tmp_path / 'p.db'}").start()
    script = tmp_path / "workload.py"
    script.write_text(WORKLOAD)
    out = subprocess.run([sys.executable, str(script), srv.url], check=True, timeout=120,
                         capture_output=True, text=True).stdout
    ids = dict(line.rsplit(" ", 1) for line in out.splitlines())
    slow, fast = ids["GET /slow"], ids["GET /fast"]

    def view(trace_id: str) -> dict:
        deadline = time.monotonic() + 20
        while True:
            r = requests.get(f"{srv.url}/api/v1/trace/{trace_id}", timeout=10)
            v = r.json() if r.ok else {}
            if (v.get("samples") and v.get("spans")) or time.monotonic() > deadline:
                return v
            time.sleep(0.5)

    def names(trace_id: str) -> list[str]:
        r = requests.get(f"{srv.url}/api/v1/render", timeout=10, params={
            "query": 'cpu{service_name="fc.pyotel"}', "trace_id": trace_id})
        assert r.ok, r.text
        return r.json()["flamebearer"]["names"]

    v = view(slow)
    # Sampled at 100 Hz for 2 s of CPU: linked samples, sampled figures (the
    # client aggregates a profile's samples by stack, so rows are few).
    assert v["linking"] == "approximate" and v["samples"] >= 1, v
    assert [s["name"] for s in v["spans"]] == ["GET /slow"]
    assert v["breakdown"]["cpu"] >= 1.0e9, v["breakdown"]
    assert any("slow_path" in n for n in names(slow))
    assert not any("fast_path" in n for n in names(slow))
    assert view(fast)["breakdown"]["cpu"] >= 0.4e9
    assert any("fast_path" in n for n in names(fast))
    assert not any("slow_path" in n for n in names(fast))
    print(f"slow trace: {v['breakdown']['cpu'] / 1e9:.2f} s CPU in {v['samples']} rows")
