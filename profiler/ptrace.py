"""Stopping one thread for a moment to read its user registers (x86-64 Linux).

`flamecam dump` needs the user registers of threads that may stay asleep for
hours, where no BPF program here can reach them: this kernel has no kprobes,
a task iterator would read `task_struct` through another kernel's headers,
and `bpf_get_task_stack` refuses another task's user stack. `PTRACE_SEIZE`
+ `PTRACE_INTERRUPT` stop one thread (not its process) without a signal
the program could see; `PTRACE_DETACH` lets it go. A system call it was
blocked in is restarted by the kernel (`nanosleep` keeps its remaining
time); calls that report interruption as `EINTR` even without a handler
(`epoll_wait`, `sigtimedwait`, ...) may see one, as under gdb or py-spy.

Imports nothing of Flamecam's: it sits at the bottom beside procfs.
"""

from __future__ import annotations

import ctypes
import os
import platform
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

_PTRACE_GETREGS = 12
_PTRACE_DETACH = 17
_PTRACE_SEIZE = 0x4206
_PTRACE_INTERRUPT = 0x4207
_PTRACE_EVENT_STOP = 128
_WALL = 0x40000000

# struct user_regs_struct (x86-64): 27 unsigned longs, in this order.
_REG_NAMES = ("r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax",
              "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss",
              "fs_base", "gs_base", "ds", "es", "fs", "gs")
_Regs = ctypes.c_ulong * len(_REG_NAMES)

T = TypeVar("T")


class PtraceError(OSError):
    """The thread could not be stopped: gone, already traced, or not ours to trace."""


@dataclass(frozen=True, slots=True)
class UserRegs:
    ip: int
    sp: int
    bp: int
    orig_ax: int  # the system call number it was in (-1: none)


def supported() -> str:
    """"" when registers can be read on this machine, else why not."""
    if platform.machine() != "x86_64":
        return f"reading user registers is implemented for x86-64 only, not {platform.machine()}"
    return ""


_libc = None


def _ptrace(request: int, tid: int, addr: int = 0, data: int | ctypes.Array = 0) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.ptrace.argtypes = (ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
        _libc.ptrace.restype = ctypes.c_long
    arg = ctypes.addressof(data) if isinstance(data, ctypes.Array) else data
    if _libc.ptrace(request, tid, addr, arg) == -1:
        err = ctypes.get_errno()
        raise PtraceError(err, os.strerror(err))


def while_stopped(tid: int, read: Callable[[UserRegs], T]) -> tuple[UserRegs, T, float]:
    """Stops thread `tid`, calls `read(regs)` while it stands still, lets it go.

    Returns (registers, what `read` returned, seconds the thread was stopped).
    A signal that arrived during the stop is handed back to the thread.
    Raises PtraceError when the thread cannot be stopped.
    """
    _ptrace(_PTRACE_SEIZE, tid)
    t0 = time.monotonic()
    pending = 0
    try:
        _ptrace(_PTRACE_INTERRUPT, tid)
        while True:
            _, status = os.waitpid(tid, _WALL)
            if not os.WIFSTOPPED(status):  # exited while we asked
                raise PtraceError(3, "the thread exited")
            if status >> 16 == _PTRACE_EVENT_STOP:
                break
            # A signal-delivery stop came first: keep the signal for the thread.
            pending = os.WSTOPSIG(status)
            if pending == signal.SIGTRAP:
                pending = 0
            break
        raw = _Regs()
        _ptrace(_PTRACE_GETREGS, tid, 0, raw)
        r = dict(zip(_REG_NAMES, raw, strict=True))
        orig = r["orig_rax"]
        regs = UserRegs(r["rip"], r["rsp"], r["rbp"], orig - (1 << 64) if orig >> 63 else orig)
        got = read(regs)
    finally:
        try:
            _ptrace(_PTRACE_DETACH, tid, 0, pending)
        except PtraceError:
            pass  # gone already
    return regs, got, time.monotonic() - t0
