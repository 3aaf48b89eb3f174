"""The event layouts are defined twice, once in C (what the BPF programs write)
and once in `profiler/sampler/events.py` (how user space reads it): this pins
the two together, field by field, by compiling the C structs with gcc.

A field added to one side and not the other, or a padding change, fails here
instead of turning every later field of every event into garbage.

The map values user space writes (`struct py_proc`, `struct trace_proc`) or
reads by name (`struct py_stack`'s head) are `MapLayout`s: pinned by name, so
two fields swapped on either side fail too.
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
# (C struct, the Python layout, the field where the fixed header ends or None)
PAIRS = [
    ("cpu_event", events.CPU_HEADER, "ips"),
    ("off_event", events.OFF_EVENT, None),
    ("agg_key", events.AGG_KEY, None),
    ("agg_val", events.AGG_VAL, None),
    ("off_copy", events.OFF_COPY, "data"),
]
# (C struct, its MapLayout, the field where the layout ends or None)
NAMED = [
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


def _python_fields(layout: struct.Struct) -> list[tuple[int, int]]:
    """(offset, size) of each field of a little-endian struct format."""
    out, at = [], 0
    for count, code in re.findall(r"(\d*)([a-zA-Z])", layout.format.lstrip("<")):
        n = int(count or 1)
        size = struct.calcsize("<" + code)
        if code == "s":
            out.append((at, n))
            at += n
        else:
            for _ in range(n):
                out.append((at, size))
                at += size
    return out


@pytest.fixture(scope="module")
def c_layouts(tmp_path_factory) -> dict[str, tuple[list[tuple[int, int]], int]]:
    """struct -> ([(offset, size) per leaf field up to its header's end], header size)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    structs = _structs()
    order = ["user_regs", "trace_link", "wait_info"] + [name for name, _, _ in PAIRS + NAMED]
    src = [PRELUDE] + [f"struct {n} {{{structs[n]}}};" for n in order]
    src.append("int main(void) {")
    for name, _, stop in PAIRS + NAMED:
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
        n: ([], 0) for n, _, _ in PAIRS + NAMED}
    for line in subprocess.run([str(d / "layouts")], check=True, capture_output=True,
                               text=True).stdout.splitlines():
        name, a, b, *path = line.split()
        if a == "end":
            out[name] = (out[name][0], int(b))
        else:
            out[name][0].append((int(a), int(b), path[0]))
    return out


@pytest.mark.parametrize("name,layout", [(n, lay) for n, lay, _ in PAIRS])
def test_python_layout_matches_the_c_struct(c_layouts, name, layout):
    fields, end = c_layouts[name]
    assert layout.size == end, f"struct {name}: C header is {end} bytes, Python {layout.size}"
    # Python spells padding as fields of its own; every C field must sit at the
    # same offset with the same size in the Python layout.
    py = set(_python_fields(layout))
    missing = [(at, size) for at, size, _ in fields if (at, size) not in py]
    assert not missing, f"struct {name}: C fields (offset, size) not in Python's: {missing}"


@pytest.mark.parametrize("name,layout", [(n, lay) for n, lay, _ in NAMED])
def test_map_layout_matches_the_c_struct_by_name(c_layouts, name, layout: MapLayout):
    fields, end = c_layouts[name]
    assert layout.size == end, f"struct {name}: C is {end} bytes, Python {layout.size}"
    c = {path: (at, size) for at, size, path in fields}
    assert layout.fields() == c, f"struct {name}: (offset, size) by field differ"


def test_a_swap_of_two_fields_is_caught(c_layouts):
    """The check itself: two same-sized fields of py_proc swapped in Python fail it."""
    names = list(bpf_maps.PY_PROC.names)
    i, j = names.index("tstate_next"), names.index("frame_code")
    names[i], names[j] = names[j], names[i]
    swapped = MapLayout(*zip(names, bpf_maps.PY_PROC.codes, strict=True))
    fields, _ = c_layouts["py_proc"]
    assert swapped.fields() != {path: (at, size) for at, size, path in fields}
