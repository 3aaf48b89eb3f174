"""Kernel symbols from /proc/kallsyms and JIT symbols from perf maps."""

from __future__ import annotations

import os

import pytest

from profiler.procfs import read_maps
from symbolizer import Symbolizer

from .conftest import NO_FP


def _kallsyms_text():
    with open("/proc/kallsyms") as f:
        for line in f:
            parts = line.split()
            if parts[1] in "tT" and int(parts[0], 16):
                yield int(parts[0], 16), parts[2], parts[3] if len(parts) > 3 else ""


def test_kernel_frames_named_leaf_first():
    syms = list(_kallsyms_text())
    if not syms:
        pytest.skip("kallsyms addresses are hidden (not root or kptr_restrict)")
    by_addr = sorted(syms)
    # Pick functions followed by a different address, so +4 stays inside them.
    picks = [(a, n) for (a, n, mod), (b, _, _) in zip(by_addr, by_addr[1:], strict=False)
             if b - a > 8 and not mod][:3]
    sym = Symbolizer()
    frames = sym.kernel_frames([picks[0][0] + 4, picks[1][0] + 5, picks[2][0] + 6])
    assert [f.name for f in frames] == [n for _, n in picks]
    assert all(f.kind == "kernel" and f.module == "[kernel]" for f in frames)
    assert frames[0].folded_name() == picks[0][1] + "_[k]"


def test_kernel_unknown_address_is_kept():
    frames = Symbolizer().kernel_frames([0x10])
    assert frames[0].name == "[unknown] 0x10"
    assert frames[0].kind == "kernel"


def test_perf_map_names_regions_and_is_reread_when_it_grows(build, spawn):
    exe = build("burn.c", NO_FP)
    run = spawn([exe, "5"])
    anon = next(m for m in read_maps(run.pid) if m.path in ("", "[heap]"))
    path = f"/tmp/perf-{run.pid}.map"
    try:
        with open(path, "w") as f:
            f.write(f"{anon.start:x} 40 py::burn:/app/x.py\n")
        sym = Symbolizer()
        fr = sym.user_frames(run.pid, [anon.start + 0x10])[0]
        assert (fr.name, fr.kind, fr.offset) == ("py::burn:/app/x.py", "jit", 0x10)
        # JDK style, with 0x; later lines win over earlier ones covering the address.
        with open(path, "a") as f:
            f.write(f"0x{anon.start + 0x100:x} 0x20 _ZN3foo3barEv\n")
            f.write(f"0x{anon.start:x} 0x20 void Hot.leaf(double)\n")
        frames = sym.user_frames(run.pid, [anon.start + 0x108, anon.start + 0x11])
        # Perf-map names are never demangled.
        assert frames[0].name == "_ZN3foo3barEv"
        assert frames[1].name == "void Hot.leaf(double)"
    finally:
        os.unlink(path)
