"""The agent over the real eBPF Recorder: a workload's functions land under the
service name and version of its OTEL environment (needs root and BPF)."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest
import requests

from tests.workloads import compile_c

pytestmark = pytest.mark.bpf


def test_agent_labels_a_profiled_workload(tmp_path, server_factory):
    if os.geteuid() != 0:
        pytest.skip("loading eBPF programs needs root")
    from profiler.agent import AgentOptions, run_agent
    from profiler.recorder import Recorder, RecordOptions

    exe = compile_c("spin.c", tmp_path)
    env = {"PATH": "/usr/bin:/bin", "OTEL_SERVICE_NAME": "spin-svc",
           "OTEL_RESOURCE_ATTRIBUTES": "service.version=3.1,deployment.environment=ci"}
    srv = server_factory(f"sqlite:///{tmp_path / 'bpf.db'}").start()
    work = subprocess.Popen([str(exe), "12"], env=env, stdout=subprocess.DEVNULL)
    stop = threading.Event()
    try:
        try:
            rec = Recorder(RecordOptions(pids=[work.pid], hz=49))
            rec.start()
        except Exception as e:  # no BPF here: say so rather than fail the platform tests
            pytest.skip(f"eBPF not available: {e}")
        try:
            timer = threading.Timer(6, stop.set)
            timer.start()
            res = run_agent(srv.url, rec, AgentOptions(
                interval_s=2, spool_dir=str(tmp_path / "spool"), metrics_port=None,
                host="bpf-host"), stop)
        finally:
            rec.close()
    finally:
        work.kill()
        work.wait()
    assert res.samples > 0
    q = 'cpu{service_name="spin-svc",service_version="3.1",host="bpf-host"}'
    fb = requests.get(srv.url + "/api/v1/render", params={"query": q, "from": "now-5m"},
                      timeout=10).json()["flamebearer"]
    assert fb["numTicks"] > 0
    assert any(n == "step" or n.startswith("step") for n in fb["names"]), fb["names"][:40]
