"""Symbolization of real processes: names, placement, short-lived and deleted binaries."""

from __future__ import annotations

import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from profiler.procfs import read_maps
from symbolizer import Symbolizer
from symbolizer.demangle import function_name
from symbolizer.unwind import Unwinder

from .conftest import NO_FP, WITH_FP


def test_c_functions_named(build, spawn):
    exe = build("burn.c", NO_FP)
    run = spawn([exe, "5"])
    sym = Symbolizer()
    a = run.addrs
    # Leaf: the exact address; callers: return addresses (one past the call).
    frames = sym.user_frames(run.pid, [a["burn_a"] + 4, a["work"] + 5, a["main"] + 9])
    assert [f.name for f in frames] == ["burn_a", "work", "main"]
    for f in frames:
        assert f.kind == "native"
        assert f.module == exe.name
        assert len(f.build_id) == 40
    # The offset is a file offset: reading the binary there gives the function's code.
    with open(exe, "rb") as fh:
        fh.seek(frames[0].offset - 4)
        code = fh.read(16)
    with open(f"/proc/{run.pid}/mem", "rb") as mem:
        mem.seek(a["burn_a"])
        assert mem.read(16) == code


def test_return_address_at_function_end_belongs_to_caller(build, spawn):
    exe = build("burn.c", WITH_FP)
    run = spawn([exe, "5"])
    nm = subprocess.run(["nm", "-S", str(exe)], capture_output=True, text=True, check=True)
    size = next(int(line.split()[1], 16) for line in nm.stdout.splitlines()
                if line.endswith(" burn_a"))
    end = run.addrs["burn_a"] + size
    # One past the last byte: as a return address (a call ending the function)
    # it is burn_a's; as an exact IP it is not.
    fr = Symbolizer().user_frames(run.pid, [end, end])
    assert fr[0].name != "burn_a"
    assert fr[1].name == "burn_a"


def test_cpp_method_in_namespace_demangled(build, spawn):
    exe = build("burn.cpp", NO_FP)
    run = spawn([exe, "5"])
    sym = Symbolizer()
    frames = sym.user_frames(run.pid, [run.addrs["spin"] + 3, run.addrs["burn_a"] + 5])
    assert frames[0].name == "flame::Worker::spin(long)"
    assert frames[1].name.startswith("burn_a(flame::Worker&")


def test_stripped_binary_frames_are_placed_not_dropped(build, spawn):
    exe = build("burn.c", NO_FP, name="burn-stripped", strip=True)
    run = spawn([exe, "5"])
    sym = Symbolizer()
    a = run.addrs
    addrs = [a["burn_a"] + 4, a["work"] + 5, a["main"] + 9, 0x10]
    frames = sym.user_frames(run.pid, addrs)
    assert len(frames) == len(addrs)
    for f, addr, look in zip(frames[:3], addrs, [addrs[0], addrs[1] - 1, addrs[2] - 1],
                             strict=False):
        assert re.fullmatch(r"burn-stripped\+0x[0-9a-f]+", f.name), f.name
        assert f.module == "burn-stripped"
        assert len(f.build_id) == 40
        m = next(m for m in read_maps(run.pid) if m.start <= addr < m.end)
        assert f.offset == look - m.start + m.pgoff
        assert f.name.endswith(f"+0x{f.offset:x}")
    assert frames[3].name == "[unknown] 0x10"
    assert frames[3].kind == "unknown"


def test_deleted_binary_still_symbolized(build, spawn, tmp_path):
    exe = build("burn.c", NO_FP)
    copy = tmp_path / "doomed"
    copy.write_bytes(exe.read_bytes())
    copy.chmod(0o755)
    run = spawn([copy, "5"])
    copy.unlink()
    sym = Symbolizer()
    frames = sym.user_frames(run.pid, [run.addrs["burn_a"] + 4, run.addrs["work"] + 5])
    assert [f.name for f in frames] == ["burn_a", "work"]
    assert frames[0].module == "doomed"


def test_replaced_binary_uses_the_mapped_file(build, spawn, tmp_path):
    exe = build("burn.c", NO_FP)
    other = build("burn.c", WITH_FP)
    path = tmp_path / "replaced"
    path.write_bytes(exe.read_bytes())
    path.chmod(0o755)
    run = spawn([path, "5"])
    tmp = tmp_path / "new"
    tmp.write_bytes(other.read_bytes())
    os.replace(tmp, path)  # as a package upgrade does: new inode, same path
    frames = Symbolizer().user_frames(run.pid, [run.addrs["burn_a"] + 4])
    assert frames[0].name == "burn_a"


