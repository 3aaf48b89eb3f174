"""The agent over the real eBPF Recorder: a workload's functions land under the
service name and version of its OTEL environment (needs root and BPF)."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest
import requests

from tests.workloads import compile_c, die_with_pytest

pytestmark = pytest.mark.bpf


def test_agent_labels_a_profiled_workload(tmp_path, server_factory):
    if os.geteuid() != 0:
        pytest.skip("loading eBPF programs needs root")
    from profiler.agent import AgentOptions, run_agent
    from profiler.recorder import Recorder
    from profiler.sampler.options import SamplerOptions

    exe = compile_c("spin.c", tmp_path)
    env = {"PATH": "/usr/bin:/bin", "OTEL_SERVICE_NAME": "spin-svc",
           "OTEL_RESOURCE_ATTRIBUTES": "service.version=3.1,deployment.environment=ci"}
    srv = server_factory(f"sqlite:///{tmp_path / 'bpf.db'}").start()
    work = subprocess.Popen([str(exe), "90"], env=env, stdout=subprocess.DEVNULL,
                            preexec_fn=die_with_pytest)
    q = 'cpu{service_name="spin-svc",service_version="3.1",host="bpf-host"}'
    stop = threading.Event()
    found: list[dict] = []

    def render() -> dict:
        return requests.get(srv.url + "/api/v1/render", params={"query": q, "from": "now-5m"},
                            timeout=10).json()["flamebearer"]

    def watch() -> None:
        # Stop once the workload's samples are queryable (a loaded machine
        # compiles, symbolizes and uploads slowly), or after a generous deadline.
        deadline = time.monotonic() + 75
        while not stop.wait(1.0) and time.monotonic() < deadline:
            fb = render()
            if fb["numTicks"] > 0 and any(n.startswith("step") for n in fb["names"]):
                found.append(fb)
                break
        stop.set()

    try:
        try:
            rec = Recorder(SamplerOptions(pids=[work.pid], hz=49))
            rec.start()
        except Exception as e:  # no BPF here: say so rather than fail the platform tests
            pytest.skip(f"eBPF not available: {e}")
        try:
            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            res = run_agent(srv.url, rec, AgentOptions(
                interval_s=2, spool_dir=str(tmp_path / "spool"), metrics_port=None,
                host="bpf-host"), stop)
            watcher.join()
        finally:
            rec.close()
    finally:
        work.kill()
        work.wait()
    assert res.samples > 0
    fb = found[0] if found else render()
    assert fb["numTicks"] > 0, f"nothing under {q} after {res.samples} samples were shipped"
    assert any(n.startswith("step") for n in fb["names"]), fb["names"][:40]
