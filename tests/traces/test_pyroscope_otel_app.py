"""Issue 11 §4, the SDK path: the known-answer Flask app (tests/workloads/
trace_app.py) with the real pyroscope-io client and pyroscope-otel's span
processor instead of Flamecam's agent, into a real server that also receives
its spans over OTLP.

pyroscope-otel labels the samples of a root span's own thread with its span
id, and pyroscope-io samples on-CPU time only. So what this path can answer is
the request thread's CPU: `slow_path` is in a slow trace's graph and no fast
request's code is, and the slow traces' CPU adds up to what the app measured.
The pool worker's CPU and the waits are not linked (that is the agent's part,
tests/traces/test_known_answer.py), and this test says so by asserting it.

CPU is compared over all slow requests together, not one by one: sampled at
1000 Hz, a request's 30 ms are about thirty samples."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import requests

from tests.runtimes.conftest import wait_for_line
from tests.traces.test_known_answer import APP, drive
from tests.workloads import die_with_pytest

SERVICE = "trace-app-pyroscope"
SLOW = 20


def trace_view(srv: str, trace_id: str, ok, timeout: float = 30) -> dict:
    """/api/v1/trace/ID once `ok(view)` holds (spans and linked samples
    arrive in separate pushes), or as it is at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        r = requests.get(f"{srv}/api/v1/trace/{trace_id}", timeout=10)
        view = r.json() if r.ok else {}
        if ok(view) or time.monotonic() > deadline:
            return view
        time.sleep(0.5)


def names(srv: str, trace_id: str) -> set[str]:
    r = requests.get(f"{srv}/api/v1/render", timeout=10, params={
        "query": f'cpu{{service_name="{SERVICE}"}}', "trace_id": trace_id,
        "from": "now-1h", "until": "now"})
    assert r.ok, r.text
    return set(r.json()["flamebearer"]["names"])


def test_pyroscope_otel_known_answer(db_url, server_factory):
    srv = server_factory(db_url).start()
    app = subprocess.Popen(
        [sys.executable, str(APP)], start_new_session=True, preexec_fn=die_with_pytest,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={"PATH": os.environ["PATH"], "OTEL_SERVICE_NAME": SERVICE,
             "TRACE_APP_PROFILER": "pyroscope", "PYROSCOPE_SERVER_ADDRESS": srv.url,
             "PYROSCOPE_SAMPLE_RATE": "1000",
             "OTEL_EXPORTER_OTLP_ENDPOINT": srv.url, "OTEL_BSP_SCHEDULE_DELAY": "500"})
    try:
        port = int(wait_for_line(app, "ready", timeout=60).split()[1])
        slow, fast = drive(port, slow=SLOW)
        # pyroscope-io uploads every second; the last request's samples then.
        time.sleep(3)
        views = {s["trace_id"]: trace_view(srv.url, s["trace_id"],
                                           lambda v: v.get("spans") and v.get("samples"))
                 for s in slow}
    finally:
        os.killpg(app.pid, signal.SIGTERM)
        try:
            app.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(app.pid, signal.SIGKILL)
            app.wait(10)
        for stream in (app.stdout, app.stderr):
            stream.close()

    measured = sum(s["slow_path_cpu_ms"] for s in slow)
    linked = sum(v["breakdown"]["cpu"] for v in views.values()) / 1e6
    evidence = [f"{tid}: {v.get('breakdown')} in {v.get('samples')} rows"
                for tid, v in views.items()]
    print(f"slow_path measured {measured:.0f} ms, linked CPU {linked:.0f} ms over {SLOW} traces")
    assert {v.get("linking") for v in views.values()} == {"approximate"}, evidence
    # At least slow_path's CPU (less would be samples lost to linking), at most
    # the requests' own time: pyroscope-io counts a runnable thread as active,
    # so on a loaded machine run-queue time comes on top of the CPU time.
    served = sum(max(s["duration_ms"] for s in v["spans"]) for v in views.values())
    assert 0.85 * measured <= linked <= served, (measured, linked, served, evidence)

    # Merged over the slow traces, the graph names slow_path and not fast_path;
    # a fast trace the other way round.
    slow_names = set().union(*(names(srv.url, s["trace_id"]) for s in slow))
    assert any(n.endswith("slow_path") for n in slow_names), sorted(slow_names)
    assert not any(n.endswith("fast_path") for n in slow_names), sorted(slow_names)
    # The pool worker's thread carries no span label: its work is not linked.
    assert not any(n.endswith("pool_work") for n in slow_names), sorted(slow_names)
    busy_fast = max(fast, key=lambda f: f["fast_path_cpu_ms"])
    fast_view = trace_view(srv.url, busy_fast["trace_id"], lambda v: v.get("samples"))
    fast_names = names(srv.url, busy_fast["trace_id"])
    assert not any(n.endswith("slow_path") for n in fast_names), (fast_view, sorted(fast_names))
