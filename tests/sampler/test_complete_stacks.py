"""Complete stacks in `--unwind auto`, the default (issue 14 items 1 and 2).

1. A program built with frame pointers calling libc functions built without
   them (tests/workloads/fpleaf.c): the frame-pointer walk skips the direct
   caller of every such function, on and off the CPU. Leaf copies plus CFI
   must restore it in >= 99% of stacks.
2. A C++ program built -O2 -fomit-frame-pointer, recorded with -p for 2 s:
   >= 95% of its stacks reach main from the first sample, the process judged by
   its binary before sampling starts.
Each test prints its figure (run with -s to see it).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.workloads import compile_c

from .conftest import Workload, flamecam
from .test_record import Parsed

pytestmark = pytest.mark.bpf

BURN_CPP = Path(__file__).resolve().parents[1] / "symbolizer" / "burn.cpp"

# Our functions in fpleaf.c, each with the one that calls it.
CALLER_OF = {"nap": "sleeper", "locker": "handle_request", "handle_request": "worker",
             "sleeper": "start_thread", "worker": "start_thread",
             "main": "__libc_start_call_main"}
# Ours that call libc directly: nanosleep, pthread_mutex_lock/unlock and
# memset, memcpy, pause.
CALLS_LIBC = frozenset({"nap", "locker", "handle_request", "main"})


def user_frames(names_leaf_first: list[str]) -> list[str]:
    return [n for n in names_leaf_first if not n.endswith("_[k]")]


def direct_caller_present(names_leaf_first: list[str]) -> bool:
    """Whether the innermost of our functions on the stack is one that calls
    libc directly, itself called by its true caller: a frame-pointer walk that
    skipped it would show the caller's caller (e.g. `sleeper` right above
    `clock_nanosleep`, with no `nap`)."""
    user = user_frames(names_leaf_first)
    ours = [i for i, n in enumerate(user) if n in CALLER_OF]
    if not ours:
        return False
    i = ours[0]
    if i == 0:  # the leaf is our own code: nothing was hidden
        return user[1:2] == [CALLER_OF[user[0]]]
    return user[i] in CALLS_LIBC and user[i + 1:i + 2] == [CALLER_OF[user[i]]]


def test_direct_callers_of_libc_functions_are_present(tmp_path):
    w = Workload(compile_c("fpleaf.c", tmp_path), "3")
    try:
        out = tmp_path / "fpleaf.pb.gz"
        r = flamecam("record", "-p", str(w.pid), "-d", "3", "-F", "199", "-o", str(out))
    finally:
        w.stop()
    assert r.returncode == 0, r.stderr
    parsed = Parsed(out.read_bytes())
    shares = {}
    for kind, col in (("on-CPU", 0), ("off-CPU", 1)):
        samples = [s for s in parsed.samples if s[1][col] > 0]
        total = sum(s[1][col] for s in samples)
        good = sum(s[1][col] for s in samples if direct_caller_present(s[0]))
        assert total, f"no {kind} samples"
        shares[kind] = good / total
        bad = sorted((s for s in samples if not direct_caller_present(s[0])),
                     key=lambda s: -s[1][col])
        print(f"\n{kind}: direct caller present in {100 * shares[kind]:.2f}% "
              f"({len(samples)} stacks)")
        for s in bad[:3]:
            print("  missing:", ";".join(reversed(user_frames(s[0]))))
    # The blocking calls are there: lock waits and sleeps, with their callers.
    off = [";".join(reversed(user_frames(s[0]))) for s in parsed.samples if s[1][1] > 0]
    assert any("sleeper;nap;" in st for st in off), off[:5]
    assert any("handle_request;locker;" in st and "lll_lock_wait" in st for st in off), off[:5]
    assert shares["on-CPU"] >= 0.99 and shares["off-CPU"] >= 0.99, shares


def test_binary_without_frame_pointers_complete_from_the_first_sample(tmp_path):
    exe = tmp_path / "burn"
    subprocess.run(["g++", "-O2", "-fomit-frame-pointer", "-Wno-pmf-conversions", "-g",
                    "-o", str(exe), str(BURN_CPP)], check=True)
    proc = subprocess.Popen([str(exe), "30"], stdout=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()  # its addresses: it is running
        out = tmp_path / "burn.pb.gz"
        r = flamecam("-v", "record", "-p", str(proc.pid), "-d", "2", "-F", "199",
                     "--no-off-cpu", "-o", str(out))
    finally:
        proc.kill()
        proc.wait()
    assert r.returncode == 0, r.stderr
    parsed = Parsed(out.read_bytes())
    total = sum(s[1][0] for s in parsed.samples)
    complete = sum(s[1][0] for s in parsed.samples if "main" in s[0])
    in_a = sum(s[1][0] for s in parsed.samples if any(n.startswith("burn_a(") for n in s[0]))
    assert total
    print(f"\non-CPU samples reaching main over 2 s: {100 * complete / total:.1f}% "
          f"({len(parsed.samples)} stacks; burn_a in {100 * in_a / total:.1f}%)")
    assert "built without frame pointers; copying its stacks" in r.stderr, r.stderr[-2000:]
    assert complete >= 0.95 * total
