"""Symbolizer benchmarks (issue 3); prints numbers, asserts nothing.

1. Unwind + symbolize throughput on recorded samples: real register and stack
   copies of a CPython 3.12 process and of a C program without frame pointers,
   captured with ptrace (the shape the BPF sampler ships), replayed through
   `Unwinder.unwind` + `Symbolizer.user_frames` with warm tables. Goal >= 10,000/s.
2. Cold load of libjvm.so's symbol table. Goal <= 150 ms.
3. Batched symbol lookups. Goal >= 2,000,000 addresses/s.
Times are CPU time of this process (`time.process_time`), i.e. "on one core",
so that other work on a shared machine does not distort them.
Run as root: `.venv/bin/python bench/symbolize.py`.
"""

from __future__ import annotations

import glob
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from symbolizer import Symbolizer  # noqa: E402
from symbolizer.cache import BlobCache  # noqa: E402
from symbolizer.elf import ElfFile  # noqa: E402
from symbolizer.objects import ObjectFile  # noqa: E402
from symbolizer.symtab import load_symbols  # noqa: E402
from symbolizer.unwind import Unwinder  # noqa: E402
from tests.symbolizer.ptrace_capture import capture_many  # noqa: E402

PYTHON312 = "/root/.pyenv/versions/3.12.1/bin/python3.12"
# Varied, fairly deep stacks: recursion, the json C accelerator, sorting with a key.
PY_CODE = ("import json, random\n"
           "def leaf(i):\n    return json.dumps({'a': i, 'b': [i] * 3, 'c': str(i)})\n"
           "def rec(d, i):\n    return leaf(i) if d == 0 else rec(d - 1, i)\n"
           "def mid(n):\n    for i in range(n):\n        rec(i % 12, i)\n"
           "        sorted(range(50), key=lambda x: -x)\n"
           "print('go', flush=True)\nwhile True:\n    mid(1000)\n")


def bench_unwind(n: int = 300, rounds: int = 20) -> None:
    # Replay needs the processes' maps: record while they run, replay before killing.
    samples = []
    procs = []
    names: dict[int, str] = {}
    tmp = tempfile.mkdtemp(prefix="flamecam-bench-")
    try:
        exe = os.path.join(tmp, "burn")
        subprocess.run(["gcc", "-O2", "-fomit-frame-pointer", "-o", exe,
                        str(ROOT / "tests/symbolizer/burn.c")], check=True)
        targets = [[exe, "120"]]
        if os.path.exists(PYTHON312):
            targets.append([PYTHON312, "-c", PY_CODE])
        for argv in targets:
            p = subprocess.Popen(argv, stdout=subprocess.PIPE)
            procs.append(p)
            names[p.pid] = os.path.basename(argv[0])
            p.stdout.readline()
            time.sleep(0.2)
            samples += [(p.pid, s) for s in capture_many(p.pid, n, interval_s=0.002)]
        sym = Symbolizer()
        unw = Unwinder(sym.binaries)
        t0 = time.process_time()
        for pid in {pid for pid, _ in samples}:
            sym.process_seen(pid)
        depths = []
        complete = 0
        for pid, s in samples:
            r = unw.unwind_result(pid, s.ip, s.sp, s.bp, s.stack)
            sym.user_frames(pid, r.addrs)
            depths.append(len(r.addrs))
            complete += r.complete
        cold = time.process_time() - t0
        t0 = time.process_time()
        for _ in range(rounds):
            for pid, s in samples:
                sym.user_frames(pid, unw.unwind(pid, s.ip, s.sp, s.bp, s.stack))
        dt = time.process_time() - t0
        total = rounds * len(samples)
        print(f"unwind+symbolize: {total / dt:,.0f} samples/s warm "
              f"({len(samples)} recorded samples, mean depth {sum(depths) / len(depths):.1f}, "
              f"{complete / len(samples):.0%} reached the thread root; first pass incl. "
              f"building symbol and CFI tables {cold:.2f} s)")
        for pid in sorted({pid for pid, _ in samples}):
            mine = [s for p, s in samples if p == pid]
            t0 = time.process_time()
            for _ in range(rounds):
                for s in mine:
                    sym.user_frames(pid, unw.unwind(pid, s.ip, s.sp, s.bp, s.stack))
            dt = time.process_time() - t0
            d = [len(unw.unwind(pid, s.ip, s.sp, s.bp, s.stack)) for s in mine]
            print(f"  {names[pid]}: {rounds * len(mine) / dt:,.0f} samples/s, "
                  f"mean depth {sum(d) / len(d):.1f}")
    finally:
        for p in procs:
            p.kill()
            p.wait()
            p.stdout.close()
        shutil.rmtree(tmp, ignore_errors=True)


