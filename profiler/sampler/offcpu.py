"""Driver of `bpf/offcpu.c`: intervals from the ring buffer, sums from a map.

The tracepoints attach themselves when the module loads (TRACEPOINT_PROBE);
they record nothing until this driver arms them, once the recorder has
registered the Python processes whose stacks they walk.
Short intervals are summed in the `off_agg` map under a generation number;
draining flips the generation first, so the kernel writes new sums under new
keys while the old ones are read and deleted: nothing is counted twice or
lost to a race.
"""

from __future__ import annotations

import ctypes
import time

from .events import (
    AGG_KEY,
    AGG_VAL,
    OFF_COPY,
    OFF_EVENT,
    OFF_EVENT_WAIT,
    WAIT_INFO,
    OffCpuEvent,
    StackCopy,
    WaitInfo,
    comm_str,
)

_EFAULT = -14
SPILLED_ID = 0x40000000  # bpf/offcpu.c: a stack spilled under its own id
# Stack ids whose addresses are kept (the map holds STACK_ENTRIES at most).
STACK_CACHE_LIMIT = 32768


def split_interval(state: int, t_out: int, t_wake: int, t_in: int) -> tuple[int, int]:
    """(blocked, run-queue) ns of an interval off the CPU, as bpf/offcpu.c splits it.

    Preempted while runnable: all of it is run-queue delay. Never seen woken
    (or woken before it left): all of it is blocked time.
    """
    if (state & 0xFF) == 0:
        return 0, t_in - t_out
    if not t_wake or t_wake < t_out:
        return t_in - t_out, 0
    return t_wake - t_out, t_in - t_wake


