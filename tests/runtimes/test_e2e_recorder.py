"""End to end through the recorder (bpf/oncpu.c, offcpu.c, symbolizer, runtimes):
a busy JVM recorded at once has its JIT frames named, Burner.burnCpu under
Burner.main and its threads named by tid; Python processes get their frames,
thread names and GIL waits, also when first seen before they exec Python."""

from __future__ import annotations

import os
import time
from collections import Counter

import pytest

from .conftest import wait_for_line
from .jvm_support import BUSY_SECONDS, compile_burner, java_cmd


def record_for(rec, seconds: float) -> list:
    """Polls and takes as the agent does, for `seconds`, then the final take."""
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rec.poll(100)
        samples += rec.take()
    return samples + rec.take(final=True)


def in_jit_code(f) -> bool:
    """A frame in the JVM's code cache: named from the perf map, or not named."""
    return f.kind in ("java", "jit") or (f.kind == "unknown" and f.module == "[anon]")


@pytest.mark.bpf
def test_jvm_through_recorder(spawn, tmp_path, have_java):
    """As a user records: a JVM busy and compiling for a few seconds, recorded at
    once by the recorder alone (it attaches and dumps the perf map itself, no
    warm-up wait). Samples in JIT code are named (>= 95%): OSR code of main,
    JIT-compiled JDK methods, StubRoutines; burnCpu under main; threads named."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    from profiler.recorder import Recorder
    from profiler.sampler.options import SamplerOptions

    classes = compile_burner(tmp_path)
    p = spawn(java_cmd(classes, "-XX:+PreserveFramePointer", mix=True), cwd=classes)
    wait_for_line(p, "ready", timeout=30)
    time.sleep(BUSY_SECONDS)
    try:
        with Recorder(SamplerOptions(pids=[p.pid], off_cpu=True)) as rec:
            samples = record_for(rec, 3.0)
    finally:
        try:
            os.unlink(f"/tmp/perf-{p.pid}.map")
        except OSError:
            pass
    cpu = [s for s in samples if s.kind == "cpu"]
    in_jit = [s for s in cpu if any(in_jit_code(f) for f in s.stack)]
    unnamed = [s for s in in_jit if any(f.kind == "unknown" for f in s.stack if in_jit_code(f))]
    share = 1 - len(unnamed) / max(len(in_jit), 1)
    print(f"JVM busy {BUSY_SECONDS:.0f} s, recorded at once: {len(in_jit) - len(unnamed)} of "
          f"{len(in_jit)} samples in JIT code named ({share:.1%})")
    assert len(in_jit) >= 100, len(cpu)
    assert share >= 0.95, [[f.name for f in s.stack] for s in unnamed[:3]]
    main = [s for s in cpu if s.thread_name == "main"]
    hot = [s for s in main if "Burner.burnCpu" in (names := [f.name for f in s.stack])
           and "Burner.main" in names[: names.index("Burner.burnCpu")]]
    assert main and len(hot) / len(main) >= 0.5
    assert {"worker-1", "mixer"} <= {s.thread_name for s in samples}
    mixer = [s for s in cpu if s.thread_name == "mixer"]
    assert any(f.name.startswith("java.util.") for s in mixer for f in s.stack)


@pytest.mark.bpf
@pytest.mark.parametrize("version", ["3.11", "3.12", "3.13"])
def test_python_through_recorder(spawn, tmp_path, version):
    """The recorder with the Python runtime (runtimes/python/, its python.h in the programs):
    on-CPU split with names, nap above the off-CPU sleep, gil vs lock, thread names."""
    if os.geteuid() != 0:
        pytest.skip("needs root")

    from profiler.recorder import Recorder
    from profiler.sampler.options import SamplerOptions

    from .conftest import python_bin
    from .targets import ALPHA_BETA, GIL_AND_LOCK, WORKER_FUNCTIONS

    pids, tids = [], {}
    for kind, script in (("ab", ALPHA_BETA), ("gil", GIL_AND_LOCK)):
        path = tmp_path / f"{kind}.py"
        path.write_text(script)
        p = spawn([python_bin(version), path])
        tids[kind] = [int(x) for x in wait_for_line(p, "ready").split()[1:]]
        pids.append(p.pid)
    with Recorder(SamplerOptions(pids=pids, hz=499, off_cpu=True)) as rec:
        samples = record_for(rec, 5.0)

    def leaf_py(s) -> str:
        py = [f for f in s.stack if f.kind == "python"]
        return py[-1].name.rsplit(".", 1)[-1] if py else ""

    main_tid, worker = tids["ab"]
    mine = [s for s in samples if s.tid in (main_tid, worker)]
    # A sample can land where no Python frame exists yet or any more (a
    # thread switching in the scheduler tail); almost none may lack them.
    with_py = [s for s in mine if any(f.kind == "python" for f in s.stack)]
    assert mine and len(with_py) >= 0.98 * len(mine), [
        [f.name for f in s.stack] for s in mine if s not in with_py][:3]
    cpu = [s for s in samples if s.kind == "cpu" and s.tid == worker]
    leaves = Counter(leaf_py(s) for s in cpu)
    # As in test_python_bpf.py: the worker's calls into random are real leaves
    # (a few percent), and samples within one time slice are correlated, so
    # the split spreads about 0.02 around 0.71: 0.10 of margin, still far
    # from a swap (0.30) or a blur (0.50).
    assert cpu and sum(leaves[n] for n in WORKER_FUNCTIONS) / len(cpu) >= 0.95, leaves
    named = leaves["alpha"] + leaves["beta"]
    assert named / len(cpu) >= 0.85, leaves
    assert abs(leaves["alpha"] / named - 0.70) <= 0.10, leaves
    assert {s.thread_name for s in cpu} == {"worker-3"}
    naps = [s for s in samples if s.kind == "offcpu" and s.tid == main_tid and s.reason == "sleep"]
    assert naps and all(leaf_py(s) == "nap" for s in naps)
    assert naps[0].thread_name == "MainThread"
    a, b, waiter = tids["gil"]
    spin_off = [s for s in samples if s.kind == "offcpu" and s.tid in (a, b)
                and s.reason != "runqueue"]
    assert spin_off and sum(s.reason == "gil" for s in spin_off) / len(spin_off) >= 0.8
    waits = [s for s in samples if s.kind == "offcpu" and s.tid == waiter and s.reason == "lock"]
    assert waits and leaf_py(waits[0]) == "waiter"


def test_python_found_when_a_seen_process_execs_into_it(spawn, tmp_path):
    """A pid first seen as something else (a shell, a launcher) that then execs
    Python gets Python frames and thread names, as one seen as Python at once."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    import threading

    from profiler.recorder import Recorder
    from profiler.sampler.options import SamplerOptions

    from .conftest import python_bin
    from .targets import ALPHA_BETA

    script = tmp_path / "ab.py"
    script.write_text(ALPHA_BETA)
    with Recorder(SamplerOptions(hz=499, off_cpu=False)) as rec:
        # The shell is busy on the CPU first, so the recorder sees its pid as bash.
        p = spawn(["bash", "-c", "end=$((SECONDS+2)); while [ $SECONDS -lt $end ]; do :; done;"
                   f" exec {python_bin('3.12')} {script}"])
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(wait_for_line(p, "ready", 30)),
                                  daemon=True)
        reader.start()
        samples = []
        deadline = time.monotonic() + 40
        end = deadline  # 3 s of Python once it said ready
        while time.monotonic() < min(end, deadline):
            rec.poll(100)
            samples += rec.take()
            if ready and end == deadline:
                end = time.monotonic() + 3.0
        samples += rec.take(final=True)
    assert ready, "the exec'd Python never said ready"
    worker = int(ready[0].split()[2])
    mine = [s for s in samples if s.pid == p.pid]
    assert any(s.comm == "bash" for s in mine), "the pid was never seen as bash"
    cpu = [s for s in mine if s.tid == worker]
    leaves = Counter(next((f.name.rsplit(".", 1)[-1] for f in reversed(s.stack)
                           if f.kind == "python"), "") for s in cpu)
    assert len(cpu) >= 100, leaves
    assert (leaves["alpha"] + leaves["beta"]) / len(cpu) >= 0.85, leaves
    assert {s.thread_name for s in cpu} == {"worker-3"}


