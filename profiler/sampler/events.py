"""Raw sampler events as they leave the kernel, decoded but not symbolized.

The layouts mirror the C structs in `bpf/oncpu.c` and `bpf/offcpu.c`;
tests/sampler/test_event_layouts.py compiles those structs and pins every
field's offset and size to these formats.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

# struct cpu_event header: ts, pid, tid, cpu, kstack_bytes, ustack_bytes, comm,
# regs (ip, sp, bp), copy_bytes, pad, rt_stack, link (trace id, span id), weight, pad
CPU_HEADER = struct.Struct("<QIIIHH16sQQQIIQ16s8sII")
# struct off_event: ts_out, ts_wake, ts_in, pid, tid, cpu, state, kstack, ustack,
# ucopy, kept_every, comm, rt_stack, lock_wait, pad, link (trace id, span id), wait (WAIT_INFO)
WAIT_INFO = "QQQQIIiiII16s"
OFF_EVENT = struct.Struct("<QQQIIIIiiII16sQII16s8s" + WAIT_INFO)
# struct agg_key / agg_val
AGG_KEY = struct.Struct("<IIIIiiIIQ16s8s")
AGG_VAL = struct.Struct("<QQQQII16s")
# struct off_copy header: id, pid, tid, bytes, regs (ip, sp, bp)
OFF_COPY = struct.Struct("<IIIIQQQ")


class CpuEvent(NamedTuple):
    """One on-CPU sample. Stacks are leaf first."""

    ts: int
    pid: int
    tid: int
    cpu: int
    comm: str
    kstack: tuple[int, ...]
    ustack: tuple[int, ...]
    regs: tuple[int, int, int] = (0, 0, 0)  # user ip, sp, bp when `stack` was copied
    stack: bytes = b""  # a copy of user memory from regs' sp, for CFI unwinding
    rt_stack: int = 0  # a runtime's stack id (runtimes/, FLAMECAM_RUNTIME_STACK), 0: none
    trace_id: bytes = bytes(16)  # the span the thread served (bpf/tracectx.h), zeros: none
    span_id: bytes = bytes(8)
    weight: int = 1  # event periods this sample stands for (1 in `weight` kept)


class WaitInfo(NamedTuple):
    """What an interval waited in and who ended it, as the kernel saw it (struct wait_info).

    `nr` is the saved orig_ax: a system call number only if the blocking
    kernel stack went through the system call entry (user space checks).
    A waker with tid 0 and pid 0 was the idle task, i.e. an interrupt; any
    other waker may still be a task an interrupt happened to interrupt:
    its kernel stack says (profiler/sampler/wakers.py).
    """

    nr: int
    arg0: int
    arg1: int
    waker_pid: int
    waker_tid: int
    waker_comm: str
    waker_kstack: tuple[int, ...] = ()
    waker_ustack: tuple[int, ...] = ()
    waker_rt: int = 0
    waker_ucopy: int = 0  # id of a StackCopy of the waker's user stack

    @property
    def woken(self) -> bool:
        return bool(self.waker_pid or self.waker_tid or self.waker_comm)


class OffCpuEvent(NamedTuple):
    """One off-CPU interval (or `count` short ones summed in the kernel).

    `blocked_ns` runs from switch-out to wakeup, `runq_ns` from wakeup to
    switch-in. `ts_out` is the switch-out time of the interval (of the last
    one for aggregates, approximately). Stacks are leaf first.
    """

    ts_out: int
    pid: int
    tid: int
    cpu: int
    comm: str
    state: int
    blocked_ns: int
    runq_ns: int
    count: int
    kstack: tuple[int, ...]
    ustack: tuple[int, ...]
    ucopy: int = 0  # id of a StackCopy of the user stack, for CFI unwinding
    rt_stack: int = 0  # a runtime's stack id (runtimes/, FLAMECAM_RUNTIME_STACK), 0: none
    lock_wait: int = 0  # 1: blocked on the runtime's own lock (the GIL)
    trace_id: bytes = bytes(16)  # the span the thread served when it left the CPU
    span_id: bytes = bytes(8)
    wait: WaitInfo | None = None  # intervals kept one by one only, not the kernel's sums
    # 1 in `kept_every` intervals above the threshold were kept one by one when
    # this one was (bpf/offcpu.c off_keep: the agent over its CPU budget).
    kept_every: int = 1


class StackCopy(NamedTuple):
    """User registers and stack top of a thread where it blocked."""

    pid: int
    regs: tuple[int, int, int]
    stack: bytes


def comm_str(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def decode_cpu(buf: bytes) -> CpuEvent:
    (ts, pid, tid, cpu, kb, ub, comm, ip, sp, bp, copied, _, rt, trace, span, weight,
     _) = CPU_HEADER.unpack_from(buf)
    off = CPU_HEADER.size
    n_k, n_u = kb // 8, ub // 8
    ips = struct.unpack_from(f"<{n_k + n_u}Q", buf, off)
    if not copied:
        return CpuEvent(ts, pid, tid, cpu, comm_str(comm), ips[:n_k], ips[n_k:], rt_stack=rt,
                        trace_id=trace, span_id=span, weight=weight)
    start = off + kb + ub
    return CpuEvent(ts, pid, tid, cpu, comm_str(comm), ips[:n_k], ips[n_k:], (ip, sp, bp),
                    bytes(buf[start:start + copied]), rt, trace, span, weight)
