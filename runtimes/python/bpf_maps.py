"""User-space side of `python.h` (beside it): its text, fills `py_procs`, decodes `py_stacks`.

The kernel walks frames but cannot name them: it records code-object
addresses (low bit: entry frame) and instruction pointers, and user space
names them later with `PythonProcess.symbolize` (cached per code object).
`PY_PROC` is pinned to `struct py_proc` by tests/sampler/test_event_layouts.py.
"""

from __future__ import annotations

import ctypes
import struct
from pathlib import Path

from profiler.sampler.layout import MapLayout

from .reader import PythonProcess, RawFrame

# struct py_proc and the head of struct py_stack in python.h, named as there
# (pinned by tests/sampler/test_event_layouts.py). The 14 offsets carry
# PyOffsets' field names.
_OFFSETS = (
    "runtime_interpreters_head", "interp_threads_head", "tstate_next",
    "tstate_native_thread_id", "tstate_cframe", "cframe_current_frame",
    "tstate_current_frame", "frame_code", "frame_previous", "frame_instr", "frame_owner",
    "frame_is_entry", "gil_last_holder", "gil_locked",
)
PY_PROC = MapLayout(("runtime", "Q"), ("gil", "Q"), ("gil_size", "I"),
                    *((name, "i") for name in _OFFSETS),
                    ("version", "I"), ("pidns_dev", "Q"), ("pidns_ino", "Q"))
PY_STACK_HEADER = MapLayout(("len", "I"), ("truncated", "I"))

HEADER = Path(__file__).with_name("python.h")


def bpf_source() -> str:
    """The kernel walker's C text, with the GIL-wait tracepoints, for `program.load`."""
    return "#define FLAMECAM_PY_GIL 1\n" + HEADER.read_text()


def py_proc_bytes(proc: PythonProcess) -> bytes:
    """The `struct py_proc` describing one process for the kernel walker."""
    try:
        gil_lo, gil_hi = proc.gil_range()
    except OSError:
        gil_lo, gil_hi = 0, 0
    dev, ino = proc.pidns or (0, 0)
    return PY_PROC.pack(
        runtime=proc.runtime.runtime_addr, gil=gil_lo, gil_size=gil_hi - gil_lo,
        version=(proc.version[0] << 8) | proc.version[1], pidns_dev=dev, pidns_ino=ino,
        **{name: getattr(proc.off, name) for name in _OFFSETS},
    )


def register(bpf, proc: PythonProcess) -> bool:
    """Tell the kernel walker about `proc` (a loaded bcc module with python.h).

    False when the GIL's address was not known yet (a process caught before
    its interpreter was set up): GIL waits go unseen until registered again.
    """
    table = bpf[b"py_procs"]
    raw = py_proc_bytes(proc)
    table[ctypes.c_uint32(proc.pid)] = table.Leaf.from_buffer_copy(raw)
    return PY_PROC.unpack_from(raw)["gil"] != 0


def unregister(bpf, pid: int) -> None:
    try:
        del bpf[b"py_procs"][ctypes.c_uint32(pid)]
    except KeyError:
        pass


def decode_py_stack(raw: bytes) -> list[RawFrame]:
    """Leaf-first frames of one `struct py_stack` value.

    A stack deeper than the kernel walker's limit ends with a `code=0` frame,
    which `PythonProcess.frame` names `[truncated]`.
    """
    n, truncated = PY_STACK_HEADER.struct.unpack_from(raw)
    words = struct.unpack_from(f"<{2 * n}Q", raw, PY_STACK_HEADER.size)
    out: list[RawFrame] = []
    for i in range(n):
        code, instr = words[2 * i], words[2 * i + 1]
        if code & 2:  # 3.12+ shim: the frame before it was entered from C
            if out:
                out[-1] = RawFrame(out[-1].code, out[-1].instr, True)
            continue
        out.append(RawFrame(code=code & ~3, instr=instr, is_entry=bool(code & 1)))
    if out and not out[-1].is_entry:
        out[-1] = RawFrame(out[-1].code, out[-1].instr, True)
    if truncated:  # deeper than PY_MAX_FRAMES: say so at the root end
        out.append(RawFrame(code=0, instr=0, is_entry=True))
    return out


def read_py_stack(bpf, stack_id: int) -> list[RawFrame] | None:
    """The frames stored under `stack_id` (None if evicted or 0)."""
    if not stack_id:
        return None
    table = bpf[b"py_stacks"]
    try:
        leaf = table[table.Key(stack_id)]
    except KeyError:
        return None
    return decode_py_stack(bytes(leaf))
