"""The CFI unwinder on real stack copies of real processes (captured with ptrace).

The workloads are built without frame pointers, so only CFI can walk them.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from symbolizer import Symbolizer
from symbolizer.unwind import Unwinder, walk

from .conftest import NO_FP, WITH_FP, wait_asleep
from .ptrace_capture import capture, capture_many, threads

PYTHON312 = "/root/.pyenv/versions/3.12.1/bin/python3.12"
SAMPLES = 60


def stacks(sym: Symbolizer, pid: int, samples) -> list[tuple[list[str], bool]]:
    """(root-first names, reached root) per sample."""
    unw = Unwinder(sym.binaries)
    out = []
    for s in samples:
        res = unw.unwind_result(pid, s.ip, s.sp, s.bp, s.stack)
        names = [f.name for f in reversed(sym.user_frames(pid, res.addrs))]
        out.append((names, res.complete))
    return out


def contains_in_order(names: list[str], want: list[str]) -> bool:
    n = len(want)
    return any(names[i:i + n] == want for i in range(len(names) - n + 1))


def share(results, pred) -> float:
    return sum(1 for r in results if pred(*r)) / len(results)


def test_c_without_frame_pointers_unwinds_to_root(build, spawn):
    exe = build("burn.c", NO_FP)
    run = spawn([exe, "10"])
    sym = Symbolizer()
    res = stacks(sym, run.pid, capture_many(run.pid, SAMPLES))
    ok = share(res, lambda names, complete: complete and names[0] == "_start"
               and contains_in_order(names, ["main", "work", "burn_a"]))
    assert ok >= 0.95, res[:5]


def test_cpp_without_frame_pointers_unwinds_to_root(build, spawn):
    exe = build("burn.cpp", NO_FP)
    run = spawn([exe, "10"])
    sym = Symbolizer()
    res = stacks(sym, run.pid, capture_many(run.pid, SAMPLES))
    want = ["main", "work(flame::Worker&, long)", "burn_a(flame::Worker&, long)",
            "flame::Worker::spin(long)"]
    ok = share(res, lambda names, complete: complete and names[0] == "_start"
               and contains_in_order(names, want))
    assert ok >= 0.95, res[:5]


def test_thread_unwinds_to_clone(build, spawn):
    exe = build("burn.c", NO_FP)
    run = spawn([exe, "10", "thread"])
    deadline = time.monotonic() + 5
    while len(threads(run.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    tid = threads(run.pid)[-1]
    sym = Symbolizer()
    res = stacks(sym, run.pid, capture_many(run.pid, 30, tid=tid))
    ok = share(res, lambda names, complete: complete and names[0] in ("clone3", "clone")
               and contains_in_order(names, ["start_thread", "thread_main", "work", "burn_a"]))
    # As for the other ptrace captures here: a few may stop where the walk cannot pass.
    assert ok >= 0.9, res[:5]


def test_off_cpu_stack_reaches_the_blocking_caller(build, spawn):
    exe = build("burn.c", NO_FP)
    run = spawn([exe, "10", "sleep"], busy=False)
    wait_asleep(run.pid)  # in its loop, past printf
    sym = Symbolizer()
    res = stacks(sym, run.pid, capture_many(run.pid, 20, interval_s=0.007))
    ok = share(res, lambda names, complete: complete
               and contains_in_order(names, ["main", "work", "block_a"]))
    assert ok >= 0.9, res[:5]


def test_signal_frame_is_unwound_through(build, spawn):
    exe = build("burn.c", NO_FP)
    run = spawn([exe, "10", "signal"])  # burning in the handler by now
    sym = Symbolizer()
    res = stacks(sym, run.pid, capture_many(run.pid, 20))
    # Below the handler: the signal trampoline, then the code raise() interrupted.
    ok = share(res, lambda names, complete: complete and names[0] == "_start"
               and contains_in_order(names, ["__restore_rt", "on_signal", "work", "burn_a"])
               and names.index("main") < names.index("__restore_rt"))
    assert ok >= 0.9, res[:5]


def test_stripped_binary_unwinds_with_placed_frames(build, spawn):
    exe = build("burn.c", NO_FP, name="burn-stripped-nofp", strip=True)
    run = spawn([exe, "10"])
    sym = Symbolizer()
    res = stacks(sym, run.pid, capture_many(run.pid, 20))
    # _start, main, work and burn_a have no names left, but their frames are placed.
    ok = share(res, lambda names, complete: complete and "__libc_start_call_main" in names
               and sum(n.startswith("burn-stripped-nofp+0x") for n in names) >= 4)
    assert ok >= 0.9, res[:5]


def test_debug_frame_only_binary(build, spawn, tmp_path):
    """No .eh_frame at all: the rules come from .debug_frame."""
    exe = build("burn.c", NO_FP + ["-fno-asynchronous-unwind-tables", "-fno-unwind-tables"],
                name="burn-debugframe")
    sections = subprocess.run(["readelf", "-SW", str(exe)], capture_output=True,
                              text=True).stdout
    assert ".debug_frame" in sections
    run = spawn([exe, "10"])
    sym = Symbolizer(cache_dir=str(tmp_path))
    samples = capture_many(run.pid, 20)
    res = stacks(sym, run.pid, samples)
    ok = share(res, lambda names, complete: complete
               and contains_in_order(names, ["main", "work", "burn_a"]))
    assert ok >= 0.9, res[:5]
    # Whole-compiled .debug_frame tables are kept on disk, per build-id.
    assert list(tmp_path.glob("cfi-v*/*debug_frame.marshal"))
    sym2 = Symbolizer(cache_dir=str(tmp_path))
    assert stacks(sym2, run.pid, samples) == res


def test_separate_debug_file_via_debuglink(build, spawn, tmp_path):
    if shutil.which("objcopy") is None:
        pytest.skip("objcopy is not installed")
    exe = tmp_path / "linked"
    shutil.copy(build("burn.c", NO_FP), exe)
    subprocess.run(["objcopy", "--only-keep-debug", str(exe), str(exe) + ".debug"], check=True)
    subprocess.run(["strip", "--strip-all", str(exe)], check=True)
    subprocess.run(["objcopy", "--add-gnu-debuglink=linked.debug", "linked"], check=True,
                   cwd=tmp_path)
    run = spawn([exe, "10"])
    sym = Symbolizer()
    frames = sym.user_frames(run.pid, [run.addrs["burn_a"] + 4, run.addrs["work"] + 5])
    assert [f.name for f in frames] == ["burn_a", "work"]
    # file:line come from the debug file too.
    frames = Symbolizer(lines=True).user_frames(run.pid, [run.addrs["work"] + 5])
    assert frames[-1].name == "work" and frames[-1].file.endswith("burn.c")


def test_python312_without_frame_pointers_unwinds_to_start():
    if not shutil.which(PYTHON312):
        pytest.skip("pyenv Python 3.12.1 is not installed")
    code = ("import time\nend = time.time() + 20\nx = 0\nprint('go', flush=True)\n"
            "while time.time() < end:\n    x += 1\n")
    proc = subprocess.Popen([PYTHON312, "-c", code], stdout=subprocess.PIPE)
    try:
        proc.stdout.readline()  # in the loop, not still starting up (0.2 s was a guess)
        sym = Symbolizer()
        samples = capture_many(proc.pid, SAMPLES)
        res = stacks(sym, proc.pid, samples)
        ok = share(res, lambda names, complete: complete and names[0] == "_start"
                   and "_PyEval_EvalFrameDefault" in names)
        assert ok >= 0.95, res[:3]
        # .eh_frame is read per function through .eh_frame_hdr, not compiled whole.
        assert sym.stats["cfi_indexed"] >= 2 and sym.stats["cfi_compiled"] == 0
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_python312_perf_trampolines_interleave_python_frames():
    if not shutil.which(PYTHON312):
        pytest.skip("pyenv Python 3.12.1 is not installed")
    # "go" from inside hot_loop: every capture after it finds outer and hot_loop.
    code = ("import time\ndef hot_loop():\n    end = time.time() + 20\n    x = 0\n"
            "    print('go', flush=True)\n"
            "    while time.time() < end:\n        x += 1\n"
            "def outer():\n    hot_loop()\nouter()\n")
    proc = subprocess.Popen([PYTHON312, "-X", "perf", "-c", code], stdout=subprocess.PIPE)
    try:
        proc.stdout.readline()
        sym = Symbolizer()
        res = stacks(sym, proc.pid, capture_many(proc.pid, 30))
        ok = share(res, lambda names, complete: complete and names[0] == "_start"
                   and contains_in_order([n for n in names if n.startswith("py::")],
                                         ["py::outer:<string>", "py::hot_loop:<string>"]))
        assert ok >= 0.9, res[:3]
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        Path(f"/tmp/perf-{proc.pid}.map").unlink(missing_ok=True)


def test_garbage_never_crashes(build, spawn):
    exe = build("burn.c", NO_FP)
    run = spawn([exe, "10"])
    s = capture(run.pid)
    sym = Symbolizer()
    unw = Unwinder(sym.binaries)
    import random
    rnd = random.Random(7)
    for _ in range(200):
        junk = bytes(rnd.getrandbits(8) for _ in range(512))
        ip = rnd.choice([s.ip, rnd.getrandbits(64), 0, run.addrs["work"] + 3])
        res = unw.unwind_result(run.pid, ip, s.sp, rnd.getrandbits(64), junk)
        assert res.addrs[0] == ip
        assert len(sym.user_frames(run.pid, res.addrs)) == len(res.addrs)
    assert unw.unwind(run.pid, s.ip, s.sp, s.bp, b"") == [s.ip]


def test_walk_plt_rule_and_frame_pointer_fallback():
    """The PLT rule's two cases and the frame-pointer fallback, on a synthetic stack."""
    from symbolizer.unwind.cfi import NO_RULE, PLT, ROOT_RULE

    sp = 0x7000
    stack = bytearray(64)
    # In a PLT stub before its push (ip & 15 < 11): return address at sp.
    stack[0:8] = (0x5000).to_bytes(8, "little")
    rules = {0x1004: (PLT, 11, -8, None), 0x4FFF: ROOT_RULE}
    res = walk(0x1004, sp, 0, bytes(stack), lambda pc: rules.get(pc, NO_RULE))
    assert res.addrs == [0x1004, 0x5000] and res.complete
    # After the push (ip & 15 >= 11): one more slot.
    stack[8:16] = (0x5000).to_bytes(8, "little")
    rules[0x100B] = (PLT, 11, -8, None)
    res = walk(0x100B, sp, 0, bytes(stack), lambda pc: rules.get(pc, NO_RULE))
    assert res.addrs == [0x100B, 0x5000]
    # No rule: frame pointers (saved rbp at bp, return address above it).
    stack = bytearray(64)
    stack[16:24] = (0).to_bytes(8, "little")
    stack[24:32] = (0x5000).to_bytes(8, "little")
    res = walk(0x2000, sp, sp + 16, bytes(stack), lambda pc: rules.get(pc, NO_RULE))
    assert res.addrs == [0x2000, 0x5000] and res.complete


