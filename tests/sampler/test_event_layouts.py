"""The event layouts are defined twice, once in C (what the BPF programs write)
and once in Python (how user space reads it, and what it writes into maps):
this pins the two together, field by field and by name, by compiling the C
structs with gcc.

Every struct that crosses (the events `struct cpu_event`, `off_event`,
`off_copy`, the summed `agg_key`/`agg_val`, the map values `py_proc`,
`trace_proc` and `py_stack`'s head) is a `MapLayout` spelled with the C
field names and read or written by name, so a field added to one side and
not the other, a padding change, or two same-sized fields swapped on either
side fails here instead of turning events into garbage.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from profiler.sampler import events
from profiler.sampler.layout import MapLayout
from profiler.sampler.tracectx import TRACE_PROC
from runtimes.python import bpf_maps

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("bpf/common.h", "bpf/tracectx.h", "bpf/oncpu.c", "bpf/offcpu.c",
           "runtimes/python/python.h")
PRELUDE = """#include <stddef.h>
#include <stdio.h>
typedef unsigned char u8; typedef unsigned short u16; typedef unsigned int u32;
typedef unsigned long long u64; typedef int s32; typedef long long s64;
#define TASK_COMM_LEN 16
#define MAX_KSTACK 64
#define MAX_USTACK 127
#define STACK_COPY_MAX 16384
#define PY_MAX_FRAMES 64
"""
# (C struct, its MapLayout, the field where the layout ends or None)
NAMED = [
    ("cpu_event", events.CPU_HEADER, "ips"),
    ("wait_info", events.WAIT_INFO, None),  # before off_event: C defines it first
    ("off_event", events.OFF_EVENT, None),
    ("agg_key", events.AGG_KEY, None),
    ("agg_val", events.AGG_VAL, None),
    ("off_copy", events.OFF_COPY, "data"),
    ("py_proc", bpf_maps.PY_PROC, None),
    ("py_stack", bpf_maps.PY_STACK_HEADER, "frames"),
    ("trace_proc", TRACE_PROC, None),
]
_FIELD = re.compile(r"^\s*(?:struct\s+(\w+)|[\w ]+?)\s+(\w+)(\[[^\]]+\])?;", re.M)


def _structs() -> dict[str, str]:
    text = "\n".join((ROOT / name).read_text() for name in SOURCES)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return {m.group(1): m.group(2)
            for m in re.finditer(r"^struct (\w+) \{(.*?)^\};", text, flags=re.M | re.S)}


def _leaves(structs: dict[str, str], name: str, stop: str | None, prefix: str = "") -> list[str]:
    """Member paths of the struct's scalar and array fields, nested structs flattened."""
    out = []
    for m in _FIELD.finditer(structs[name]):
        inner, field, _array = m.groups()
        if field == stop:
            break
        if inner:
            out += _leaves(structs, inner, None, f"{prefix}{field}.")
        else:
            out.append(prefix + field)
    return out


