"""A long-running agent finds new processes as they start (issue 14 item 4).

The real agent (`flamecam agent`, eBPF, whole host) has run for two minutes
when a new CPython process starts: its Python frames must be named in the
real server within 5 s. A Python the agent cannot read (3.10, no known
layout) is named in the agent's log and counted in its /metrics.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.runtimes.conftest import PYENV
from tests.runtimes.targets import ALPHA_BETA
from tests.workloads import die_with_pytest

from .conftest import REPO, free_port, terminate

pytestmark = pytest.mark.bpf

AGENT_AGE_S = 120.0  # how long the agent runs before the new process starts
NAMED_WITHIN_S = 5.0
UNREADABLE = "flamecam_agent_runtime_unreadable_processes_total"


def _python(version: str) -> Path:
    exe = PYENV / version / "bin" / f"python{version.rsplit('.', 1)[0]}"
    if not exe.exists():
        pytest.skip(f"CPython {version} not installed at {exe}")
    return exe


class Agent:
    """`flamecam agent` on the whole host, its log kept, its /metrics read."""

    def __init__(self, server: str, spool: Path) -> None:
        self.metrics_port = free_port()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "profiler.cli", "agent", "--server", server,
             "--interval", "1", "--metrics-port", str(self.metrics_port),
             "--spool-dir", str(spool)],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            preexec_fn=die_with_pytest)
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.log.append(line)

    def metric(self, name: str) -> float | None:
        try:
            text = requests.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2).text
        except requests.RequestException:
            return None
        m = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        return float(m.group(1)) if m else None

    def wait_sampling(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if (self.metric("flamecam_agent_samples_total") or 0) > 0:
                return
            time.sleep(0.5)
        tail = "".join(self.log[-30:])
        if "BPF" in tail and "Traceback" in tail:
            pytest.skip(f"eBPF not available: {tail[-500:]}")
        raise AssertionError(f"the agent never shipped a sample:\n{tail}")

    def stop(self) -> None:
        terminate(self.proc, 30)


def test_new_python_process_named_after_two_minutes(tmp_path, server_factory):
    if os.geteuid() != 0:
        pytest.skip("loading eBPF programs needs root")
    py312, py310 = _python("3.12.1"), _python("3.10.13")
    script = tmp_path / "ab.py"
    script.write_text(ALPHA_BETA)
    srv = server_factory(f"sqlite:///{tmp_path / 'agent.db'}").start()
    agent = Agent(srv.url, tmp_path / "spool")
    procs: list[subprocess.Popen] = []
    try:
        agent.wait_sampling(180)
        time.sleep(max(0.0, agent.started + AGENT_AGE_S - time.monotonic()))
        env = dict(os.environ, OTEL_SERVICE_NAME="late-python")
        t0 = time.monotonic()
        p = subprocess.Popen([str(py312), str(script)], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL,
                             start_new_session=True, preexec_fn=die_with_pytest)
        procs.append(p)
        q = 'cpu{service_name="late-python"}'
        named_after = None
        names: list[str] = []
        while time.monotonic() < t0 + 30:
            fb = requests.get(srv.url + "/api/v1/render",
                              params={"query": q, "from": "now-5m"}, timeout=10).json()
            names = fb["flamebearer"]["names"]
            if {"alpha", "beta"} <= {n.rsplit(".", 1)[-1] for n in names}:
                named_after = time.monotonic() - t0
                break
            time.sleep(0.25)
        shown = "never" if named_after is None else f"{named_after:.1f} s"
        print(f"agent up {AGENT_AGE_S:.0f} s, then a new CPython 3.12 process: its Python "
              f"frames named in the server after {shown}")
        assert named_after is not None, names[:40]
        assert named_after <= NAMED_WITHIN_S, names[:40]
        threads = requests.get(srv.url + "/api/v1/threads",
                               params={"query": q, "from": "now-5m"}, timeout=10).json()
        assert "worker-3" in {t["thread_name"] for t in threads["threads"]}, threads

        # A Python it cannot read: one log line naming the pid, and the counter.
        before = agent.metric(UNREADABLE)
        assert before is not None
        old = subprocess.Popen([str(py310), str(script)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True,
                               preexec_fn=die_with_pytest)
        procs.append(old)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (agent.metric(UNREADABLE) or 0) <= before:
            time.sleep(0.5)
        assert (agent.metric(UNREADABLE) or 0) > before, "".join(agent.log[-20:])
        said = [ln for ln in agent.log if f"pid {old.pid}" in ln and "python" in ln.lower()]
        assert len(said) == 1, "".join(agent.log[-20:])
    finally:
        for q_ in procs:
            q_.kill()
            q_.wait()
        agent.stop()