def test_short_lived_process_symbolized_after_exit(build):
    exe = build("burn.c", NO_FP)
    sym = Symbolizer()
    proc = subprocess.Popen([str(exe), "0.05"], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    sym.process_seen(proc.pid)
    addrs = {k: int(v, 16) for k, v in (x.split("=") for x in line.split())}
    proc.wait()
    proc.stdout.close()
    assert not os.path.exists(f"/proc/{proc.pid}/maps")
    frames = sym.user_frames(proc.pid, [addrs["burn_a"] + 4, addrs["work"] + 5,
                                        addrs["main"] + 9])
    assert [f.name for f in frames] == ["burn_a", "work", "main"]
    sym.process_exited(proc.pid)


def test_shared_library_symbols_and_cache_by_build_id(build, spawn):
    exe = build("burn.c", NO_FP)
    runs = [spawn([exe, "5"]), spawn([exe, "5"])]
    sym = Symbolizer()
    for run in runs:
        sym.process_seen(run.pid)
    loaded = sym.stats["objects_loaded"]
    libc = next(m for m in read_maps(runs[0].pid) if "libc.so" in m.path and m.is_exec)
    # An address inside libc's text: somewhere named, from .symtab or .dynsym.
    frames = sym.user_frames(runs[0].pid, [libc.start + 0x100])
    assert frames[0].module.startswith("libc.so")
    # The second process mapped the same binaries: nothing new was parsed.
    sym.process_seen(runs[1].pid)
    assert sym.stats["objects_loaded"] == loaded


def test_unknown_anonymous_and_unmapped_addresses(spawn, build):
    exe = build("burn.c", NO_FP)
    run = spawn([exe, "5"])
    heap = next(m for m in read_maps(run.pid) if m.path == "[heap]" or m.path == "")
    frames = Symbolizer().user_frames(run.pid, [heap.start + 8, 0x42])
    assert frames[0].name == f"[unknown] 0x{heap.start + 8:x}"
    assert frames[1].name == "[unknown] 0x42"


def test_vanished_process_still_yields_frames():
    frames = Symbolizer().user_frames(2**22 + 12345, [0x401000, 0x401234])
    assert [f.name for f in frames] == ["[unknown] 0x401000", "[unknown] 0x401234"]


def test_container_paths_and_namespace_perf_map(build):
    """A process in its own mount and pid namespaces, as in a container: its
    binary's path exists only inside, and its perf map is named after its
    namespace pid, in its own /tmp."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    exe = build("burn.c", NO_FP)
    # Outside /tmp, which the namespace replaces with its own.
    inside = Path(tempfile.mkdtemp(prefix="flamecam-rootfs-", dir="/var/tmp"))
    script = (f"mount -t tmpfs none {inside} && cp {exe} {inside}/app && "
              f"mount -t tmpfs none /tmp && exec {inside}/app 10")
    proc = subprocess.Popen(["unshare", "--mount", "--pid", "--fork", "--kill-child",
                             "--propagation", "private", "sh", "-c", script],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line:
            pytest.skip("cannot create mount and pid namespaces here")
        addrs = {k: int(v, 16) for k, v in (x.split("=") for x in line.split())}
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            pid = int(f.read().split()[0])
        assert not (inside / "app").exists()  # only the container sees it
        with open(f"/proc/{pid}/status") as f:
            assert any(line.split()[-1] == "1" for line in f if line.startswith("NSpid:"))
        anon = next(m for m in read_maps(pid) if m.path in ("", "[heap]"))
        with open(f"/proc/{pid}/root/tmp/perf-1.map", "w") as f:
            f.write(f"{anon.start:x} 100 py::handler:/srv/app.py\n")
        sym = Symbolizer()
        frames = sym.user_frames(pid, [addrs["burn_a"] + 4, addrs["work"] + 5,
                                       anon.start + 0x11])
        assert [f.name for f in frames] == ["burn_a", "work", "py::handler:/srv/app.py"]
        assert frames[0].module == "app"
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        inside.rmdir()


def test_frame_pointer_detection_decides_stack_copies(build, spawn):
    with_fp = spawn([build("burn.c", WITH_FP), "5"])
    without = spawn([build("burn.c", NO_FP), "5"])
    sym = Symbolizer()
    unw = Unwinder(sym.binaries)
    fps = unw.frame_pointers(with_fp.pid)
    assert any(v for k, v in fps.items() if k.startswith("burn"))
    assert not unw.needs_stack_copy(with_fp.pid)
    assert not any(v for k, v in unw.frame_pointers(without.pid).items()
                   if k.startswith("burn"))
    assert unw.needs_stack_copy(without.pid)


def test_library_loaded_later_is_found_by_rereading_maps():
    code = ("import ctypes, sys, time\nsys.stdin.readline()\n"
            "lib = ctypes.CDLL('libz.so.1')\n"
            "print(ctypes.cast(lib.crc32, ctypes.c_void_p).value, flush=True)\ntime.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.1)
        sym = Symbolizer()
        sym.process_seen(proc.pid)  # before libz is mapped
        proc.stdin.write("go\n")
        proc.stdin.flush()
        addr = int(proc.stdout.readline())
        time.sleep(0.02)
        frames = sym.user_frames(proc.pid, [addr])
        assert frames[0].name == "crc32" and frames[0].module.startswith("libz.so")
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()


def test_minidebuginfo_names_a_stripped_binary(build, spawn, tmp_path):
    """Fedora-style `.gnu_debugdata`: an xz-compressed .symtab inside the stripped binary."""
    if shutil.which("objcopy") is None:
        pytest.skip("objcopy is not installed")
    exe = tmp_path / "mini"
    shutil.copy(build("burn.c", NO_FP), exe)
    debug = tmp_path / "mini.debug"
    subprocess.run(["objcopy", "--only-keep-debug", str(exe), str(debug)], check=True)
    subprocess.run(["objcopy", "--strip-debug", "--remove-section", ".comment", str(debug)],
                   check=True)
    xz = tmp_path / "mini.xz"
    xz.write_bytes(lzma.compress(debug.read_bytes()))
    subprocess.run(["strip", "--strip-all", str(exe)], check=True)
    subprocess.run(["objcopy", "--add-section", f".gnu_debugdata={xz}", str(exe)], check=True)
    run = spawn([exe, "5"])
    frames = Symbolizer().user_frames(run.pid, [run.addrs["burn_a"] + 4, run.addrs["work"] + 5])
    assert [f.name for f in frames] == ["burn_a", "work"]


def test_symbol_tables_cached_on_disk_per_build_id(build, spawn, tmp_path):
    exe = build("burn.c", NO_FP)
    run = spawn([exe, "5"])
    addrs = [run.addrs["burn_a"] + 4, run.addrs["work"] + 5]
    first = Symbolizer(cache_dir=str(tmp_path)).user_frames(run.pid, addrs)
    build_id = first[0].build_id
    [cached] = tmp_path.glob(f"symtab-v*/{build_id}.marshal")
    assert Symbolizer(cache_dir=str(tmp_path)).user_frames(run.pid, addrs) == first
    cached.write_bytes(b"garbage")  # a bad entry is rebuilt, never trusted
    assert Symbolizer(cache_dir=str(tmp_path)).user_frames(run.pid, addrs) == first


def test_plt_stubs_named_like_objdump(build):
    """Each PLT stub is `target@plt` (as objdump labels it), not the symbol before .plt."""
    from symbolizer.elf import ElfFile
    from symbolizer.symtab import load_symbols

    exe = build("burn.cpp", NO_FP)
    dump = subprocess.run(["objdump", "-d", "-j", ".plt", "-j", ".plt.sec", str(exe)],
                          capture_output=True, text=True).stdout
    labels = {int(a, 16): n for a, n in re.findall(r"^([0-9a-f]+) <([^>]+@plt)>:$", dump, re.M)}
    assert labels
    with open(exe, "rb") as f:
        table = load_symbols(ElfFile(f, str(exe)))
    for addr, name in labels.items():
        assert table.lookup(addr + 4) == (name, addr)
    sym_names = {function_name(n) for n in labels.values()}
    assert any(n.endswith("@plt") and "(" in n for n in sym_names)  # C++ stubs demangled



def test_cold_part_named_after_its_function(build):
    from symbolizer.elf import ElfFile
    from symbolizer.symtab import load_symbols

    exe = build("cold.cpp", ["-O2"])
    nm = subprocess.run(["nm", str(exe)], capture_output=True, text=True, check=True).stdout
    cold = [int(line.split()[0], 16) for line in nm.splitlines() if line.endswith(".cold")]
    if not cold:
        pytest.skip("this compiler made no .cold part")
    with open(exe, "rb") as f:
        table = load_symbols(ElfFile(f, str(exe)))
    raw, _start = table.lookup(cold[0] + 1)
    assert raw.endswith(".cold") and function_name(raw) == "hot(long)"
