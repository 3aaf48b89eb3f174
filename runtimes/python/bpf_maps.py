"""User-space side of `python.h` (beside it): its text, fills `py_procs`, decodes `py_stacks`.

The kernel walks frames but cannot name them: it records code-object
addresses (low bit: entry frame) and instruction pointers, and user space
names them later with `PythonProcess.symbolize` (cached per code object).
Keep `PY_PROC` in step with `struct py_proc` in runtimes/python/python.h.
"""

from __future__ import annotations

import ctypes
import struct
from pathlib import Path

from .reader import PythonProcess, RawFrame

# struct py_proc: runtime, gil, gil_size, 14 x s32 offsets, version, pidns dev, ino
PY_PROC = struct.Struct("<QQI14iIQQ")
PY_STACK_HEADER = struct.Struct("<II")

HEADER = Path(__file__).with_name("python.h")


def bpf_source() -> str:
    """The kernel walker's C text, with the GIL-wait tracepoints, for `program.load`."""
    return "#define FLAMECAM_PY_GIL 1\n" + HEADER.read_text()


def py_proc_bytes(proc: PythonProcess) -> bytes:
    """The `struct py_proc` describing one process for the kernel walker."""
    o = proc.off
    try:
        gil_lo, gil_hi = proc.gil_range()
    except OSError:
        gil_lo, gil_hi = 0, 0
    return PY_PROC.pack(
        proc.runtime.runtime_addr, gil_lo, gil_hi - gil_lo,
        o.runtime_interpreters_head, o.interp_threads_head, o.tstate_next,
        o.tstate_native_thread_id, o.tstate_cframe, o.cframe_current_frame,
        o.tstate_current_frame, o.frame_code, o.frame_previous, o.frame_instr,
        o.frame_owner, o.frame_is_entry, o.gil_last_holder, o.gil_locked,
        (proc.version[0] << 8) | proc.version[1],
        *(proc.pidns or (0, 0)),
    )


def register(bpf, proc: PythonProcess) -> None:
    """Tell the kernel walker about `proc` (a loaded bcc module with python.h)."""
    table = bpf[b"py_procs"]
    table[ctypes.c_uint32(proc.pid)] = table.Leaf.from_buffer_copy(py_proc_bytes(proc))


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
    n, truncated = PY_STACK_HEADER.unpack_from(raw)
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
