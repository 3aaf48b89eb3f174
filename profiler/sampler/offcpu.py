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
import errno
import os
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
        self._agg = MapEntries(b[b"off_agg"])
        self.events: list[OffCpuEvent] = []
        # Stack copies by id; intervals refer to them for as long as a thread
        # keeps blocking at the same place, so the recorder keeps what it unwinds.
        self.copies: dict[int, StackCopy] = {}
        self._walked: dict[int, tuple[int, ...]] = {}  # stack id -> addresses
        self.unreadable_stacks = 0  # ids the kernel gave that named no stack when read
        # Work that arrived, for the recorder's stats: stack ids read from the
        # kernel (new stacks), stack copies and their bytes.
        self.stacks_read = self.copies_received = self.copy_bytes = 0
        b[b"off_events"].open_ring_buffer(self._on_event)
        b[b"off_copies"].open_ring_buffer(self._on_copy)
        # Intervals are measured from here: everything they read is registered.
        b[b"off_armed"][ctypes.c_int(0)] = ctypes.c_uint32(1)

    def _on_copy(self, _ctx, data, size) -> int:
        c = OFF_COPY.unpack(ctypes.string_at(data, OFF_COPY.size))
        # The stack alone, copied once (a copy is up to 16 KiB).
        stack = ctypes.string_at(data + OFF_COPY.size, max(0, min(c.bytes, size - OFF_COPY.size)))
        self.copies[c.id] = StackCopy(c.pid, (c.regs_ip, c.regs_sp, c.regs_bp), stack)
        self.copies_received += 1
        self.copy_bytes += len(stack)
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
                        self._wait(WAIT_INFO.unpack(buf, OFF_EVENT_WAIT)) if self._wait_info
                        else None, e.kept_every or 1)
        )
        return 0

    def _wait(self, w) -> WaitInfo | None:
        """`w`: a struct wait_info, as WAIT_INFO.unpack or bcc's ctypes struct reads it."""
        if not self._wait_info:
            return None
        return WaitInfo(w.nr, w.arg0, w.arg1, w.waker_pid, w.waker_tid,
                        comm_str(bytes(w.waker_comm)), self._stack(w.waker_kstack),
                        self._stack(w.waker_ustack), w.waker_rt, w.waker_ucopy)

    def loss_reasons(self) -> dict[int, int]:
        """How stacks were lost or saved, by LOSS_* index of bpf/offcpu.c.

        Only a debug build counts them (FLAMECAM_LOSS_DEBUG=1 in the
        environment at load); otherwise empty. Used to find which path lost a
        stack when `lost_offcpu_stacks` is not 0.
        """
        try:
            table = self._b[b"off_loss_why"]
        except KeyError:
            return {}
        return {k.value: v.value for k, v in table.items() if v.value}

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
        id made from its content, in a map that never drops an entry), so
        the cache cannot go stale, and an id the kernel gave always reads.
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
                self.unreadable_stacks += 1
                return ()
            self.stacks_read += 1
            if len(self._walked) >= STACK_CACHE_LIMIT:
                self._walked.clear()
            self._walked[stack_id] = addrs
        return addrs

    def drain_aggregates(self) -> None:
        """Moves the kernel's sums of short intervals into `events`."""
        old = self._gen
        self._gen = old + 1
        self._b[b"off_gen"][ctypes.c_int(0)] = ctypes.c_uint32(self._gen)
        time.sleep(0.0005)  # let programs that read the old generation finish
        keys, vals = self._agg.entries()
        done = []
        ksize, vsize = self._agg.key_size, self._agg.leaf_size
        for i in range(len(keys) // ksize):
            k = AGG_KEY.unpack(keys, i * ksize)
            if k.gen != old:
                continue
            v = AGG_VAL.unpack(vals, i * vsize)
            done.append(i)
            # Placed to end at the last switch-in (the recorder puts the blocked
            # part first, then the run-queue part): exact for one interval, and
            # a sum's intervals all lie before last_in and after the first of
            # them left, so under one span it stays inside the span's thread
            # time (the trace view clips off-CPU time to it). Ending a mean
            # interval before last_in pushed a sum's tail past the span's end.
            self.events.append(
                OffCpuEvent(v.last_in - v.blocked_ns - v.runq_ns, k.pid, k.tid, v.cpu,
                            comm_str(v.comm), k.state, v.blocked_ns, v.runq_ns, v.count,
                            self._stack(k.kstack), self._stack(k.ustack), k.ucopy, k.rt_stack,
                            k.lock_wait, k.link_trace_id, k.link_span_id)
            )
        self._agg.delete([keys[i * ksize:(i + 1) * ksize] for i in done])

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


class MapEntries:
    """Every (key, value) of a hash map at once, into buffers made once.

    One batched lookup (Linux 5.6+) instead of two system calls and several
    ctypes objects per key. bcc's `items_lookup_batch` allocates (and zeroes)
    arrays for the map's every entry at each call, 2 MiB for the sums, and
    builds two ctypes objects per entry: draining the sums once a second
    that way was a fifth of a busy agent's CPU.
    """

    def __init__(self, table) -> None:
        from bcc.libbcc import lib

        self._lib, self._table, self._fd = lib, table, table.map_fd
        self.key_size, self.leaf_size = ctypes.sizeof(table.Key), ctypes.sizeof(table.Leaf)
        self._max = table.max_entries
        self._keys = ctypes.create_string_buffer(self.key_size * self._max)
        self._vals = ctypes.create_string_buffer(self.leaf_size * self._max)
        self._batch = ctypes.c_uint32(0)
        self._count = ctypes.c_uint32(0)
        self._batched = True

    def entries(self) -> tuple[bytes, bytes]:
        """(keys, values), each entry's bytes back to back, in the same order."""
        if self._batched:
            try:
                n = self._lookup_batch()
                return (ctypes.string_at(self._keys, n * self.key_size),
                        ctypes.string_at(self._vals, n * self.leaf_size))
            except OSError:  # older kernel: no batch operations
                self._batched = False
        items = list(self._table.items())
        return (b"".join(bytes(k) for k, _ in items), b"".join(bytes(v) for _, v in items))

    def _lookup_batch(self) -> int:
        total = 0
        while total < self._max:
            self._count.value = self._max - total
            res = self._lib.bpf_lookup_batch(
                self._fd, ctypes.byref(self._batch) if total else None,
                ctypes.byref(self._batch), ctypes.byref(self._keys, self.key_size * total),
                ctypes.byref(self._vals, self.leaf_size * total), ctypes.byref(self._count))
            err = ctypes.get_errno()
            total += self._count.value
            if res != 0:
                if err != errno.ENOENT:  # ENOENT: the whole map was read
                    raise OSError(err, os.strerror(err))
                break
            if self._count.value == 0:  # no progress (a bucket grew under us)
                break
        return total

    def delete(self, keys: list[bytes]) -> None:
        """Deletes `keys` (raw bytes, as `entries` gave them), batched when the kernel can."""
        if not keys:
            return
        if self._batched:
            buf = ctypes.create_string_buffer(b"".join(keys), self.key_size * len(keys))
            count = ctypes.c_uint32(len(keys))
            if self._lib.bpf_delete_batch(self._fd, ctypes.byref(buf), ctypes.byref(count)) == 0:
                return
            keys = keys[count.value:]  # what it deleted before an error
        for kb in keys:
            try:
                del self._table[self._table.Key.from_buffer_copy(kb)]
            except KeyError:
                pass