BUSY_AT_START = r"""
#include <time.h>
/* Preloaded: 300 ms on the CPU before main, so that a recorder samples the
 * `java` launcher, and sees its pid, long before it maps libjvm.so. */
__attribute__((constructor)) static void busy_here(void)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 300000000L);
}
"""


def preload_lib(tmp_path, name: str, source: str):
    """A shared library built from `source`, for LD_PRELOAD."""
    import subprocess

    (tmp_path / f"{name}.c").write_text(source)
    lib = tmp_path / f"{name}.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(lib), str(tmp_path / f"{name}.c")],
                   check=True)
    return lib


@pytest.mark.bpf
def test_jvm_started_while_recording_is_found(spawn, tmp_path, have_java):
    """A JVM that starts while the recorder runs, first seen as a `java` launcher
    that has not mapped libjvm.so yet (nor installed the SIGQUIT handler that
    attaching needs: a SIGQUIT then would kill it), is attached once it can be:
    its JIT frames and its threads are named."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    import threading

    from profiler.recorder import Recorder
    from profiler.sampler.options import SamplerOptions

    classes = compile_burner(tmp_path)
    lib = preload_lib(tmp_path, "busy_at_start", BUSY_AT_START)
    with Recorder(SamplerOptions(comm="^java$", hz=499, off_cpu=False)) as rec:
        p = spawn(java_cmd(classes, "-XX:+PreserveFramePointer"), cwd=classes,
                  env=dict(os.environ, LD_PRELOAD=str(lib)))
        ready: list[str] = []
        threading.Thread(target=lambda: ready.append(wait_for_line(p, "ready", 30)),
                         daemon=True).start()
        samples = []
        deadline = time.monotonic() + 40
        end = deadline  # BUSY_SECONDS of Java once it said ready
        while time.monotonic() < min(end, deadline):
            rec.poll(100)
            samples += rec.take()
            if ready and end == deadline:
                end = time.monotonic() + BUSY_SECONDS
        samples += rec.take(final=True)
    assert ready and p.poll() is None, "the JVM never said ready, or died"
    mine = [s for s in samples if s.pid == p.pid and s.kind == "cpu"]
    assert any(f.name == "busy_here" for s in mine for f in s.stack), "never seen starting"
    main = [s for s in mine if s.thread_name == "main"]
    hot = [s for s in main if "Burner.burnCpu" in [f.name for f in s.stack]]
    print(f"JVM first seen before libjvm.so: {len(hot)} of {len(main)} samples of its "
          f"main thread in Burner.burnCpu")
    assert len(main) >= 50 and len(hot) / len(main) >= 0.5, len(main)


STOP_AT_START = r"""
#include <signal.h>
/* Preloaded: stops the process once its libraries (libpython) are mapped,
 * before main, so that the recorder first sees a Python without a GIL yet. */
