"""Complete user stacks for code without frame pointers (stack copies + CFI).

The workloads are built with `-O2 -fomit-frame-pointer`: a frame-pointer walk
gives one or two frames there, so every assertion below depends on the
samplers' stack copies and the symbolizer's CFI unwinder.
"""

from __future__ import annotations

import sys

import pytest

from tests.workloads import compile_c

from .conftest import Workload, flamecam
from .test_record import Parsed

pytestmark = pytest.mark.bpf

NOFP = ("-O2", "-fomit-frame-pointer")
PYTHON312 = "/root/.pyenv/versions/3.12.1/bin/python3.12"


def record(pid: int, tmp_path, *args: str) -> Parsed:
    out = tmp_path / "p.pb.gz"
    r = flamecam("record", "-p", str(pid), "-d", "4", "-F", "199", *args, "-o", str(out))
    assert r.returncode == 0, r.stderr
    return Parsed(out.read_bytes())


def root_first(names_leaf_first: list[str]) -> list[str]:
    return list(reversed(names_leaf_first))


def test_c_without_frame_pointers_unwinds_to_the_root(tmp_path):
    w = Workload(compile_c("nofp.c", tmp_path, flags=NOFP), "cpu")
    try:
        parsed = record(w.pid, tmp_path, "--unwind", "dwarf", "--no-off-cpu")
    finally:
        w.stop()
    cpu = [root_first(s[0]) for s in parsed.samples if s[1][0] > 0]
    assert len(cpu) >= 40  # few when the machine is busy; the shares below still hold
    user = [[n for n in st if not n.endswith("_[k]")] for st in cpu]
    complete = sum(1 for st in user if st and st[0] == "_start")
    assert complete >= 0.95 * len(cpu), f"{complete} of {len(cpu)} reach _start"
    in_a = [st for st in user if "burn_a" in st]
    assert in_a
    ordered = sum(1 for st in in_a if "main;work;burn_a" in ";".join(st))
    assert ordered >= 0.95 * len(in_a)


def test_auto_mode_switches_a_process_to_stack_copies(tmp_path):
    w = Workload(compile_c("nofp.c", tmp_path, flags=NOFP), "cpu")
    try:
        out = tmp_path / "auto.folded"
        r = flamecam("-v", "record", "-p", str(w.pid), "-d", "4", "--no-off-cpu", "-o", str(out))
    finally:
        w.stop()
    assert r.returncode == 0, r.stderr
    assert "copying its stacks for CFI unwinding" in r.stderr
    assert "main;work;burn_a" in out.read_text()


def test_cpp_method_is_demangled(tmp_path):
    w = Workload(compile_c("nofp.cpp", tmp_path, flags=NOFP, compiler="g++", name="cppwork"))
    try:
        parsed = record(w.pid, tmp_path, "--unwind", "dwarf", "--no-off-cpu")
    finally:
        w.stop()
    names = {n for s in parsed.samples for n in s[0]}
    assert any(n.startswith("flame::Worker::burn(") for n in names), sorted(names)[:20]
    cpu = [root_first(s[0]) for s in parsed.samples]
    assert sum(1 for st in cpu if st[0] == "_start") >= 0.95 * len(cpu)


def test_off_cpu_stack_reaches_the_caller_that_blocked(tmp_path):
    w = Workload(compile_c("nofp.c", tmp_path, flags=NOFP), "sleep")
    try:
        parsed = record(w.pid, tmp_path, "--unwind", "dwarf")
    finally:
        w.stop()
    off = [root_first(s[0]) for s in parsed.samples if s[1][1] > 0]
    assert off
    chain = [st for st in off if "main;outer;nap" in ";".join(st)]
    total = sum(s[1][1] for s in parsed.samples)
    chained = sum(s[1][1] for s in parsed.samples if "main;outer;nap" in ";".join(root_first(s[0])))
    assert chain and chained >= 0.95 * total, off[:3]


@pytest.mark.skipif(not __import__("os").path.exists(PYTHON312), reason="needs pyenv 3.12.1")
def test_python_interpreter_frames_unwind_to_start(tmp_path):
    import subprocess

    code = "print('ready', flush=True)\nwhile True:\n    sum(i * i for i in range(1000))\n"
    p = subprocess.Popen([PYTHON312, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        parsed = record(p.pid, tmp_path, "--unwind", "dwarf", "--no-off-cpu")
    finally:
        p.kill()
        p.wait()
    cpu = [root_first(s[0]) for s in parsed.samples]
    assert len(cpu) >= 40  # few when the machine is busy; the shares below still hold
    complete = sum(1 for st in cpu if st[0] == "_start")
    assert complete >= 0.95 * len(cpu), f"{complete} of {len(cpu)}"
    # The interpreter's frames carry the Python functions (runtimes/python/python.h).
    assert any(any("genexpr" in n for n in st) for st in cpu), cpu[:3]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
