"""The unwinder on the samplers' own raw events (bpf/oncpu.c, bpf/offcpu.c):
user registers plus a copy of the stack top, taken in the kernel.

These bypass the recorder's choice between frame-pointer walks and copies:
they check what the symbolizer makes of every copy the kernel ships.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import time
from dataclasses import dataclass

import pytest

from symbolizer import Symbolizer
from symbolizer.unwind import Unwinder

from .conftest import NO_FP, wait_asleep
from .test_unwind import PYTHON312, contains_in_order, share

pytestmark = pytest.mark.bpf


@dataclass
class Raw:
    b: object
    on: object
    off: object

    def record(self, pid: int, seconds: float) -> tuple[list, list, dict]:
        """(cpu events, off-CPU events, off-CPU stack copies) of `pid`."""
        key = ctypes.c_uint32(pid)
        self.b[b"pid_filter"][key] = ctypes.c_uint8(1)
        try:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                self.b.ring_buffer_poll(100)
            self.b.ring_buffer_consume()
            self.off.drain_aggregates()
        finally:
            del self.b[b"pid_filter"][key]
        cpu = [e for e in self.on.take() if e.pid == pid]
        off = [e for e in self.off.take() if e.pid == pid]
        copies = {k: c for k, c in self.off.copies.items() if c.pid == pid}
        self.off.copies.clear()
        return cpu, off, copies


@pytest.fixture(scope="module")
def raw():
    if os.geteuid() != 0:
        pytest.skip("loading BPF programs needs root")
    try:
        from profiler.sampler import program
        from profiler.sampler.offcpu import OffCpuSampler
        from profiler.sampler.oncpu import OnCpuSampler
        from profiler.sampler.options import SamplerOptions
        from symbolizer.unwind import UnwindChooser
    except ImportError as e:
        pytest.skip(f"samplers not importable: {e}")
    # pids=[own pid]: compiles the pid filter in; our own pid is never sampled.
    opts = SamplerOptions(pids=[os.getpid()], hz=199, unwind="dwarf")
    try:
        b = program.load(opts)
    except Exception as e:  # noqa: BLE001 - no BPF here: nothing to test against
        pytest.skip(f"BPF programs did not load: {e}")
    UnwindChooser(b, "dwarf", opts.stack_copy_bytes)  # copy every process's stacks
    try:
        yield Raw(b, OnCpuSampler(b, opts.hz), OffCpuSampler(b))
    finally:
        b.cleanup()


def unwound(sym: Symbolizer, pid: int, regs, stack: bytes) -> tuple[list[str], bool] | None:
    """(root-first names, complete), or None when the copy ended before the root.

    The sampler copies 16, 8, 4 or 2 KiB (the largest read that succeeds), so
    a copy can stop short of the outermost frames; those samples test the
    sampler's copy size, not the unwinder, and are counted apart.
    """
    unw = Unwinder(sym.binaries)
    res = unw.unwind_result(pid, regs[0], regs[1], regs[2], stack)
    if res.reason == "end-of-copy":
        return None
    return [f.name for f in reversed(sym.user_frames(pid, res.addrs))], res.complete


def usable(results: list) -> list[tuple[list[str], bool]]:
    kept = [r for r in results if r is not None]
    assert len(kept) >= 0.5 * len(results) and len(kept) >= 10, (len(kept), len(results))
    return kept


def cpu_stacks(sym: Symbolizer, pid: int, events) -> list[tuple[list[str], bool]]:
    copied = [e for e in events if e.stack]
    assert len(copied) >= 0.9 * len(events) and len(copied) > 20, (len(copied), len(events))
    return usable([unwound(sym, pid, e.regs, e.stack) for e in copied])


def test_c_on_cpu_copies_unwind_to_root(raw, build, spawn):
    run = spawn([build("burn.c", NO_FP), "10"])
    cpu, _, _ = raw.record(run.pid, 1.5)
    res = cpu_stacks(Symbolizer(), run.pid, cpu)
    ok = share(res, lambda names, complete: complete and names[0] == "_start"
               and contains_in_order(names, ["main", "work", "burn_a"]))
    assert ok >= 0.95, res[:3]


def test_c_thread_copies_unwind_to_clone(raw, build, spawn):
    run = spawn([build("burn.c", NO_FP), "10", "thread"])
    cpu, _, _ = raw.record(run.pid, 1.5)
    cpu = [e for e in cpu if e.tid != run.pid]
    res = cpu_stacks(Symbolizer(), run.pid, cpu)
    ok = share(res, lambda names, complete: complete and names[0] in ("clone3", "clone")
               and contains_in_order(names, ["thread_main", "work", "burn_a"]))
    assert ok >= 0.95, res[:3]


def test_cpp_on_cpu_copies_demangled_and_complete(raw, build, spawn):
    run = spawn([build("burn.cpp", NO_FP), "10"])
    cpu, _, _ = raw.record(run.pid, 1.5)
    res = cpu_stacks(Symbolizer(), run.pid, cpu)
    ok = share(res, lambda names, complete: complete and names[0] == "_start"
               and names[-1] == "flame::Worker::spin(long)")
    assert ok >= 0.9, res[:3]


def test_off_cpu_copies_reach_the_blocking_caller(raw, build, spawn):
    run = spawn([build("burn.c", NO_FP), "10", "sleep"], busy=False)
    wait_asleep(run.pid)
    _, off, copies = raw.record(run.pid, 1.5)
    with_copy = [e for e in off if e.ucopy in copies]
    assert len(with_copy) >= 10, (len(off), len(copies))
    sym = Symbolizer()
    res = usable([unwound(sym, run.pid, copies[e.ucopy].regs, copies[e.ucopy].stack)
                  for e in with_copy])
    ok = share(res, lambda names, complete: complete
               and contains_in_order(names, ["main", "work", "block_a"]))
    assert ok >= 0.95, res[:3]


def test_python312_copies_unwind_to_start(raw):
    if not shutil.which(PYTHON312):
        pytest.skip("pyenv Python 3.12.1 is not installed")
    code = "print('ready', flush=True)\nwhile True:\n    sum(i * i for i in range(1000))\n"
    proc = subprocess.Popen([PYTHON312, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()
        cpu, _, _ = raw.record(proc.pid, 1.5)
        res = cpu_stacks(Symbolizer(), proc.pid, cpu)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    ok = share(res, lambda names, complete: complete and names[0] == "_start"
               and "_PyEval_EvalFrameDefault" in names)
    assert ok >= 0.95, res[:3]