__attribute__((constructor)) static void stop_here(void) { raise(SIGSTOP); }
"""


@pytest.mark.bpf
def test_gil_waits_of_a_python_first_seen_before_its_gil_existed(spawn, tmp_path):
    """A Python process first seen while it starts (libpython mapped, no
    interpreter yet) has no GIL to point the kernel at; once it has one, its
    GIL waits are told apart as for any other (>= 80%, as above)."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    import signal

    from profiler.recorder import Recorder
    from profiler.sampler.options import SamplerOptions

    from .conftest import python_bin
    from .targets import GIL_AND_LOCK

    lib = preload_lib(tmp_path, "stop_at_start", STOP_AT_START)
    script = tmp_path / "gil.py"
    script.write_text(GIL_AND_LOCK)
    p = spawn([python_bin("3.13"), script], env=dict(os.environ, LD_PRELOAD=str(lib)))
    deadline = time.monotonic() + 10
    while open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "T":
        assert time.monotonic() < deadline, "the process never stopped"
        time.sleep(0.01)
    with Recorder(SamplerOptions(pids=[p.pid], hz=499, off_cpu=True)) as rec:
        os.kill(p.pid, signal.SIGCONT)
        a, b, _ = [int(x) for x in wait_for_line(p, "ready").split()[1:]]
        samples = record_for(rec, 4.0)
    spin_off = [s for s in samples if s.kind == "offcpu" and s.tid in (a, b)
                and s.reason != "runqueue"]
    gil = sum(s.reason == "gil" for s in spin_off)
    print(f"first seen before its GIL existed: {gil} of {len(spin_off)} GIL waits flagged")
    assert spin_off and gil / len(spin_off) >= 0.8, Counter(s.reason for s in spin_off)
