"""runtimes/python/python.h on this kernel: the verifier accepts it, and the stacks it
walks in the kernel name the right functions in real 3.11/3.12/3.13 processes,
on-CPU (sampled) and off-CPU (at switch-out), with GIL waits told apart."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

import bpf
from profiler.model import Frame
from runtimes.python import PythonStacks, bpf_maps
from tests.workloads import die_with_pytest

from .conftest import (
    host_tids,
    in_new_pid_namespace,
    namespaced_child,
    python_bin,
    wait_for_line,
)
from .targets import ALPHA_BETA, GIL_AND_LOCK, WORKER_FUNCTIONS

VERSIONS = ["3.11", "3.12", "3.13"]
HZ = 999
SECONDS = 6.0
MIN_CPU = 300  # on-CPU samples of each worker thread (the tests ask for 150 and 50)


class Event(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_uint32), ("tid", ctypes.c_uint32), ("py", ctypes.c_uint64),
                ("gil", ctypes.c_uint32), ("state", ctypes.c_uint32), ("futex", ctypes.c_uint64)]


def build_source() -> str:
    """As the recorder will: python.h spliced into the program text."""
    header = bpf.source("pidns.h") + bpf_maps.bpf_source()
    prog = Path(__file__).with_name("bpf_python_test.c").read_text()
    marker = "#include <uapi/linux/bpf_perf_event.h>\n"
    return prog.replace(marker, marker + header, 1)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """One BPF load (compiles take seconds) over all targets at once."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    try:
        from bcc import BPF, PerfSWConfig, PerfType
    except ImportError:
        pytest.skip("bcc not importable")
    import subprocess

    tmp = tmp_path_factory.mktemp("pybpf")
    procs: list[subprocess.Popen] = []
    targets: dict[str, dict] = {}
    try:
        for minor in VERSIONS:
            for kind, script in (("ab", ALPHA_BETA), ("gil", GIL_AND_LOCK)):
                path = tmp / f"{kind}_{minor.replace('.', '')}.py"
                path.write_text(script)
                p = subprocess.Popen([str(python_bin(minor)), str(path)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True, preexec_fn=die_with_pytest)
                procs.append(p)
                tids = [int(x) for x in wait_for_line(p, "ready").split()[1:]]
                targets[f"{kind}{minor}"] = {"pid": p.pid, "tids": tids}
        if shutil.which("unshare"):  # a container-like target: own pid namespace
            path = tmp / "ab_ns.py"
            path.write_text(ALPHA_BETA)
            p = subprocess.Popen(in_new_pid_namespace([python_bin("3.12"), path]),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 start_new_session=True, preexec_fn=die_with_pytest)
            procs.append(p)
            ns_tids = [int(x) for x in wait_for_line(p, "ready").split()[1:]]
            child = namespaced_child(p.pid)
            targets["abns"] = {"pid": child, "tids": host_tids(child, ns_tids)}
        b = BPF(text=build_source().encode(), cflags=["-Wno-macro-redefined"])
        py = PythonStacks(b)
        pids = {t["pid"] for t in targets.values()}
        assert set(py.scan()) >= pids  # found among all of /proc's processes
        events: list[tuple[int, int, int, int, int, int]] = []

        def on_event(ctx, data, size):
            e = ctypes.cast(data, ctypes.POINTER(Event)).contents
            events.append((e.kind, e.tid, e.py, e.gil, e.state, e.futex))

        b[b"py_test_events"].open_ring_buffer(on_event)
        b.attach_perf_event(ev_type=PerfType.SOFTWARE, ev_config=PerfSWConfig.CPU_CLOCK,
                            fn_name=b"py_test_sample", sample_freq=HZ, cpu=-1)
        # At least SECONDS, then on until every worker thread has MIN_CPU
        # samples: a loaded machine takes longer to give them, not fewer.
        workers = {t["tids"][1] for k, t in targets.items() if k.startswith("ab")}

        def enough() -> bool:
            n = Counter(tid for kind, tid, *_ in events if kind == 0 and tid in workers)
            return all(n[w] >= MIN_CPU for w in workers)

        start = time.monotonic()
        while time.monotonic() < start + SECONDS or (
                time.monotonic() < start + 60 and not enough()):
            b.ring_buffer_poll(100)
        b.detach_perf_event(ev_type=PerfType.SOFTWARE, ev_config=PerfSWConfig.CPU_CLOCK)
        b.ring_buffer_consume()
        # name every stack while the processes are alive
        tid_pid = {tid: t["pid"] for t in targets.values() for tid in t["tids"]}
        out = defaultdict(list)
        unflagged: dict[int, Counter] = defaultdict(Counter)  # tid -> (state, futex, leaf)
        native = [Frame("__futex_abstimed_wait_common", "native", "/lib/libc.so.6")]
        for kind, tid, py_id, gil, state, futex in events:
            pid = tid_pid.get(tid)
            if pid is None:
                continue
            merged = py.merge(pid, native, py_id)[1:]  # leaf-first Python frames
            reason = py.reason(pid, "lock", bool(gil)) if kind == 1 else ""
            out[tid].append((kind, merged, reason == "gil"))
            if kind == 1 and not gil:
                unflagged[tid][(state, futex, _leaf(merged))] += 1
        names = {tid: py.thread_name(tid_pid[tid], tid) for tid in tid_pid}
        gil_ranges = {t["pid"]: py.procs.gil_range(t["pid"]) for k, t in targets.items()
                      if k.startswith("gil")}
        b.cleanup()
        yield targets, out, names, unflagged, gil_ranges
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGKILL)  # the group: unshare's child too
            p.wait()
            p.stdout.close()
            p.stderr.close()