def test_lines_and_inlined_frames(build, spawn):
    src = Path(__file__).parent / "inline.c"
    mix_line = next(i for i, text in enumerate(src.read_text().splitlines(), 1)
                    if "MIX_LINE" in text)
    exe = build("inline.c", NO_FP)
    run = spawn([exe, "10"])
    sym = Symbolizer(lines=True)
    unw = Unwinder(sym.binaries)
    names_seen = []
    for s in capture_many(run.pid, 30):
        frames = sym.user_frames(run.pid, unw.unwind(run.pid, s.ip, s.sp, s.bp, s.stack))
        names_seen.append([f.name for f in reversed(frames)])
        for f in frames:
            if f.name == "burn_a":
                assert f.file.endswith("inline.c") and f.line > 0
            if f.name == "mix":
                assert f.file.endswith("inline.c") and f.line == mix_line
    # Most time is spent in the inlined mix(): it shows as a frame under burn_a.
    with_mix = [n for n in names_seen if n[-2:] == ["burn_a", "mix"]]
    assert len(with_mix) >= len(names_seen) // 3, names_seen[:5]
    # Without lines=True: no extra frames, no file:line.
    plain = Symbolizer().user_frames(run.pid, [run.addrs["burn_a"] + 4])
    assert len(plain) == 1 and plain[0].file == "" and plain[0].line == 0


