"""Raw sampler events as they leave the kernel, decoded but not symbolized.

The layouts mirror the C structs in `bpf/oncpu.c` and `bpf/offcpu.c`, field
by field with the C names, and are read by name;
tests/sampler/test_event_layouts.py compiles those structs and pins every
named field's offset and size to these layouts.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from .layout import MapLayout

REGS = MapLayout(("ip", "Q"), ("sp", "Q"), ("bp", "Q"))  # struct user_regs
LINK = MapLayout(("trace_id", "16s"), ("span_id", "8s"))  # struct trace_link
# struct cpu_event, up to `ips` (kernel then user addresses, then the stack copy)
CPU_HEADER = MapLayout(
    ("ts", "Q"), ("pid", "I"), ("tid", "I"), ("cpu", "I"), ("kstack_bytes", "H"),
    ("ustack_bytes", "H"), ("comm", "16s"), *REGS.within("regs"), ("copy_bytes", "I"),
    ("pad", "I"), ("rt_stack", "Q"), *LINK.within("link"), ("weight", "I"), ("pad2", "I"))
WAIT_INFO = MapLayout(  # struct wait_info
    ("nr", "Q"), ("arg0", "Q"), ("arg1", "Q"), ("waker_rt", "Q"), ("waker_pid", "I"),
    ("waker_tid", "I"), ("waker_kstack", "i"), ("waker_ustack", "i"), ("waker_ucopy", "I"),
    ("pad", "I"), ("waker_comm", "16s"))
OFF_EVENT = MapLayout(  # struct off_event
    ("ts_out", "Q"), ("ts_wake", "Q"), ("ts_in", "Q"), ("pid", "I"), ("tid", "I"),
    ("cpu", "I"), ("state", "I"), ("kstack", "i"), ("ustack", "i"), ("ucopy", "I"),
    ("kept_every", "I"), ("comm", "16s"), ("rt_stack", "Q"), ("lock_wait", "I"),
    ("pad2", "I"), *LINK.within("link"), *WAIT_INFO.within("wait"))
OFF_EVENT_WAIT = OFF_EVENT.offset("wait.nr")
AGG_KEY = MapLayout(  # struct agg_key
    ("gen", "I"), ("pid", "I"), ("tid", "I"), ("state", "I"), ("kstack", "i"),
    ("ustack", "i"), ("ucopy", "I"), ("lock_wait", "I"), ("rt_stack", "Q"),
    *LINK.within("link"))
AGG_VAL = MapLayout(  # struct agg_val
    ("count", "Q"), ("blocked_ns", "Q"), ("runq_ns", "Q"), ("last_in", "Q"), ("cpu", "I"),
    ("pad", "I"), ("comm", "16s"))
# struct off_copy, up to `data` (the stack copy)
OFF_COPY = MapLayout(("id", "I"), ("pid", "I"), ("tid", "I"), ("bytes", "I"),
                     *REGS.within("regs"))


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
    h = CPU_HEADER.unpack(buf)
    off = CPU_HEADER.size
    kb, ub, copied = h.kstack_bytes, h.ustack_bytes, h.copy_bytes
    n_k, n_u = kb // 8, ub // 8
    ips = struct.unpack_from(f"<{n_k + n_u}Q", buf, off)
    if not copied:
        return CpuEvent(h.ts, h.pid, h.tid, h.cpu, comm_str(h.comm), ips[:n_k], ips[n_k:],
                        rt_stack=h.rt_stack, trace_id=h.link_trace_id, span_id=h.link_span_id,
                        weight=h.weight)
    start = off + kb + ub
    return CpuEvent(h.ts, h.pid, h.tid, h.cpu, comm_str(h.comm), ips[:n_k], ips[n_k:],
                    (h.regs_ip, h.regs_sp, h.regs_bp), bytes(buf[start:start + copied]),
                    h.rt_stack, h.link_trace_id, h.link_span_id, h.weight)
