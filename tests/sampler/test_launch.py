"""`flamecam record -- COMMAND` and `flamecam report` on the real kernel.

`tests/workloads/launched.c` burns 70/30 in burn_a/burn_b from its first
instruction for SECONDS, forks a child that burns in child_burn, and exits
with a chosen status: the recording must hold all of it, the child included,
and pass the status through.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from profiler.formats.read import read_samples
from tests.workloads import die_with_pytest

from .conftest import ROOT, flamecam

pytestmark = pytest.mark.bpf

SECONDS = 3.0


@pytest.fixture(scope="module")
def launched(launched_exe, tmp_path_factory):
    out = tmp_path_factory.mktemp("rec") / "launched.pb.gz"
    t0 = time.monotonic()
    # 499 Hz: ~1,500 samples of main, so the 70/30 split's +-0.05 is 4 sigma of
    # sampling noise (at 199 Hz it was 2.6 sigma: about 1 run in 100 failed by chance).
    r = flamecam("record", "-F", "499", "-o", str(out), "--", str(launched_exe),
                 str(SECONDS), "7")
    return r, out, time.monotonic() - t0


def test_exit_status_of_the_command_is_passed_through(launched):
    r, out, took = launched
    assert r.returncode == 7, r.stderr
    assert out.exists()
    assert took < SECONDS + 30  # it stopped when the command exited


def test_command_profiled_from_its_first_instruction(launched):
    r, out, _ = launched
    _, samples = read_samples(str(out))
    mine = [s for s in samples if s.comm == "launched"]
    pids = {s.pid for s in mine}
    assert len(pids) == 2, f"expected the command and its child, got pids {pids}"
    main_pid = min(pids, key=lambda p: min(s.ts_ns for s in mine if s.pid == p))
    main = [s for s in mine if s.pid == main_pid]
    # Its whole life, on the CPU or waiting for one, is in the recording.
    wall = sum(s.value_ns for s in main) / 1e9
    assert wall >= 0.9 * SECONDS, f"only {wall:.2f} s of the command's {SECONDS} s recorded"
    on = [s for s in main if s.kind == "cpu"]
    a = sum(s.value_ns for s in on if any(f.name == "burn_a" for f in s.stack))
    b = sum(s.value_ns for s in on if any(f.name == "burn_b" for f in s.stack))
    assert a / (a + b) == pytest.approx(0.70, abs=0.05), f"burn_a share {a / (a + b):.3f}"
    child = [s for s in mine if s.pid != main_pid and s.kind == "cpu"]
    assert any(f.name == "child_burn" for s in child for f in s.stack)


def test_record_prints_where_the_time_went(launched):
    r, out, _ = launched
    tail = r.stderr[r.stderr.index("top functions"):]
    top = re.findall(r"^\s+([\d.]+)%\s+(\S+)$", tail, re.M)
    assert top[0][1] == "burn_a", tail
    assert f"flamecam report {out}" in tail


def test_report_matches_the_known_split(launched, tmp_path):
    _, out, _ = launched
    r = flamecam("report", "--kind", "cpu", str(out))
    assert r.returncode == 0, r.stderr
    rows = {m[2]: float(m[0]) for m in
            re.findall(r"^\s+([\d.]+)%\s+(\S+ \S+)\s+.*\s(\S+)$", r.stdout, re.M)}
    a, b = rows["burn_a"], rows["burn_b"]
    assert a / (a + b) == pytest.approx(0.70, abs=0.05), r.stdout
    assert list(rows)[0] == "burn_a", r.stdout  # sorted by self time
    threads = flamecam("report", "--threads", str(out))
    assert threads.returncode == 0, threads.stderr
    assert len(re.findall(r"^\s+\d+\s+\d+\s+launched", threads.stdout, re.M)) == 2


def test_report_reads_folded_and_refuses_threads_there(launched_exe, tmp_path):
    out = tmp_path / "l.folded"
    r = flamecam("record", "-o", str(out), "--", str(launched_exe), "1", "0")
    assert r.returncode == 0, r.stderr
    rep = flamecam("report", "--limit", "3", str(out))
    assert rep.returncode == 0 and "burn_a" in rep.stdout, rep.stdout + rep.stderr
    assert len([ln for ln in rep.stdout.splitlines() if not ln.startswith("#")]) == 3
    bad = flamecam("report", "--threads", str(out))
    assert bad.returncode == 2 and "keeps no threads" in bad.stderr


def test_command_not_found_exits_127(tmp_path):
    r = flamecam("record", "-o", str(tmp_path / "x.folded"), "--", "/no/such/program")
    assert r.returncode == 127, r.stderr
    assert "cannot run '/no/such/program'" in r.stderr


def _interrupted_recording(launched_exe, out, to_group: bool) -> tuple[int, str, int]:
    """Records a 60 s command, interrupts after 1 s; (exit status, stderr, command pid)."""
    p = subprocess.Popen([sys.executable, "-m", "profiler.cli", "record", "-o", str(out), "--",
                          str(launched_exe), "60", "0"], cwd=ROOT,
                          start_new_session=True, preexec_fn=die_with_pytest,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (child := _child_running(p.pid, "launched")):
            time.sleep(0.1)
        assert child, "the command never started"
        time.sleep(1.0)
        if to_group:
            os.killpg(p.pid, signal.SIGINT)
        else:
            p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return p.returncode, err, child


def test_ctrl_c_stops_both_and_writes_the_file(launched_exe, tmp_path):
    # A terminal's Ctrl-C goes to the foreground process group: flamecam and COMMAND.
    out = tmp_path / "ctrl-c.folded"
    status, err, child = _interrupted_recording(launched_exe, out, to_group=True)
    assert status == 128 + signal.SIGINT, err
    assert "burn_a" in out.read_text()
    assert not _alive(child)


def test_ctrl_c_sent_to_flamecam_alone_still_ends_the_command(launched_exe, tmp_path):
    out = tmp_path / "int.folded"
    status, err, child = _interrupted_recording(launched_exe, out, to_group=False)
    assert status == 128 + signal.SIGINT, err
    assert out.exists() and "burn_a" in out.read_text()
    assert not _alive(child)


def _child_running(parent: int, comm: str) -> int:
    """The pid of a live (not zombie) child of `parent` named `comm`, or 0."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if name == comm and int(fields[1]) == parent and fields[0] != "Z":
            return int(pid)
    return 0


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