def test_vdso_frames_are_named_and_unwound(build, spawn):
    exe = build("burn.c", NO_FP)
    run = spawn([exe, "10", "clock"])
    sym = Symbolizer()
    unw = Unwinder(sym.binaries)
    frames_seen = []
    for s in capture_many(run.pid, 30):
        res = unw.unwind_result(run.pid, s.ip, s.sp, s.bp, s.stack)
        frames = sym.user_frames(run.pid, res.addrs)
        frames_seen.append((frames, res.complete))
    in_vdso = [(f, c) for f, c in frames_seen if f[0].module == "[vdso]"]
    assert len(in_vdso) >= len(frames_seen) // 2, [f[0] for f, _ in frames_seen[:5]]
    # main also calls clock_gettime itself, between calls of work: its deadline
    # check (burn.c's now(), inlined into main), once per 2,000 of burn_clock's.
    # A sample there is main -> clock_gettime, truthfully; any other stack must
    # reach main through work and burn_clock.
    own_check = 0
    for frames, complete in in_vdso:
        assert "clock_gettime" in frames[0].name or frames[0].name.startswith("__vdso")
        names = [f.name for f in reversed(frames)]
        assert complete and "main" in names, names
        after_main = names[names.index("main") + 1:]
        if after_main and after_main[0].startswith("clock_gettime"):
            own_check += 1
            continue
        assert contains_in_order(names, ["main", "work", "burn_clock"]), names
    assert own_check <= len(in_vdso) // 4, (own_check, len(in_vdso))


