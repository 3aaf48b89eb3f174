"""Real stack samples without the BPF sampler: stop a thread with ptrace, copy
its registers and the top of its stack (as the sampler will), let it go.

Used by the unwinder tests and by bench/symbolize.py to record samples.
"""

from __future__ import annotations

import ctypes
import os
import time
from dataclasses import dataclass

from profiler.procfs import read_maps, thread_ids

PTRACE_GETREGS = 12
PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
WALL = 0x40000000

_REG_NAMES = ("r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs "
              "eflags rsp ss fs_base gs_base ds es fs gs").split()


class UserRegs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_ulonglong) for n in _REG_NAMES]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
_libc.ptrace.restype = ctypes.c_long


@dataclass
class RawSample:
    pid: int
    tid: int
    ip: int
    sp: int
    bp: int
    stack: bytes


def _ptrace(req: int, tid: int, addr: int = 0, data: int | ctypes.c_void_p = 0) -> None:
    if _libc.ptrace(req, tid, addr, data) == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _stack_end(pid: int, sp: int) -> int:
    for m in read_maps(pid) or []:
        if m.start <= sp < m.end:
            return m.end
    return sp


def capture(pid: int, tid: int | None = None, stack_bytes: int = 16384) -> RawSample:
    """One sample of thread `tid` (default: the main thread) of process `pid`."""
    tid = tid or pid
    _ptrace(PTRACE_SEIZE, tid)
    try:
        _ptrace(PTRACE_INTERRUPT, tid)
        os.waitpid(tid, WALL)
        regs = UserRegs()
        _ptrace(PTRACE_GETREGS, tid, 0, ctypes.addressof(regs))
        size = max(0, min(stack_bytes, _stack_end(pid, regs.rsp) - regs.rsp))
        with open(f"/proc/{pid}/mem", "rb") as mem:
            mem.seek(regs.rsp)
            stack = mem.read(size)
    finally:
        try:
            _ptrace(PTRACE_DETACH, tid)
        except OSError:
            pass
    return RawSample(pid, tid, regs.rip, regs.rsp, regs.rbp, stack)


def capture_many(pid: int, n: int, tid: int | None = None, interval_s: float = 0.003,
                 stack_bytes: int = 16384) -> list[RawSample]:
    out = []
    for _ in range(n):
        out.append(capture(pid, tid, stack_bytes))
        time.sleep(interval_s)
    return out


def threads(pid: int) -> list[int]:
    return sorted(thread_ids(pid))