class OffCpuSampler:
    """Collects off-CPU intervals and resolves their stack ids to addresses."""

    def __init__(self, b, wait_info: bool = True):
        self._b = b
        self._wait_info = wait_info  # compiled in (SamplerOptions.wait_info)
        self._stacks = b[b"off_stacks"]
        self._spilled = b[b"off_spilled"]
        self._gen = 0
        self._pending: list[tuple] = []
        self.events: list[OffCpuEvent] = []
        # Stack copies by id; intervals refer to them for as long as a thread
        # keeps blocking at the same place, so the recorder keeps what it unwinds.
        self.copies: dict[int, StackCopy] = {}
        self._walked: dict[int, tuple[int, ...]] = {}  # stack id -> addresses
        b[b"off_events"].open_ring_buffer(self._on_event)
        b[b"off_copies"].open_ring_buffer(self._on_copy)
        # Intervals are measured from here: everything they read is registered.
        b[b"off_armed"][ctypes.c_int(0)] = ctypes.c_uint32(1)

    def _on_copy(self, _ctx, data, size) -> int:
        buf = ctypes.string_at(data, size)
        c = OFF_COPY.unpack(buf)
        self.copies[c.id] = StackCopy(c.pid, (c.regs_ip, c.regs_sp, c.regs_bp),
                                      buf[OFF_COPY.size:OFF_COPY.size + c.bytes])
        return 0

    def _on_event(self, _ctx, data, size) -> int:
        # Resolve stack ids now: ids can be reused once the map is cleared.
        buf = ctypes.string_at(data, size)
        e = OFF_EVENT.unpack(buf)
        blocked, runq = split_interval(e.state, e.ts_out, e.ts_wake, e.ts_in)
        self.events.append(
            OffCpuEvent(e.ts_out, e.pid, e.tid, e.cpu, comm_str(e.comm), e.state, blocked, runq,
                        1, self._stack(e.kstack), self._stack(e.ustack), e.ucopy, e.rt_stack,
                        e.lock_wait, e.link_trace_id, e.link_span_id,
                        self._wait(WAIT_INFO.unpack(buf, OFF_EVENT_WAIT)), e.kept_every or 1)
        )
        return 0

    def _wait(self, w) -> WaitInfo | None:
        """`w`: a struct wait_info, as WAIT_INFO.unpack or bcc's ctypes struct reads it."""
        if not self._wait_info:
            return None
        return WaitInfo(w.nr, w.arg0, w.arg1, w.waker_pid, w.waker_tid,
                        comm_str(bytes(w.waker_comm)), self._stack(w.waker_kstack),
                        self._stack(w.waker_ustack), w.waker_rt, w.waker_ucopy)

    def keep_one_in(self, every: int) -> None:
        """Keep 1 in `every` intervals above the threshold one by one; sum the rest."""
        self._b[b"off_keep"][ctypes.c_int(0)] = ctypes.c_uint32(max(1, every))

    def forget_copies(self) -> None:
        """Makes the kernel send fresh stack copies instead of referring to old ones."""
        self._b[b"off_copy_ids"].clear()
        self._b[b"off_walks"].clear()

    def _stack(self, stack_id: int) -> tuple[int, ...]:
        """The addresses under a stack id, read from the kernel once per id.

        Reading costs a map lookup per id and threads block at the same few
        places over and over. An id keeps its stack for the map's life:
        `off_stacks` is never cleared and get_stackid without
        BPF_F_REUSE_STACKID never replaces a bucket's stack (a colliding
        stack gets -EEXIST instead and is spilled to `off_spilled` under an
        id never reused), so the cache cannot go stale.
        """
        if stack_id < 0:
            return ()
        addrs = self._walked.get(stack_id)
        if addrs is None:
            try:
                if stack_id & SPILLED_ID:
                    spill = self._spilled[ctypes.c_uint32(stack_id)]
                    addrs = tuple(spill.ips[:min(spill.frames, len(spill.ips))])
                else:
                    addrs = tuple(self._stacks.walk(stack_id))
            except KeyError:
                return ()
            if len(self._walked) >= STACK_CACHE_LIMIT:
                self._walked.clear()
            self._walked[stack_id] = addrs
        return addrs

    def drain_aggregates(self) -> None:
        """Moves the kernel's sums of short intervals into `events`."""
        table = self._b[b"off_agg"]
        old = self._gen
        self._gen = old + 1
        self._b[b"off_gen"][ctypes.c_int(0)] = ctypes.c_uint32(self._gen)
        time.sleep(0.0005)  # let programs that read the old generation finish
        done = []
        for kb, vb in _entries(table):
            k = AGG_KEY.unpack(kb)
            if k.gen != old:
                continue
            v = AGG_VAL.unpack(vb)
            done.append(kb)
            self.events.append(
                OffCpuEvent(v.last_in - v.blocked_ns // max(v.count, 1), k.pid, k.tid, v.cpu,
                            comm_str(v.comm), k.state, v.blocked_ns, v.runq_ns, v.count,
                            self._stack(k.kstack), self._stack(k.ustack), k.ucopy, k.rt_stack,
                            k.lock_wait, k.link_trace_id, k.link_span_id)
            )
        _delete(table, done)

    def flush_in_progress(self, now_ns: int) -> None:
        """Ends the intervals of threads still off the CPU, at `now_ns`."""
        for k, s in list(self._b[b"off_start"].items()):
            if s.ts_out >= now_ns:
                continue
            blocked, runq = split_interval(s.state, s.ts_out, s.ts_wake, now_ns)
            self.events.append(
                OffCpuEvent(s.ts_out, s.tgid, k.value, s.cpu, comm_str(bytes(s.comm)), s.state,
                            blocked, runq, 1, self._stack(s.kstack), self._stack(s.ustack),
                            s.ucopy, s.rt_stack, s.lock_wait, bytes(s.link.trace_id),
                            bytes(s.link.span_id),
                            self._wait(s.wait))
            )

    def take(self) -> list[OffCpuEvent]:
        out, self.events = self.events, []
        return out


def _entries(table) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of a hash map, as bytes.

    One batched lookup (Linux 5.6+) instead of two system calls and several
    ctypes objects per key: draining the sums was a tenth of the agent's CPU.
    """
    try:
        return [(bytes(k), bytes(v)) for k, v in table.items_lookup_batch()]
    except Exception:  # noqa: BLE001 - older kernel: no batch operations
        return [(bytes(k), bytes(v)) for k, v in table.items()]


def _delete(table, keys: list[bytes]) -> None:
    """Deletes `keys` (raw bytes) from a hash map, batched when the kernel can."""
    if not keys:
        return
    try:
        table.items_delete_batch((table.Key * len(keys)).from_buffer_copy(b"".join(keys)))
    except Exception:  # noqa: BLE001 - older kernel: no batch operations
        for kb in keys:
            try:
                del table[table.Key.from_buffer_copy(kb)]
            except KeyError:
                pass