@pytest.fixture(scope="module")
def c_layouts(tmp_path_factory) -> dict[str, tuple[list[tuple[int, int]], int]]:
    """struct -> ([(offset, size) per leaf field up to its header's end], header size)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    structs = _structs()
    order = ["user_regs", "trace_link"] + [name for name, _, _ in NAMED]
    src = [PRELUDE] + [f"struct {n} {{{structs[n]}}};" for n in order]
    src.append("int main(void) {")
    for name, _, stop in NAMED:
        for path in _leaves(structs, name, stop):
            src.append(f'printf("{name} %zu %zu {path}\\n", offsetof(struct {name}, {path}), '
                       f"sizeof(((struct {name} *)0)->{path}));")
        end = f"offsetof(struct {name}, {stop})" if stop else f"sizeof(struct {name})"
        src.append(f'printf("{name} end %zu\\n", {end});')
    src.append("return 0; }")
    d = tmp_path_factory.mktemp("layouts")
    (d / "layouts.c").write_text("\n".join(src))
    subprocess.run(["gcc", "-o", str(d / "layouts"), str(d / "layouts.c")], check=True,
                   capture_output=True)
    out: dict[str, tuple[list[tuple[int, int, str]], int]] = {
        n: ([], 0) for n, _, _ in NAMED}
    for line in subprocess.run([str(d / "layouts")], check=True, capture_output=True,
                               text=True).stdout.splitlines():
        name, a, b, *path = line.split()
        if a == "end":
            out[name] = (out[name][0], int(b))
        else:
            out[name][0].append((int(a), int(b), path[0]))
    return out


@pytest.mark.parametrize("name,layout", [(n, lay) for n, lay, _ in NAMED])
def test_map_layout_matches_the_c_struct_by_name(c_layouts, name, layout: MapLayout):
    fields, end = c_layouts[name]
    assert layout.size == end, f"struct {name}: C is {end} bytes, Python {layout.size}"
    c = {path: (at, size) for at, size, path in fields}
    assert layout.fields() == c, f"struct {name}: (offset, size) by field differ"


@pytest.mark.parametrize("name,layout,a,b", [
    ("py_proc", bpf_maps.PY_PROC, "tstate_next", "frame_code"),
    ("off_event", events.OFF_EVENT, "pid", "tid"),
    ("agg_key", events.AGG_KEY, "kstack", "ustack"),
])
def test_a_swap_of_two_fields_is_caught(c_layouts, name, layout, a, b):
    """The check itself: two same-sized fields swapped in Python fail it."""
    names = list(layout.names)
    i, j = names.index(a), names.index(b)
    names[i], names[j] = names[j], names[i]
    swapped = MapLayout(*zip(names, layout.codes, strict=True))
    fields, _ = c_layouts[name]
    assert swapped.fields() != {path: (at, size) for at, size, path in fields}


def test_events_are_read_by_name():
    """What the BPF side writes comes back under the same names (a round trip
    through the layouts, as the samplers decode them)."""
    regs = {"regs.ip": 0x401000, "regs.sp": 0x7FFC0000, "regs.bp": 0x7FFC0040}
    link = {"link.trace_id": bytes(range(16)), "link.span_id": bytes(range(8))}
    head = events.CPU_HEADER.pack(ts=5, pid=10, tid=11, cpu=1, kstack_bytes=16,
                                  ustack_bytes=8, comm=b"worker", copy_bytes=4,
                                  rt_stack=7, weight=3, **regs, **link)
    buf = head + struct.pack("<3Q", 1, 2, 3) + b"abcd"
    assert events.decode_cpu(buf) == events.CpuEvent(
        5, 10, 11, 1, "worker", (1, 2), (3,), (0x401000, 0x7FFC0000, 0x7FFC0040), b"abcd", 7,
        bytes(range(16)), bytes(range(8)), 3)
    wait = {f"wait.{n}": v for n, v in (("nr", 202), ("arg0", 9), ("arg1", 8), ("waker_rt", 6),
                                        ("waker_pid", 20), ("waker_tid", 21),
                                        ("waker_kstack", -1), ("waker_ustack", 4),
                                        ("waker_ucopy", 2), ("waker_comm", b"waker"))}
    off = events.OFF_EVENT.pack(ts_out=1, ts_wake=2, ts_in=3, pid=10, tid=11, cpu=0, state=1,
                                kstack=5, ustack=-14, ucopy=0, kept_every=4, comm=b"c",
                                rt_stack=0, lock_wait=1, **link, **wait)
    w = events.WAIT_INFO.unpack(off, events.OFF_EVENT_WAIT)
    assert (w.nr, w.waker_pid, w.waker_tid, w.waker_kstack, w.waker_comm[:5]) == \
        (202, 20, 21, -1, b"waker")
    e = events.OFF_EVENT.unpack(off)
    assert (e.pid, e.tid, e.ustack, e.kept_every, e.link_span_id) == (10, 11, -14, 4,
                                                                       bytes(range(8)))
