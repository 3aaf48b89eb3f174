"""The real pyroscope-io 1.4 client, in a subprocess, pushes to a real server."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import requests

WORKLOAD = textwrap.dedent("""
    import sys, time
    import pyroscope

    pyroscope.configure(application_name="fc.pyro", server_address=sys.argv[1],
                        tags={"env": "ci", "region": "eu"}, sample_rate=100,
                        upload_interval=1, report_thread_name=True, report_thread_id=True)

    def burn_a(deadline):
        n = 0
        while time.time() < deadline:
            n += 1
        return n

    with pyroscope.tag_wrapper({"endpoint": "/burn"}):
        burn_a(time.time() + 3)
    pyroscope.shutdown()
""")


def test_pyroscope_io_push_then_render(tmp_path, server_factory):
    srv = server_factory(f"sqlite:///{tmp_path / 'p.db'}").start()
    script = tmp_path / "workload.py"
    script.write_text(WORKLOAD)
    subprocess.run([sys.executable, str(script), srv.url + "/"], check=True, timeout=60)
    q = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="fc.pyro"}'
    r = requests.get(srv.url + "/pyroscope/render", params={
        "query": q, "from": "now-5m", "until": "now", "format": "json"}, timeout=10)
    assert r.status_code == 200, r.text
    fb = r.json()["flamebearer"]
    assert any("burn_a" in n for n in fb["names"]), fb["names"][:50]
    assert fb["numTicks"] > 0
    labels = requests.get(srv.url + "/api/v1/labels", timeout=10).json()["names"]
    assert {"service_name", "env", "region", "endpoint"} <= set(labels)
    envs = requests.get(srv.url + "/api/v1/labels/env/values", timeout=10).json()["values"]
    assert envs == ["ci"]
    tagged = requests.get(srv.url + "/api/v1/render", params={
        "query": 'cpu{service_name="fc.pyro",endpoint="/burn"}'}, timeout=10).json()
    assert any("burn_a" in n for n in tagged["flamebearer"]["names"])
