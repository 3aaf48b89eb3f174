"""`flamecam record` on the real kernel against a workload whose answers are known.

One 8 s recording of `tests/workloads/threads.c` (pprof, so every sample keeps
its pid, tid, thread name and reason) serves most assertions.
"""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
import requests

from profiler.formats import folded
from profiler.formats.proto import profile_pb2
from tests.workloads import die_with_pytest

from .conftest import ROOT, flamecam

pytestmark = pytest.mark.bpf

DURATION = 8.0


class Parsed:
    """A pprof file read with the protobuf package, flattened for assertions."""

    def __init__(self, data: bytes):
        msg = profile_pb2.Profile()
        msg.ParseFromString(gzip.decompress(data))
        st = list(msg.string_table)
        self.types = [(st[t.type], st[t.unit]) for t in msg.sample_type]
        self.duration_ns = msg.duration_nanos
        funcs = {f.id: st[f.name] for f in msg.function}
        locs = {loc.id: [funcs[line.function_id] for line in loc.line] for loc in msg.location}
        self.samples = []
        for s in msg.sample:
            names = [n for lid in s.location_id for n in locs[lid]]  # leaf first
            labels = {st[lb.key]: (st[lb.str] if lb.str else lb.num) for lb in s.label}
            self.samples.append((names, list(s.value), labels))

    def of_thread(self, tid: int):
        return [s for s in self.samples if s[2].get("tid") == tid]


@pytest.fixture(scope="module")
def recording(threads_workload, bystander, tmp_path_factory):
    out = tmp_path_factory.mktemp("rec") / "threads.pb.gz"
    # 499 Hz: the burner shares 2 CPUs with three busy threads (~4 s of CPU), so
    # ~2,000 samples put the 70/30 split's +-0.05 at 5 sigma (3 sigma at 199 Hz).
    r = flamecam("record", "-p", str(threads_workload.pid), "-d", str(DURATION),
                 "-F", "499", "-o", str(out))
    assert r.returncode == 0, r.stderr
    return Parsed(out.read_bytes()), threads_workload.tids(), r.stderr


def test_pprof_has_cpu_and_off_cpu_types(recording):
    parsed, _, _ = recording
    assert parsed.types == [("cpu", "nanoseconds"), ("off_cpu", "nanoseconds")]
    assert parsed.samples


def test_burn_a_share_is_seventy_percent(recording):
    parsed, tids, _ = recording
    burner = [s for s in parsed.of_thread(tids["burner"]) if s[1][0] > 0]
    a = sum(s[1][0] for s in burner if "burn_a" in s[0][:2])
    b = sum(s[1][0] for s in burner if "burn_b" in s[0][:2])
    assert a + b > 0.8 * sum(s[1][0] for s in burner)  # nearly all burner time is in them
    share = a / (a + b)
    assert share == pytest.approx(0.70, abs=0.05), f"burn_a share {share:.3f}"


def test_sleeper_off_cpu_time_is_its_wall_time(recording):
    parsed, tids, _ = recording
    samples = parsed.of_thread(tids["sleeper"])
    off = sum(s[1][1] for s in samples)
    wall = parsed.duration_ns
    assert off == pytest.approx(wall, rel=0.05), f"off-CPU {off / 1e9:.3f} s of {wall / 1e9:.3f} s"
    # Blocked in nanosleep for nearly all of it; the rest is the run-queue
    # delay after each wakeup, which grows when the machine is busy.
    sleep = [s for s in samples if s[2].get("reason") == "sleep"]
    runq = [s for s in samples if s[2].get("reason") == "runqueue"]
    assert sum(s[1][1] for s in sleep) > 0.75 * off
    assert sum(s[1][1] for s in sleep) + sum(s[1][1] for s in runq) > 0.99 * off
    assert all(any(n in ("do_nanosleep", "hrtimer_nanosleep") for n in s[0]) for s in sleep)


def test_futex_wait_is_reason_lock(recording):
    parsed, tids, _ = recording
    samples = parsed.of_thread(tids["waiter"])
    by_reason = defaultdict(int)
    for s in samples:
        by_reason[s[2].get("reason")] += s[1][1]
    # The holder keeps the mutex 20 ms of every 21: the waiter is blocked on it
    # for much of the recording (the rest it waits for a CPU behind the spinners).
    assert by_reason["lock"] > 0.3 * parsed.duration_ns, dict(by_reason)
    lock = [s for s in samples if s[2].get("reason") == "lock"]
    assert all(any("futex" in n for n in s[0]) for s in lock)


