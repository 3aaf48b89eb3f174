"""The agent never loses samples silently: a full disk, a bounded spool and a
server that finds a batch too large are each survived, and every sample is
either stored by the server or counted as lost (real agent, real server)."""

from __future__ import annotations

import errno
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from profiler.agent import AgentOptions, run_agent
from profiler.agent.metrics import Metrics
from tests.server.conftest import ServerProcess, free_port
from tests.server.sources import PythonThreadSource
from tests.server.test_agent import burn_worker


def _metrics(port: int) -> dict[str, str]:
    text_ = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return dict(ln.split(" ", 1) for ln in text_.splitlines() if not ln.startswith("#"))


def _stored_samples(db: str) -> int:
    eng = create_engine(db)
    with eng.connect() as conn:
        stored = conn.execute(text("SELECT coalesce(sum(n_samples), 0) FROM blocks")).scalar()
    eng.dispose()
    return int(stored)


def _reported_losses(db: str) -> dict[tuple[str, str], int]:
    eng = create_engine(db)
    with eng.connect() as conn:
        rows = conn.execute(text("SELECT host, reason, sum(count) FROM agent_losses "
                                 "GROUP BY host, reason")).all()
    eng.dispose()
    return {(h, r): int(n) for h, r, n in rows}


def _wait_for(cond, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.25)


class _Agent:
    """run_agent in a thread over this process's Python threads (one burning)."""

    def __init__(self, url: str, spool: Path, **opts) -> None:
        self.stop, self.work_stop = threading.Event(), threading.Event()
        self.metrics_port = free_port()
        self.result = None
        self.worker = threading.Thread(target=burn_worker, args=(self.work_stop,))
        self.worker.start()
        options = AgentOptions(spool_dir=str(spool), metrics_port=self.metrics_port,
                               host="testhost", drain_on_stop_s=30, **opts)

        def run() -> None:
            self.result = run_agent(url, PythonThreadSource(hz=97), options, self.stop)

        self.thread = threading.Thread(target=run, name="agent-under-test")
        self.thread.start()
        _wait_for(self._metrics_up, 30)

    def _metrics_up(self) -> bool:
        assert self.thread.is_alive(), "the agent stopped"
        try:
            return bool(_metrics(self.metrics_port))
        except requests.ConnectionError:  # its /metrics thread is starting
            return False

    def finish(self):
        self.stop.set()
        self.thread.join(90)
        self.work_stop.set()
        self.worker.join()
        assert self.result is not None, "the agent loop died"
        return self.result


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs, unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                       check=True, capture_output=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        pytest.skip(f"cannot mount a tmpfs: {e}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_agent_keeps_profiling_when_its_spool_disk_is_full(tmp_path, small_disk):
    spool = small_disk / "spool"
    spool.mkdir()
    filler = small_disk / "filler"
    with open(filler, "wb", buffering=0) as f:  # fill the disk to the last byte
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC
    port = free_port()  # nothing listens there yet: the server is down
    agent = _Agent(f"http://127.0.0.1:{port}", spool, interval_s=0.5)
    srv = ServerProcess(f"sqlite:///{tmp_path / 'agent.db'}", port)
    try:
        _wait_for(lambda: int(_metrics(agent.metrics_port)
                              ["flamecam_agent_spool_dropped_batches_total"]) >= 3, 30)
        assert agent.thread.is_alive(), "the agent stopped on a full disk"
        assert not list(spool.glob("*.tmp")), "a partial batch was left behind"
        filler.unlink()  # space again, and the server comes up
        srv.start()
        _wait_for(lambda: int(_metrics(agent.metrics_port)
                              ["flamecam_agent_batches_sent_total"]) >= 2)
    finally:
        res = agent.finish()
        srv.stop()
    m = res.metrics.counters
    dropped = int(m["flamecam_agent_spool_dropped_samples_total"])
    assert dropped > 0 and m["flamecam_agent_spool_dropped_batches_total"] >= 3
    # Every sample taken is stored or counted as dropped: none vanished.
    assert _stored_samples(srv.db_url) == res.samples - dropped, res.summary()
    assert f"lost {dropped} samples" in res.summary()
    assert _reported_losses(srv.db_url) == {("testhost", "spool_dropped"): dropped}


def test_agent_counts_samples_dropped_from_a_bounded_spool(tmp_path):
    port = free_port()
    agent = _Agent(f"http://127.0.0.1:{port}", tmp_path / "spool", interval_s=0.3,
                   spool_max_bytes=6000)
    srv = ServerProcess(f"sqlite:///{tmp_path / 'agent.db'}", port)
    try:
        _wait_for(lambda: int(_metrics(agent.metrics_port)
                              ["flamecam_agent_spool_dropped_batches_total"]) >= 5, 30)
        srv.start()
        _wait_for(lambda: _metrics(agent.metrics_port)["flamecam_agent_spool_batches"] == "0")
    finally:
        res = agent.finish()
        srv.stop()
    dropped = int(res.metrics.counters["flamecam_agent_spool_dropped_samples_total"])
    assert dropped > 0
    assert _stored_samples(srv.db_url) == res.samples - dropped, res.summary()
    # The server was told of every one, on this host (batches that carried a
    # report and were dropped too handed it on to the next).
    assert _reported_losses(srv.db_url) == {("testhost", "spool_dropped"): dropped}


def test_agent_splits_a_batch_the_server_finds_too_large(tmp_path):
    from waitress.server import create_server

    from profiler.server.app import ServerConfig, create_app, shutdown
    from profiler.web.limits import Limits

    db = f"sqlite:///{tmp_path / 'agent.db'}"
    app = create_app(ServerConfig(db_url=db, maintenance=False, limits=Limits(max_body=2500)))
    server = create_server(app, host="127.0.0.1", port=0, threads=2)
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    url = f"http://127.0.0.1:{server.effective_port}"
    agent = _Agent(url, tmp_path / "spool", interval_s=2.0)
    try:
        _wait_for(lambda: int(_metrics(agent.metrics_port)
                              ["flamecam_agent_batches_split_total"]) >= 1, 30)
        time.sleep(2)
    finally:
        res = agent.finish()
        server.close()
        server.task_dispatcher.shutdown()
        serving.join(5)
        shutdown(app)
    m = res.metrics.counters
    assert m["flamecam_agent_batches_split_total"] >= 1
    assert m["flamecam_agent_batches_rejected_total"] == 0, res.summary()
    assert _stored_samples(db) == res.samples, res.summary()


def test_metrics_print_counters_as_integers():
    m = Metrics()
    m.inc("flamecam_agent_samples_total", 1417530)
    m.observe_upload(0.25)
    out = m.render()
    assert "\nflamecam_agent_samples_total 1417530\n" in out
    assert "flamecam_agent_upload_seconds_sum 0.25\n" in out
    assert "e+" not in out
