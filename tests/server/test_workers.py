"""`flamecam server --workers N`: processes sharing one port and one database."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from .helpers import gz, profile, push_request

PUSH = "/push.v1.PusherService/Push"
HEADERS = {"Content-Type": "application/proto", "Content-Encoding": "gzip"}


def children(pid: int) -> set[int]:
    out = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[1] == str(pid):
                        out.add(int(d))
            except OSError:
                pass
    return out


def gone(pids: set[int], timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(os.path.exists(f"/proc/{p}") for p in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("stop", ["terminate", "kill"])
def test_workers_share_the_port_and_stop_with_the_server(tmp_path, server_factory, stop):
    srv = server_factory(f"sqlite:///{tmp_path}/w.db", "--workers", "3").start()
    # The first worker can answer /healthz before the parent forked the last.
    deadline = time.monotonic() + 15
    while len(workers := children(srv.proc.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(workers) == 3
    body = gz(push_request({"service_name": "workers"}, profile(30)))
    with ThreadPoolExecutor(8) as pool:  # concurrent pushes, spread over the workers by the kernel
        codes = list(pool.map(lambda _: requests.post(srv.url + PUSH, data=body,
                                                      headers=HEADERS, timeout=30).status_code,
                              range(40)))
    assert codes == [200] * 40
    r = requests.get(srv.url + "/api/v1/render",
                     params={"query": "{}", "from": "now-1d", "until": "now+1h"}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["flamebearer"]["numTicks"] == 40 * (30 * 10**7 + 3 * 10**6)
    if stop == "terminate":
        srv.stop()
    else:  # however the parent ends, its workers end with it
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(10)
    assert gone(workers)