@pytest.mark.parametrize("mangling", ["legacy", "v0"])
def test_rust_demangled_and_unwound(build, spawn, mangling):
    if shutil.which("rustc") is None:
        pytest.skip("rustc is not installed")
    flags = ["-O"] if mangling == "legacy" else ["-O", "-C", "symbol-mangling-version=v0"]
    exe = build("burn.rs", flags, name=f"burn-rust-{mangling}")
    run = spawn([exe, "10"])
    sym = Symbolizer()
    # v0 names inherent impls `<Type>::method`; legacy names drop the hash.
    spin = ("burn::flame::Worker::spin", "<burn::flame::Worker>::spin")
    assert sym.user_frames(run.pid, [run.addrs["spin"] + 4])[0].name in spin
    res = stacks(sym, run.pid, capture_many(run.pid, 20))
    # Rust's main runs under std's lang_start, itself under libc's main-caller.
    ok = share(res, lambda names, complete: complete and names[0] == "_start"
               and names[-1] in spin
               and "__libc_start_call_main" in names)
    assert ok >= 0.9, res[:3]


def _java_bin() -> Path | None:
    for home in sorted(Path("/usr/lib/jvm").glob("*17*")) + sorted(Path("/usr/lib/jvm").glob("*")):
        if (home / "bin" / "javac").exists() and (home / "bin" / "jcmd").exists():
            return home / "bin"
    return None