def test_busy_threads_beyond_cpus_wait_on_the_run_queue(recording):
    parsed, tids, _ = recording
    busy = [tids["burner"]] + [t for n, t in tids.items() if n.startswith("spin-")]
    runq = sum(s[1][1] for t in busy for s in parsed.of_thread(t)
               if s[2].get("reason") == "runqueue")
    # Three busy threads on two CPUs: about a third of their wall time is spent waiting.
    assert runq > 0.1 * parsed.duration_ns * len(busy)


def test_pid_filter_excludes_other_processes(recording, threads_workload, bystander):
    parsed, _, _ = recording
    pids = {s[2]["pid"] for s in parsed.samples}
    assert pids == {threads_workload.pid}
    assert bystander.pid not in pids


def test_every_sample_names_its_thread(recording):
    parsed, tids, _ = recording
    names = {s[2].get("thread_name") for s in parsed.samples}
    assert {"burner", "sleeper", "waiter", "holder"} <= names


def test_progress_is_reported(recording):
    _, _, stderr = recording
    assert "flamecam: recording" in stderr and "lost" in stderr
    assert "flamecam: wrote" in stderr


def test_folded_and_speedscope_outputs_parse(threads_workload, tmp_path):
    fold_path = tmp_path / "p.folded"
    r = flamecam("record", "-p", str(threads_workload.pid), "-d", "2", "-o", str(fold_path))
    assert r.returncode == 0, r.stderr
    lines = list(folded.parse(fold_path.read_text().splitlines()))
    assert lines
    assert all(frames[0] == "threads" and value > 0 for frames, value in lines)
    assert any(frames[-1] == "[off-cpu:sleep]" for frames, _ in lines)
    assert any("burn_a" in frames for frames, _ in lines)
    assert any(f.endswith("_[k]") for frames, _ in lines for f in frames)

    ss_path = tmp_path / "p.speedscope.json"
    r = flamecam("record", "-p", str(threads_workload.pid), "-d", "2", "--no-off-cpu",
                 "-o", str(ss_path))
    assert r.returncode == 0, r.stderr
    doc = json.loads(ss_path.read_text())
    assert doc["$schema"].startswith("https://www.speedscope.app/")
    frames = doc["shared"]["frames"]
    names = {p["name"].split()[-1] for p in doc["profiles"]}
    assert "burner" in names
    for p in doc["profiles"]:
        assert len(p["samples"]) == len(p["weights"])
        assert all(0 <= i < len(frames) for st in p["samples"] for i in st)
    assert not any(f["name"].startswith("[off-cpu") for f in frames)


def test_cli_usage_errors_exit_2(tmp_path):
    r = flamecam("record", "-o", str(tmp_path / "x.folded"), "-F", "zero")
    assert r.returncode == 2 and "not a whole number" in r.stderr
    r = flamecam("record", "-p", "999999999", "-o", str(tmp_path / "x.folded"))
    assert r.returncode == 2 and "no process" in r.stderr
    r = flamecam("record", "--comm", "([", "-o", str(tmp_path / "x.folded"))
    assert r.returncode == 2 and "regular expression" in r.stderr


def test_flamecam_never_profiles_itself(bystander, tmp_path):
    """A whole-host recording leaves out every Flamecam process: a server busy
    answering queries and its forked workers, started on their own."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "profiler.cli", "server", "--port", str(port), "--workers", "2",
         "--db", f"sqlite:///{tmp_path / 'db.sqlite'}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, preexec_fn=die_with_pytest)
    url = f"http://127.0.0.1:{port}"
    stop = threading.Event()

    def hammer():  # keeps the server's workers on the CPU while we record
        while not stop.is_set():
            try:
                requests.get(f"{url}/api/v1/render?query=cpu{{}}&from=now-1h", timeout=5)
            except requests.RequestException:
                time.sleep(0.05)

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "server did not start"
            time.sleep(0.2)
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
        workers = [int(p) for p in children.read_text().split()]
        assert len(workers) == 2, workers
        threads = [threading.Thread(target=hammer, daemon=True) for _ in range(2)]
        for t in threads:
            t.start()
        out = tmp_path / "host.pb.gz"
        r = flamecam("record", "-d", "3", "-F", "199", "-o", str(out))
        assert r.returncode == 0, r.stderr
        parsed = Parsed(out.read_bytes())
        pids = {labels.get("pid") for _, _, labels in parsed.samples}
        assert bystander.pid in pids  # the host was profiled...
        assert not pids & {server.pid, *workers}  # ...but not Flamecam's server
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=30)