def _leaf(frames) -> str:
    return frames[0].name.rsplit(".", 1)[-1] if frames else ""


@pytest.mark.parametrize("minor", VERSIONS)
def test_on_cpu_split_from_kernel_walk(recording, minor):
    targets, by_tid, names, *_ = recording
    main_tid, worker = targets[f"ab{minor}"]["tids"]
    assert (names[main_tid], names[worker]) == ("MainThread", "worker-3")
    cpu = [frames for kind, frames, _ in by_tid[worker] if kind == 0]
    leaves = Counter(_leaf(f) for f in cpu)
    assert len(cpu) >= 150, leaves
    # The leaf is one of the worker's own Python functions (its calls into
    # random are real leaves too, a few percent of its time)...
    assert sum(leaves[n] for n in WORKER_FUNCTIONS) / len(cpu) >= 0.95, leaves
    # ...and alpha and beta split 70/30, as the work is split.
    named = leaves["alpha"] + leaves["beta"]
    assert named / len(cpu) >= 0.85, leaves
    # Samples 1 ms apart within one time slice are not independent: across
    # runs the share spreads about 0.02 around 0.71 (one CI run saw 0.752), so
    # 0.10 of margin, still far from a swap (0.30) or a blur (0.50).
    assert abs(leaves["alpha"] / named - 0.70) <= 0.10, leaves
    assert all(f[-1].name.endswith("Thread._bootstrap") for f in cpu if f)


@pytest.mark.parametrize("minor", VERSIONS)
def test_off_cpu_stack_at_switch_out(recording, minor):
    targets, by_tid, *_ = recording
    main_tid, _ = targets[f"ab{minor}"]["tids"]
    off = [frames for kind, frames, _ in by_tid[main_tid] if kind == 1]
    assert off, "main thread never switched out"
    assert Counter(_leaf(f) for f in off).most_common(1)[0][0] == "nap"


@pytest.mark.parametrize("minor", VERSIONS)
def test_gil_waits_flagged_lock_waits_not(recording, minor):
    targets, by_tid, names, unflagged, gil_ranges = recording
    a, b, waiter = targets[f"gil{minor}"]["tids"]
    spin_off = [gil for tid in (a, b) for kind, _, gil in by_tid[tid] if kind == 1]
    lo, hi = gil_ranges[targets[f"gil{minor}"]["pid"]]
    why = {(st, hex(fx), "in GIL" if lo <= fx < hi else "outside", leaf): n
           for tid in (a, b) for (st, fx, leaf), n in unflagged[tid].most_common(8)}
    assert spin_off and sum(spin_off) / len(spin_off) >= 0.8, (
        f"{sum(spin_off)} of {len(spin_off)} flagged; GIL [{lo:#x}, {hi:#x}); "
        f"unflagged (state, futex, where, leaf): {why}")
    lock_waits = [f for kind, f, gil in by_tid[waiter] if kind == 1 and not gil]
    assert lock_waits and _leaf(lock_waits[0]) == "waiter"
    assert names[waiter] == "waiter"


def test_container_process_walked_in_kernel(recording):
    """A process in its own pid namespace: thread ids compared in that namespace."""
    targets, by_tid, names, *_ = recording
    if "abns" not in targets:
        pytest.skip("no unshare")
    main_tid, worker = targets["abns"]["tids"]
    cpu = [frames for kind, frames, _ in by_tid[worker] if kind == 0]
    leaves = Counter(_leaf(f) for f in cpu)
    assert len(cpu) >= 50, leaves
    # As above: calls into random are the worker's leaves too, a few percent.
    assert sum(leaves[n] for n in WORKER_FUNCTIONS) / len(cpu) >= 0.95, leaves
    assert (leaves["alpha"] + leaves["beta"]) / len(cpu) >= 0.85, leaves
    off = [frames for kind, frames, _ in by_tid[main_tid] if kind == 1]
    assert off and _leaf(off[0]) == "nap"
    assert names[worker] == "worker-3"
