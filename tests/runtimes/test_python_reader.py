"""The user-space CPython reader against real 3.11, 3.12 and 3.13 processes."""

from __future__ import annotations

import os
import random
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest

from runtimes.python import PythonProcess, PythonProcesses, PythonStacks
from runtimes.python.gil import futex_in_gil
from runtimes.python.offsets import TABLES, offsets_for, parse_debug_offsets
from runtimes.recheck import Rechecks

from .conftest import host_tids, in_new_pid_namespace, namespaced_child, python_bin, wait_for_line
from .targets import ALPHA_BETA, GIL_AND_LOCK, WORKER_FUNCTIONS

VERSIONS = ["3.11", "3.12", "3.13"]


def _start(spawn, minor: str, script: str, tmp_path) -> tuple[int, list[int]]:
    path = tmp_path / f"target_{minor.replace('.', '')}.py"
    path.write_text(script)
    p = spawn([python_bin(minor), path])
    line = wait_for_line(p, "ready")
    return p.pid, [int(x) for x in line.split()[1:]]


@pytest.mark.parametrize("minor", VERSIONS)
def test_alpha_beta_split_names_and_nap(spawn, tmp_path, minor):
    pid, (main_tid, worker_tid) = _start(spawn, minor, ALPHA_BETA, tmp_path)
    procs = PythonProcesses()
    proc = procs.get(pid)
    assert proc is not None and proc.version == (3, int(minor[2:]))

    leaves: Counter[str] = Counter()
    rnd = random.Random(1)
    # Until 2,000 samples (a loaded machine gets there late, not with fewer):
    # the 70/30 split's +-0.05 is then 5 sigma of sampling noise; at 800 it was
    # 3 sigma, and a clean run saw 0.7525 of 792. The deadline only stops a
    # hung reader; a loop cut short by it fails below, not judged on fewer.
    deadline = time.monotonic() + 120.0
    schedstat = f"/proc/{pid}/task/{worker_tid}/schedstat"
    last_cpu = -1
    while time.monotonic() < deadline and sum(leaves.values()) < 2000:
        # A sample counts only if the worker ran since the last one: on a loaded
        # machine a preempted thread would otherwise be counted many times at
        # the one spot it stopped, turning CPU-time sampling into clusters.
        cpu_ns = int(open(schedstat).read().split()[0])
        st = procs.stack(pid, worker_tid)
        if cpu_ns != last_cpu and st is not None and st.frames:
            leaves[st.frames[0].name.rsplit(".", 1)[-1]] += 1
        last_cpu = cpu_ns
        time.sleep(rnd.uniform(0.002, 0.006))  # jittered: no aliasing with cycles
    named = leaves["alpha"] + leaves["beta"]
    total = sum(leaves.values())
    assert total >= 2000, leaves
    # The leaf is one of the worker's own functions; its calls into random are
    # real leaves too, a few percent of its time (as in test_python_bpf.py).
    assert sum(leaves[n] for n in WORKER_FUNCTIONS) / total >= 0.95, leaves
    assert named / total >= 0.85, leaves
    share = leaves["alpha"] / named
    assert abs(share - 0.70) <= 0.05, (share, leaves)

    st = procs.stack(pid, main_tid)
    assert st is not None
    assert st.frames[0].name.endswith(".nap") and st.frames[0].kind == "python"
    assert st.frames[0].file.endswith(f"target_{minor.replace('.', '')}.py")
    sleep_line = ALPHA_BETA.splitlines().index("        time.sleep(0.2)") + 1
    assert st.frames[0].line == sleep_line
    assert st.frames[-1].name.endswith("<module>")

    assert procs.thread_name(pid, main_tid) == "MainThread"
    assert procs.thread_name(pid, worker_tid) == "worker-3"
    procs.process_exited(pid)


@pytest.mark.parametrize("minor", VERSIONS)
def test_gil_wait_is_told_from_lock_wait(spawn, tmp_path, minor):
    """Blocked-in-futex address: inside the GIL's state for `gil`, not for a Lock."""
    pid, (a, b, waiter) = _start(spawn, minor, GIL_AND_LOCK, tmp_path)
    proc = PythonProcess(pid)
    gil = proc.gil_range()
    assert gil[0] and gil[1] - gil[0] == proc.off.gil_size

    def futex_addr(tid: int) -> int:
        fields = open(f"/proc/{pid}/task/{tid}/syscall").read().split()
        return int(fields[1], 16) if fields[0] == "202" else 0

    gil_waits = 0
    for _ in range(200):
        for tid in (a, b):
            gil_waits += futex_in_gil(futex_addr(tid), gil)
        time.sleep(0.002)
    assert gil_waits > 20  # one spinner mostly waits for the GIL the other holds
    # the waiter blocks on its Lock's futex (and briefly on the GIL after each timeout)
    lock_waits: list[int] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(not futex_in_gil(a, gil) for a in lock_waits):
        addr = futex_addr(waiter)
        if addr:
            lock_waits.append(addr)
        time.sleep(0.005)
    assert lock_waits and any(not futex_in_gil(a, gil) for a in lock_waits)
    assert proc.gil_holder_tid() in (a, b, 0)
    assert proc.stack(waiter).frames[0].name.endswith("waiter")


