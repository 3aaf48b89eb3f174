"""`flamecam run`: the embedded platform on one host, what `make run` starts.

A server (SQLite under ./data) in a child process and the agent profiling
this host into it, until Ctrl-C. The server is a separate process so its
queries never compete with the agent's sampling loop for the GIL.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
import urllib.request

from .cmdline import EXIT_FAILED, CommandError

log = logging.getLogger("flamecam.run")


def wait_healthy(url: str, timeout_s: float, proc: subprocess.Popen) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def run_platform(host: str, port: int, db_url: str | None, seconds: float | None,
                 sampler_opts, agent_opts) -> int:
    """Starts the server, then the agent; stops both on Ctrl-C or after `seconds`."""
    from .agent.run import run_agent
    from .recorder import Recorder

    url = f"http://{host}:{port}"
    # One host's data needs one server process.
    argv = [sys.executable, "-m", "profiler.cli", "server", "--host", host, "--port", str(port),
            "--workers", "1"]
    if db_url:
        argv += ["--db", db_url]
    server = subprocess.Popen(argv)
    try:
        if not wait_healthy(url, 60, server):
            raise CommandError(f"the server did not start on {url}; is the port taken? "
                               "(try --port)", EXIT_FAILED)
        print(f"flamecam: UI and API at {url}/  (Ctrl-C stops)", file=sys.stderr, flush=True)
        stop = threading.Event()

        def on_signal(_signum, _frame):
            stop.set()

        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, on_signal)
        if seconds is not None:
            threading.Timer(seconds, stop.set).start()
        with Recorder(sampler_opts) as rec:
            print("flamecam: profiling this host; data appears after the first upload "
                  f"(every {agent_opts.interval_s:.0f} s)", file=sys.stderr, flush=True)
            result = run_agent(url, rec, agent_opts, stop=stop)
        print(f"flamecam: {result.summary()}",
              file=sys.stderr)
        return 0
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