def bench_libjvm(runs: int = 7) -> None:
    paths = sorted(glob.glob("/usr/lib/jvm/*/lib/server/libjvm.so"))
    if not paths:
        print("libjvm.so: not found under /usr/lib/jvm, skipped")
        return
    path = paths[0]
    times = []
    table = None
    for _ in range(runs):
        t0 = time.process_time()
        with open(path, "rb") as f:
            table = load_symbols(ElfFile(f, path))
        times.append((time.process_time() - t0) * 1000)
    times.sort()
    print(f"cold load of {path} symbols ({len(table):,} functions, {table.source}): "
          f"best {times[0]:.0f} ms, median {times[len(times) // 2]:.0f} ms")
    cache = tempfile.mkdtemp(prefix="flamecam-bench-")
    try:
        blobs = BlobCache(cache, "symtab")
        with open(path, "rb") as f:
            elf = ElfFile(f, path)
            _ = ObjectFile(elf, path, elf.build_id, blobs).symbols  # writes the cache
        warm = []
        for _ in range(runs):
            t0 = time.process_time()
            with open(path, "rb") as f:
                elf = ElfFile(f, path)
                _ = ObjectFile(elf, path, elf.build_id, blobs).symbols
            warm.append((time.process_time() - t0) * 1000)
        print(f"  the same from the on-disk cache (cache_dir): best {min(warm):.0f} ms")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    rnd = random.Random(1)
    addrs = [rnd.randrange(table.bounds[1], table.bounds[-1]) for _ in range(1_000_000)]
    best = 1e9
    for _ in range(3):
        t0 = time.process_time()
        table.lookup_many(addrs)
        best = min(best, time.process_time() - t0)
    print(f"batched lookups (libjvm, random addresses): {len(addrs) / best:,.0f} addresses/s")


def bench_bpf_samples(seconds: float = 3.0, rounds: int = 5) -> None:
    """The same on samples recorded by the real sampler (bpf/oncpu.c stack copies)."""
    try:
        from profiler.sampler import program
        from profiler.sampler.oncpu import OnCpuSampler
        from profiler.sampler.options import SamplerOptions
        from symbolizer.unwind import UnwindChooser
    except ImportError as e:
        print(f"BPF-recorded samples: skipped ({e})")
        return
    if not os.path.exists(PYTHON312):
        print("BPF-recorded samples: skipped (no pyenv Python 3.12)")
        return
    p = subprocess.Popen([PYTHON312, "-c", PY_CODE], stdout=subprocess.PIPE)
    try:
        p.stdout.readline()
        opts = SamplerOptions(pids=[p.pid], hz=199, unwind="dwarf", off_cpu=False)
        try:
            b = program.load(opts)
        except Exception as e:  # noqa: BLE001 - no BPF on this host
            print(f"BPF-recorded samples: skipped ({e})")
            return
        try:
            UnwindChooser(b, "dwarf", opts.stack_copy_bytes)
            on = OnCpuSampler(b, opts.hz)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                b.ring_buffer_poll(100)
            b.ring_buffer_consume()
            events = [e for e in on.take() if e.stack]
        finally:
            b.cleanup()
        sym = Symbolizer()
        unw = Unwinder(sym.binaries)
        sym.process_seen(p.pid)
        t0 = time.process_time()
        complete = 0
        for e in events:
            r = unw.unwind_result(e.pid, *e.regs, e.stack)
            sym.user_frames(e.pid, r.addrs)
            complete += r.complete
        first = time.process_time() - t0
        t0 = time.process_time()
        for _ in range(rounds):
            for e in events:
                sym.user_frames(e.pid, unw.unwind(e.pid, *e.regs, e.stack))
        dt = time.process_time() - t0
        size = sum(len(e.stack) for e in events) / max(1, len(events))
        print(f"BPF-recorded CPython 3.12 samples: {rounds * len(events) / dt:,.0f} samples/s "
              f"warm, {len(events) / first:,.0f}/s first pass ({len(events)} samples, "
              f"{complete / max(1, len(events)):.0%} reached the root, mean copy "
              f"{size / 1024:.1f} KiB)")
    finally:
        p.kill()
        p.wait()
        p.stdout.close()