@pytest.mark.parametrize("minor", VERSIONS)
def test_unknown_version_degrades_with_one_warning(spawn, tmp_path, minor, monkeypatch):
    pid, _ = _start(spawn, minor, ALPHA_BETA, tmp_path)
    monkeypatch.setattr("runtimes.python.reader.offsets_for", lambda v, d=None: None)
    warnings: list[str] = []
    procs = PythonProcesses(warn=warnings.append)
    for tid in (pid, pid, pid):
        assert procs.stack(pid, tid) is None
        assert procs.thread_name(pid, tid) is None
    assert len(warnings) == 1 and "no known layout" in warnings[0]


def test_non_python_process_is_ignored_silently(spawn):
    p = spawn(["sleep", "30"])
    warnings: list[str] = []
    procs = PythonProcesses(warn=warnings.append)
    assert procs.stack(p.pid, p.pid) is None and not warnings


def test_313_debug_offsets_match_table(spawn, tmp_path):
    pid, _ = _start(spawn, "3.13", ALPHA_BETA, tmp_path)
    proc = PythonProcess(pid)
    from runtimes.python.offsets import DEBUG_OFFSETS_313_SIZE

    debug = parse_debug_offsets(proc.mem.read(proc.runtime.runtime_addr, DEBUG_OFFSETS_313_SIZE))
    assert debug is not None and debug["version"] >> 16 == 0x030D
    assert offsets_for((3, 13), debug) == TABLES[(3, 13)]


def test_real_unsupported_version_degrades_once(spawn, tmp_path):
    """A CPython without a table (3.10 here) is detected, warned about once."""
    exe = Path("/root/.pyenv/versions/3.10.13/bin/python3.10")
    if not exe.exists():
        pytest.skip("no CPython 3.10")
    path = tmp_path / "t310.py"
    path.write_text(ALPHA_BETA)
    p = spawn([exe, path])
    wait_for_line(p, "ready")
    warnings: list[str] = []
    procs = PythonProcesses(warn=warnings.append)
    for _ in range(3):
        assert procs.stack(p.pid, p.pid) is None
    assert len(warnings) == 1 and "3.10" in warnings[0]


def test_distro_python_is_read(spawn, tmp_path):
    """Debian's own python3.11 (3.11.2, libpython linked in) uses the 3.11 table."""
    exe = Path("/usr/bin/python3.11")
    if not exe.exists():
        pytest.skip("no /usr/bin/python3.11")
    path = tmp_path / "tdeb.py"
    path.write_text(ALPHA_BETA)
    p = spawn([exe, path])
    main_tid, worker_tid = (int(x) for x in wait_for_line(p, "ready").split()[1:])
    procs = PythonProcesses()
    st = procs.stack(p.pid, main_tid)
    assert st is not None and st.frames[0].name == "tdeb.nap"
    assert procs.thread_name(p.pid, worker_tid) == "worker-3"


def test_process_in_its_own_pid_namespace(spawn, tmp_path):
    """Containers: the interpreter knows its threads by namespace tids."""
    if not shutil.which("unshare") or os.geteuid() != 0:
        pytest.skip("needs unshare and root")
    path = tmp_path / "tns.py"
    path.write_text(ALPHA_BETA)
    launcher = spawn(in_new_pid_namespace([python_bin("3.12"), path]))
    ns_tids = [int(x) for x in wait_for_line(launcher, "ready").split()[1:]]
    pid = namespaced_child(launcher.pid)
    main_tid, worker_tid = host_tids(pid, ns_tids)
    assert (main_tid, worker_tid) != tuple(ns_tids)
    procs = PythonProcesses()
    proc = procs.get(pid)
    assert proc is not None and proc.pidns is not None
    assert procs.stack(pid, main_tid).frames[0].name == "tns.nap"
    assert procs.stack(pid, worker_tid).frames[0].name.rsplit(".", 1)[-1] in WORKER_FUNCTIONS
    assert procs.thread_name(pid, worker_tid) == "worker-3"
    assert procs.thread_name(pid, main_tid) == "MainThread"


def test_a_process_not_yet_python_is_looked_at_again(spawn):
    """First seen before it maps CPython (in the dynamic loader, or still the
    shell that execs it), a process is looked at again and then found."""
    p = spawn(["bash", "-c", "sleep 0.5; exec " + str(python_bin("3.12")) +
               " -c 'import time; print(\"ready\", flush=True); time.sleep(60)'"])
    py = PythonStacks()
    assert not py.process_seen(p.pid)  # bash, for now
    wait_for_line(p, "ready")
    deadline = time.monotonic() + 5
    while not py.recheck(p.pid):
        assert time.monotonic() < deadline, "never looked at again"
        time.sleep(0.05)
    assert py.process_seen(p.pid)


def test_a_process_shown_to_run_python_is_looked_at_at_once(spawn):
    """A sign that the process runs Python by now (it made a thread-context
    table) has it looked at once, whatever the back-off schedule says: here
    the schedule's next look is an hour away."""
    p = spawn(["bash", "-c", "sleep 0.5; exec " + str(python_bin("3.12")) +
               " -c 'import time; print(\"ready\", flush=True); time.sleep(60)'"])
    py = PythonStacks(rechecks=Rechecks(delays=(3600.0,)))
    assert not py.process_seen(p.pid)  # bash, for now
    wait_for_line(p, "ready")
    assert not py.recheck(p.pid)  # not due
    assert py.recheck(p.pid, now=True)
    assert py.process_seen(p.pid)