def test_jvm_jit_frames_unwound_to_thread_root(tmp_path):
    """JIT code (with -XX:+PreserveFramePointer) has no CFI: the walk crosses it
    by frame pointers, names it from the perf map, and goes on through libjvm."""
    jbin = _java_bin()
    if jbin is None:
        pytest.skip("no JDK with javac and jcmd under /usr/lib/jvm")
    src = Path(__file__).parent / "Burner.java"
    subprocess.run([str(jbin / "javac"), "-d", str(tmp_path), str(src)], check=True)
    proc = subprocess.Popen([str(jbin / "java"), "-XX:+PreserveFramePointer", "-XX:-Inline",
                             "-cp", str(tmp_path), "Burner", "30"], stdout=subprocess.PIPE)
    try:
        proc.stdout.readline()
        # Until the JIT has compiled the hot methods (a fixed second was a guess).
        perf_map = Path(f"/tmp/perf-{proc.pid}.map")
        deadline = time.monotonic() + 30
        while True:
            subprocess.run([str(jbin / "jcmd"), str(proc.pid), "Compiler.perfmap"], check=True,
                           capture_output=True)
            text = perf_map.read_text() if perf_map.exists() else ""
            if "Burner.leaf(" in text and "Burner.mid(" in text or time.monotonic() > deadline:
                break
            time.sleep(0.2)

        def cpu_ticks(tid: int) -> int:
            with open(f"/proc/{proc.pid}/task/{tid}/stat") as f:
                return int(f.read().rsplit(")", 1)[1].split()[11])

        # The thread running Burner now, not the one with most CPU so far (on a
        # loaded machine the JIT's compiler threads can lead the first second).
        before = {t: cpu_ticks(t) for t in threads(proc.pid)}
        time.sleep(0.5)
        busiest = max(before, key=lambda t: cpu_ticks(t) - before[t])
        sym = Symbolizer()
        res = stacks(sym, proc.pid, capture_many(proc.pid, 20, tid=busiest))
        ok = share(res, lambda names, complete: complete and names[0] == "clone3"
                   and "JavaMain" in names and "double Burner.leaf(double)" in names)
        assert ok >= 0.9, res[:3]
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        Path(f"/tmp/perf-{proc.pid}.map").unlink(missing_ok=True)


def test_corrupt_eh_frame_is_skipped_not_fatal(build, spawn, tmp_path):
    from symbolizer.elf import ElfFile

    exe = tmp_path / "corrupt"
    shutil.copy(build("burn.c", NO_FP), exe)
    with open(exe, "r+b") as f:
        sec = ElfFile(f, str(exe)).sections[".eh_frame"]
        f.seek(sec.offset + 24)
        f.write(b"\xff" * (sec.size - 48))  # keep the first CIE, garble every FDE
    run = spawn([exe, "10"])
    sym = Symbolizer()
    unw = Unwinder(sym.binaries)
    for s in capture_many(run.pid, 10):
        res = unw.unwind_result(run.pid, s.ip, s.sp, s.bp, s.stack)
        frames = sym.user_frames(run.pid, res.addrs)
        assert frames[0].name in ("burn_a", "work", "main") or frames[0].module != "corrupt"
    assert sym.stats.get("unwind_errors", 0) == 0


def fp_walk(ip: int, sp: int, bp: int, stack: bytes) -> list[int]:
    """What the kernel's frame-pointer walk (bpf_get_stack) returns from a copy."""
    out = [ip]
    while sp <= bp <= sp + len(stack) - 16 and len(out) < 127:
        off = bp - sp
        nbp, ra = int.from_bytes(stack[off:off + 8], "little"), \
            int.from_bytes(stack[off + 8:off + 16], "little")
        if not ra:
            break
        out.append(ra)
        if nbp <= bp:
            break
        bp = nbp
    return out


def test_user_stack_prefers_cfi_and_extends_it_only_by_a_matching_fp_walk(build, spawn):
    fp_run = spawn([build("burn.c", WITH_FP), "10"])
    nofp_run = spawn([build("burn.c", NO_FP), "10"])
    sym = Symbolizer()
    unw = Unwinder(sym.binaries)
    extended = 0
    for run in (fp_run, nofp_run):
        for s in capture_many(run.pid, 10):
            full = unw.unwind(run.pid, s.ip, s.sp, s.bp, s.stack)
            fp = fp_walk(s.ip, s.sp, s.bp, s.stack)
            # With a complete copy, the CFI walk wins even where the FP walk is junk.
            assert unw.user_stack(run.pid, fp, s.ip, s.sp, s.bp, s.stack) == full
            # (A capture inside libc, which has no frame pointers, makes even
            # this binary's FP walk junk: then there is nothing to extend with.)
            if run is fp_run and set(fp) <= set(full):
                # A copy too short for CFI to reach the root: the FP walk extends
                # it where it joins, and what comes out is still the true stack.
                short = s.stack[:48]
                cut = unw.unwind(run.pid, s.ip, s.sp, s.bp, short)
                merged = unw.user_stack(run.pid, fp, s.ip, s.sp, s.bp, short)
                assert merged[:len(cut)] == cut and merged == full[:len(merged)]
                extended += len(merged) > len(cut)
    assert extended
