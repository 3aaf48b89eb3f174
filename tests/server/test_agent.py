"""The agent's shipping side against a real server subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import requests
from sqlalchemy import create_engine, text

from profiler.agent import AgentOptions, run_agent
from profiler.agent.labels import Labeler
from tests.server.conftest import free_port
from tests.server.sources import PythonThreadSource

EXE = os.path.basename(os.readlink("/proc/self/exe"))


def burn_worker(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(range(2000))


def test_labels_from_a_real_process(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "OTEL_SERVICE_NAME": "checkout",
           "OTEL_RESOURCE_ATTRIBUTES": "service.name=ignored,service.version=1.4,x=y"}
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env=env)
    try:
        time.sleep(0.2)
        lab = Labeler(host="h1").labels(p.pid)
        assert lab == {"host": "h1", "service_name": "checkout", "service_version": "1.4"}
    finally:
        p.kill()
        p.wait()
    q = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                         env={"PATH": "/usr/bin:/bin",
                              "OTEL_RESOURCE_ATTRIBUTES": "service.name=api,service.version=2"})
    try:
        time.sleep(0.2)
        lab = Labeler(host="h1").labels(q.pid)
        assert lab["service_name"] == "api" and lab["service_version"] == "2"
    finally:
        q.kill()
        q.wait()


def _agent(url, tmp_path, stop, metrics_port, interval=1.0):
    result = {}
    src = PythonThreadSource(hz=19)

    def run():
        result["r"] = run_agent(url, src, AgentOptions(
            interval_s=interval, spool_dir=str(tmp_path / "spool"), metrics_port=metrics_port,
            host="testhost", extra_labels={"suite": "server"}), stop)

    t = threading.Thread(target=run, name="agent-under-test")
    t.start()
    return t, result


def test_agent_ships_and_survives_server_outage(tmp_path, server_factory):
    db = f"sqlite:///{tmp_path / 'agent.db'}"
    srv = server_factory(db).start()
    stop, work_stop = threading.Event(), threading.Event()
    worker = threading.Thread(target=burn_worker, args=(work_stop,), name="burner")
    worker.start()
    mport = free_port()
    t, result = _agent(srv.url, tmp_path, stop, mport)
    try:
        time.sleep(3)
        port = srv.port
        srv.stop()
        time.sleep(30)  # the server is down; batches go to the spool
        metrics = requests.get(f"http://127.0.0.1:{mport}/metrics", timeout=5).text
        spooled = [ln for ln in metrics.splitlines()
                   if ln.startswith("flamecam_agent_spool_batches ")]
        assert spooled and float(spooled[0].split()[1]) >= 20, metrics
        srv.port = port
        srv.start()
        # The server is back: wait for the spool to empty (not a fixed 3 s,
        # after which the 10 s drain at stop had to do the rest).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            metrics = requests.get(f"http://127.0.0.1:{mport}/metrics", timeout=5).text
            if "\nflamecam_agent_spool_batches 0\n" in f"\n{metrics}":
                break
            time.sleep(0.5)
    finally:
        stop.set()
        t.join(60)
        work_stop.set()
        worker.join()
    res = result["r"]
    assert len(res.batches) >= 30
    eng = create_engine(db)
    with eng.connect() as conn:
        seqs = {r[0] for r in conn.execute(text("SELECT seq FROM agent_batches"))}
        stored = conn.execute(text("SELECT sum(n_samples) FROM blocks")).scalar()
    eng.dispose()
    assert set(res.batches) <= seqs, sorted(set(res.batches) - seqs)[:5]
    assert stored == res.samples
    m = res.metrics.render()
    assert "flamecam_agent_upload_errors_total" in m and "flamecam_agent_spool_bytes 0" in m
    fb = requests.get(srv.url + "/api/v1/render", params={
        "query": f'cpu{{service_name="{EXE}",host="testhost"}}', "from": "now-5m"},
        timeout=10).json()
    if not any("burn_worker" in n for n in fb["flamebearer"]["names"]):
        vals = requests.get(srv.url + "/api/v1/labels/service_name/values", timeout=10).json()
        raise AssertionError(f"burn_worker not found; services {vals}")
    tl = requests.get(srv.url + "/api/v1/threads", params={"query": "cpu{}", "from": "now-5m"},
                      timeout=10).json()["threads"]
    assert "burner" in {x["thread_name"] for x in tl}