def bench_leaf_copies(seconds: float = 3.0, rounds: int = 5) -> None:
    """Cost of leaf copies (issue 14 item 1): samples of a frame-pointer program
    calling libc (tests/workloads/fpleaf.c), recorded by the real sampler with
    `--unwind fp` (frame-pointer walk only) and `auto` (plus a leaf copy walked
    with CFI and joined), replayed through `Unwinder.cpu_stack` +
    `Symbolizer.user_frames` with warm tables."""
    try:
        from profiler.sampler import program
        from profiler.sampler.oncpu import OnCpuSampler
        from profiler.sampler.options import SamplerOptions
        from symbolizer.unwind import UnwindChooser
        from tests.workloads import compile_c
    except ImportError as e:
        print(f"leaf copies: skipped ({e})")
        return
    tmp = Path(tempfile.mkdtemp(prefix="flamecam-bench-"))
    p = subprocess.Popen([str(compile_c("fpleaf.c", tmp)), "2"], stdout=subprocess.PIPE)
    try:
        p.stdout.readline()
        for mode in ("fp", "auto"):
            opts = SamplerOptions(pids=[p.pid], hz=199, unwind=mode, off_cpu=False)
            b = program.load(opts)
            try:
                chooser = UnwindChooser(b, mode, opts.stack_copy_bytes)
                on = OnCpuSampler(b, opts.hz)
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    b.ring_buffer_poll(100)
                b.ring_buffer_consume()
                events = on.take()
                per = on.bytes_received / max(1, len(events))
            finally:
                b.cleanup()
            sym = Symbolizer()
            unw = Unwinder(sym.binaries, chooser)
            sym.process_seen(p.pid)
            named = [[f.name for f in sym.user_frames(e.pid, unw.cpu_stack(e, "fpleaf"))]
                     for e in events]
            in_libc = [n for n in named if n and n[0].startswith(("__mem", "mem"))]
            direct = sum(1 for n in in_libc if n[1:2] == ["handle_request"]
                         or n[1:2] == ["locker"])
            t0 = time.process_time()
            for _ in range(rounds):
                for e in events:
                    sym.user_frames(e.pid, unw.cpu_stack(e, "fpleaf"))
            dt = time.process_time() - t0
            print(f"frame-pointer program, --unwind {mode}: {rounds * len(events) / dt:,.0f} "
                  f"samples/s warm, {per:.0f} bytes per sample from the kernel; samples in "
                  f"memcpy/memset with their direct caller: {direct} of {len(in_libc)}")
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("bench/symbolize.py: run as root (ptrace and /proc/PID/mem)")
    bench_libjvm()
    bench_unwind()
    bench_bpf_samples()
    bench_leaf_copies()
