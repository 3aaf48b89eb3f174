"""Turns raw sampler events into symbolized `Sample`s.

The recorder owns the BPF module's life and the one place where raw events
meet the unwinder (user stacks as addresses) and then the symbolizer
(names). `flamecam record` and the agent both drive it the same way:
`poll()` often, `take()` when they want samples.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import time
from collections.abc import Callable, Iterable

from runtimes import Runtime, start_runtimes
from symbolizer.unwind import UnwindChooser, Unwinder

from .model import CPU, OFFCPU, Frame, Sample, ThreadSpan, waker_kinds
from .sampler import program
from .sampler.budget import OffCpuBudget
from .sampler.events import CpuEvent, OffCpuEvent, WaitInfo
from .sampler.execs import ExecWatcher
from .sampler.offcpu import OffCpuSampler
from .sampler.oncpu import OnCpuSampler
from .sampler.options import SamplerOptions
from .sampler.reasons import classify
from .sampler.self_exclusion import SelfExclusion
from .sampler.syscalls import FD_FIRST, syscall_name
from .sampler.targets import FdTargets, fd_arg, wait_target
from .sampler.tracectx import TraceContexts
from .sampler.wakers import interrupt_waker

log = logging.getLogger("flamecam.recorder")


def mono_to_wall_ns(tries: int = 8) -> int:
    """CLOCK_REALTIME minus CLOCK_MONOTONIC, from the tightest of a few reads
    of the wall clock bracketed by two monotonic ones. Every sample's wall time
    is its monotonic time plus this: one unbracketed pair of reads, preempted
    between them on a loaded host, would put the whole recording off by the
    preemption."""
    best = None
    for _ in range(tries):
        m0 = time.monotonic_ns()
        wall = time.time_ns()
        m1 = time.monotonic_ns()
        if best is None or m1 - m0 < best[0]:
            best = (m1 - m0, wall - (m0 + m1) // 2)
    return best[1]

# Off-CPU reasons kept, by (state, kernel stack).
REASON_CACHE_LIMIT = 65_536

COUNTER_NAMES = (
    "cpu_samples", "lost_cpu", "offcpu_events", "lost_offcpu",
    "lost_offcpu_aggregate_full", "lost_offcpu_stacks", "lost_offcpu_start_full",
    "offcpu_stack_walks_saved", "offcpu_summed", "offcpu_missed_switch_in",
)


def _hex(raw: bytes) -> str:
    """An id from the kernel as the model spells it: lowercase hex, "" when all zero."""
    return raw.hex() if any(raw) else ""


class Recorder:
    """Loads the samplers on enter, detaches them on exit."""

    def __init__(self, opts: SamplerOptions | None = None, symbolizer=None):
        self.opts = opts or SamplerOptions()
        self._comm_re = re.compile(self.opts.comm) if self.opts.comm else None
        if symbolizer is None:
            from symbolizer import Symbolizer

            symbolizer = Symbolizer()
        self.sym = symbolizer
        # User stacks as addresses, from the same binaries the symbolizer names.
        self.unwinder = Unwinder(symbolizer.binaries)
        # Language runtimes (runtimes/): each process is held by at most one.
        self.runtimes: list[Runtime] = start_runtimes(self.opts)
        self._runtime_of: dict[int, Runtime] = {}
        self._b = None
        self._on: OnCpuSampler | None = None
        self._off: OffCpuSampler | None = None
        self._budget: OffCpuBudget | None = None
        self.traces: TraceContexts | None = None
        self._thread_spans: list[ThreadSpan] = []  # drained from the rings, not yet taken
        self._mono_to_wall = 0
        self._proc_names: dict[int, str] = {}
        self._stack_cache: dict[tuple, tuple[Frame, ...]] = {}
        self._folded: dict[int, tuple[tuple[Frame, ...], str, str]] = {}  # id -> folded, kinds
        self._labels: dict[tuple, dict[str, str]] = {}  # kept intervals' labels, shared
        self._noted_on = self._noted_off = 0  # events already seen by _note_arrivals
        self._polled = time.monotonic()  # when the last poll ended
        self._reasons: dict[tuple[int, tuple[int, ...]], str] = {}
        self._syscalls: dict[tuple[int, tuple[int, ...]], str] = {}
        self._interrupts: dict[tuple[int, tuple[int, ...]], str] = {}
        self._fd_targets = FdTargets()
        # Targets resolved when an interval arrived, by (tid, ts_out), until taken.
        self._wait_targets: dict[tuple[int, int], str] = {}
        self.samples_taken = {CPU: 0, OFFCPU: 0}
        self.start_ns = 0
        self.end_ns = 0  # set by take(final=True): where in-progress intervals were cut

    # -- life cycle ---------------------------------------------------------
    def __enter__(self) -> Recorder:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        # Reading a process's layout takes tens of ms: do it before loading,
        # register right after, so that early samples have runtime stacks.
        for rt in self.runtimes:
            rt.scan(self.opts.pids or None)
        self._b = program.load(self.opts, [rt.bpf_source() for rt in self.runtimes])
        for rt in self.runtimes:
            rt.bind(self._b)
        self._self = SelfExclusion(self._b)
        self._self.scan()
        # Kernel symbols are read now, not at the first kernel stack: reading
        # /proc/kallsyms (120,000+ lines) costs 0.15-0.25 s, which the first
        # busy second of an always-on agent paid on top of its events.
        self.sym.kallsyms  # noqa: B018 - loads them
        self.unwinder.chooser = UnwindChooser(self._b, self.opts.unwind,
                                              self.opts.stack_copy_bytes)
        if self.opts.trace_links:
            self.traces = TraceContexts(self._b, only=self.opts.pids or None)
            self.traces.listen()
            self._scan_tables()
        # Processes named with -p are judged by their binaries before their
        # first sample, so none of it is walked the wrong way (policy.py).
        for pid in self.opts.pids:
            self.unwinder.process_seen(pid, _task_comm(pid, pid))
        # Everything the programs read is registered: sampling starts now, and
        # off-CPU time is counted from now (the driver arms the tracepoints).
        self._mono_to_wall = mono_to_wall_ns()
        self.start_ns = time.monotonic_ns() + self._mono_to_wall
        self._on = OnCpuSampler(self._b, self.opts.sample_hz)
        self._execs = ExecWatcher(self._b)
        if self.opts.off_cpu:
            self._off = OffCpuSampler(self._b, self.opts.wait_info)
            if self.opts.cpu_budget > 0:
                self._budget = OffCpuBudget(self.opts.cpu_budget)

    def close(self) -> None:
        if self.traces is not None:
            self.traces.close()
        if self._b is not None:
            self._b.cleanup()
            self._b = None

    # -- collecting ---------------------------------------------------------
    def poll(self, timeout_ms: int = 100) -> None:
        """Waits `timeout_ms`, then reads what the ring buffers hold.

        The samplers' programs never wake us (see RB_FLAGS in bpf/common.h):
        one wakeup per interval costs far less than one per sample. A table
        a process announced is registered in the kernel by the listener's
        thread before the process goes on; the wait ends early then, so the
        runtimes look at that process at once (`_table_found`).
        """
        end = time.monotonic() + timeout_ms / 1000
        while (left := end - time.monotonic()) > 0:
            if self.traces is None:
                time.sleep(left)
                break
            if self.traces.wait_found(left):
                self._consume()
                self._scan_tables()
        self._consume()
        if self._budget is not None:
            self._budget_burst()
        self._fd_targets.new_round()
        self._note_arrivals()
        if self.traces is not None:
            self._scan_tables()
            self._drain_thread_spans()

    def _budget_burst(self) -> None:
        """Keeps fewer intervals one by one at once when this poll's arrivals
        alone would pass the CPU budget (`OffCpuBudget.burst`)."""
        now = time.monotonic()
        every = self._budget.every
        if every != self._budget.burst(len(self._off.events) - self._noted_off,
                                       now - self._polled):
            self._off.keep_one_in(self._budget.every)
        self._polled = now

    def _scan_tables(self) -> None:
        """Looks for new thread-context tables (see `TraceContexts.scan`); the
        runtimes look at once at a process that made one."""
        self.traces.scan()
        for pid in self.traces.take_found():
            self._table_found(pid)

    def _table_found(self, pid: int) -> None:
        """A process that made a thread-context table runs the code that writes
        it (flamecam_otel is Python): the runtimes look at it now, not at the
        next look their back-off schedule allows, which can come after the
        first request the table links (a process first seen while its loader
        was still mapping libpython is rechecked 0.1, 0.35, 0.85 s later, and
        only at one of its samples)."""
        if pid in self._runtime_of:
            return
        if pid not in self._proc_names:
            self._proc_name(pid, "")  # first sight: the runtimes look, with the rest
        else:
            self._recheck(pid, now=True)

    def _consume(self) -> None:
        """Reads the ring buffers; a process that exec'd is looked at anew."""
        self._b.ring_buffer_consume()
        for pid in self._execs.take():
            self._forget(pid)

    def _note_arrivals(self) -> None:
        """Does at once what cannot wait for `take`, for events that just arrived.

        Callers may take far less often than they poll (the agent: once a
        second). A process seen for the first time is snapshotted now, while
        it surely lives (short-lived processes), and runtime stacks are named
        now, while their code objects surely exist; both are cached until the
        next take, so this costs a dict lookup per event.
        """
        on = self._on.events
        off = self._off.events if self._off is not None else []
        for events, start in ((on, self._noted_on), (off, self._noted_off)):
            for i in range(start, len(events)):
                e = events[i]
                if e.pid not in self._proc_names:
                    self._proc_name(e.pid, e.comm)
                elif not e.rt_stack and e.pid not in self._runtime_of:
                    self._recheck(e.pid)
                rt = self._runtime_of.get(e.pid)
                if rt is not None and e.rt_stack and self._wanted(e.pid, e.comm):
                    rt.stack(e.pid, e.rt_stack)
        for i in range(self._noted_off, len(off)):
            e = off[i]
            if e.wait is not None:
                self._note_wait(e)
        self._noted_on, self._noted_off = len(on), len(off)

    def _note_wait(self, e: OffCpuEvent) -> None:
        """Resolves what the wait was on while its descriptor most likely still is that."""
        w = e.wait
        # A runtime stack id exists only for a process a runtime registered.
        rt = self._runtime_of.get(w.waker_pid)
        if rt is not None and w.waker_rt and not self._self.excluded(w.waker_pid):
            rt.stack(w.waker_pid, w.waker_rt)
        key = (e.tid, e.ts_out)
        if key not in self._wait_targets and self._syscall(w.nr, e.kstack) in FD_FIRST:
            self._wait_targets[key] = self._fd_targets.resolve(e.pid, fd_arg(w.arg0))

    def take(self, final: bool = False) -> list[Sample]:
        """Symbolized samples since the last call.

        `final` also ends the intervals of threads that are still off the CPU,
        so a recording's off-CPU total covers its whole duration.
        """
        now_mono = time.monotonic_ns()
        if final:
            self.end_ns = now_mono + self._mono_to_wall
        self._consume()
        self._noted_on = self._noted_off = 0
        cpu_events = self._on.take()
        off_events: list[OffCpuEvent] = []
        if self._off is not None:
            if self._budget is not None:
                counts = dict(zip(COUNTER_NAMES, program.read_counters(self._b), strict=False))
                self._off.keep_one_in(self._budget.update(
                    counts["offcpu_events"] + counts["offcpu_summed"]))
            self._off.drain_aggregates()
            if final:
                self._off.flush_in_progress(now_mono)
            off_events = self._off.take()
            self.unwinder.absorb_copies(self._off)
        for pid in {e.pid for e in cpu_events} | {e.pid for e in off_events}:
            rt = self._runtime_of.get(pid)
            if rt is not None:
                rt.before_symbolize(pid)
        out: list[Sample] = []
        out.extend(self._cpu_samples(cpu_events))
        out.extend(self._off_samples(off_events))
        self._wait_targets.clear()
        self._stack_cache.clear()
        self._folded.clear()
        self._labels.clear()
        for rt in self.runtimes:
            rt.end_batch()
        self._forget_exited()
        return out

    def has_cpu_samples(self) -> bool:
        """Whether an on-CPU sample has arrived since the last take (cheap)."""
        return bool(self._on.events)

    def take_thread_spans(self) -> list[ThreadSpan]:
        """The (thread, span, from, to) intervals processes reported since the last call.

        Drained from the processes' thread-context rings at every poll, on
        the samplers' clock, in Unix ns exactly as samples are.
        """
        self._drain_thread_spans()
        out, self._thread_spans = self._thread_spans, []
        return out

    def _drain_thread_spans(self) -> None:
        """Reads the rings now, naming threads while they surely live (pool workers end)."""
        if self.traces is None:
            return
        for r in self.traces.drain():
            comm = _task_comm(r.pid, r.tid)
            if not self._wanted(r.pid, comm):
                continue
            self._thread_spans.append(ThreadSpan(
                r.pid, r.tid, r.trace_id.hex(), r.span_id.hex(),
                r.start_mono + self._mono_to_wall, r.end_mono + self._mono_to_wall,
                self._thread_name(r.pid, r.tid, comm), r.approximate))

    @property
    def stats(self) -> dict[str, int]:
        counts = program.read_counters(self._b) if self._b is not None else \
            [0] * program.COUNTERS
        stats = dict(zip(COUNTER_NAMES, counts, strict=False))
        if self._off is not None:  # ids that named no stack when user space read them
            stats["lost_offcpu_stacks"] += self._off.unreadable_stacks
            # What reached user space besides intervals (bench/agent.py).
            stats["offcpu_stacks_read"] = self._off.stacks_read
            stats["offcpu_stack_copies"] = self._off.copies_received
            stats["offcpu_stack_copy_bytes"] = self._off.copy_bytes
        stats["lost"] = sum(v for k, v in stats.items() if k.startswith("lost"))
        # Processes a runtime should have read but could not (each logged once).
        stats["runtime_unreadable"] = sum(rt.unreadable for rt in self.runtimes)
        # 1 in how many off-CPU intervals above the threshold are kept now (CPU budget).
        stats["offcpu_keep_every"] = self._budget.every if self._budget is not None else 1
        if self._b is not None and self.traces is not None:
            stats["tracectx_torn"] = sum(self._b[b"trace_torn"][ctypes.c_int(0)])
            stats["tracectx_processes"] = len(self.traces.pids)
            stats["tracectx_lost_records"] = self.traces.lost_records
            stats["tracectx_bad_records"] = self.traces.bad_records
            stats["tracectx_unreadable"] = self.traces.unreadable
            stats["tracectx_refused"] = self.traces.refused
        return stats

    # -- conversion ---------------------------------------------------------
    def _wanted(self, pid: int, thread_comm: str) -> bool:
        if self._self.excluded(pid):
            return False
        if self._comm_re is None:
            return True
        return bool(
            self._comm_re.search(thread_comm) or self._comm_re.search(self._proc_name(pid, ""))
        )

    def _proc_name(self, pid: int, fallback: str) -> str:
        name = self._proc_names.get(pid)
        if name is None:
            try:
                with open(f"/proc/{pid}/comm") as f:
                    name = f.read().strip()
            except OSError:
                name = fallback
            self._proc_names[pid] = name
            if self.traces is not None:
                self.traces.check(pid)
            # Runtimes first: one may write what the symbolizer's snapshot
            # reads (a JVM's perf map, dumped when it is first seen).
            for rt in self.runtimes:
                if rt.process_seen(pid):
                    self._runtime_of[pid] = rt
                    break
            self.sym.process_seen(pid)
            self.unwinder.process_seen(pid, name or fallback)
        return name or fallback

    def _recheck(self, pid: int, now: bool = False) -> None:
        """A process no runtime held at first sight may be one by now (its loader was not done)."""
        for rt in self.runtimes:
            if rt.recheck(pid, now):
                self._runtime_of[pid] = rt
                # Its maps changed since first sight (libpython, libjvm, a perf map).
                self.sym.process_seen(pid)
                return

    def _frames(self, pid: int, kstack: tuple[int, ...], ustack: tuple[int, ...],
                rt_stack: int = 0):
        key = (pid, kstack, ustack, rt_stack)
        frames = self._stack_cache.get(key)
        if frames is None:
            leaf_first: list[Frame] = []
            if kstack:
                leaf_first.extend(self.sym.kernel_frames(kstack))
            user = self.sym.user_frames(pid, ustack) if ustack else []
            rt = self._runtime_of.get(pid)
            if rt is not None:
                user = rt.merge(pid, user, rt_stack)
            leaf_first.extend(user)
            frames = tuple(reversed(leaf_first))
            self._stack_cache[key] = frames
        return frames

    def _thread_name(self, pid: int, tid: int, comm: str) -> str:
        """The runtime's name for a thread (threading's, Java's), else its comm."""
        rt = self._runtime_of.get(pid)
        return (rt.thread_name(pid, tid) if rt is not None else None) or comm

    def _cpu_samples(self, events: Iterable[CpuEvent]) -> list[Sample]:
        period = 1_000_000_000 / self.opts.sample_hz
        out = []
        for e in events:
            if not self._wanted(e.pid, e.comm):
                continue
            comm = self._proc_name(e.pid, e.comm)
            stack = self._frames(e.pid, e.kstack, self.unwinder.cpu_stack(e, comm), e.rt_stack)
            out.append(Sample(
                kind=CPU, ts_ns=e.ts + self._mono_to_wall, pid=e.pid, tid=e.tid, cpu=e.cpu,
                comm=comm, thread_name=self._thread_name(e.pid, e.tid, e.comm),
                stack=stack, value_ns=round(period * e.weight),
                trace_id=_hex(e.trace_id), span_id=_hex(e.span_id),
            ))
        self.samples_taken[CPU] += len(out)
        return out

    def _off_samples(self, events: Iterable[OffCpuEvent]) -> list[Sample]:
        out = []
        for e in events:
            if not self._wanted(e.pid, e.comm):
                continue
            comm = self._proc_name(e.pid, e.comm)  # first: a new process's runtime is known
            stack = self._frames(e.pid, e.kstack, self.unwinder.off_cpu_stack(e), e.rt_stack)
            ts = e.ts_out + self._mono_to_wall
            common = dict(kind=OFFCPU, pid=e.pid, tid=e.tid, cpu=e.cpu, comm=comm,
                          thread_name=self._thread_name(e.pid, e.tid, e.comm),
                          stack=stack, count=e.count, trace_id=_hex(e.trace_id),
                          span_id=_hex(e.span_id))
            if e.blocked_ns > 0:
                reason = self._reason(e.state, e.kstack)
                rt = self._runtime_of.get(e.pid)
                if rt is not None:
                    reason = rt.reason(e.pid, reason, bool(e.lock_wait))
                labels = self._wait_labels(e, reason, stack) if e.wait is not None else {}
                if e.kept_every > 1:  # sampled past the CPU budget: weigh it back
                    labels["kept_1_in"] = str(e.kept_every)
                if labels:  # one dict per distinct set: the agent encodes each once
                    labels = self._labels.setdefault(tuple(labels.items()), labels)
                out.append(Sample(ts_ns=ts, value_ns=e.blocked_ns, reason=reason,
                                  labels=labels, **common))
            if e.runq_ns > 0:
                out.append(Sample(ts_ns=ts + e.blocked_ns, value_ns=e.runq_ns,
                                  reason="runqueue", **common))
        self.samples_taken[OFFCPU] += len(out)
        return out

    def _by_kernel_stack(self, cache: dict, key: tuple, kstack: tuple[int, ...],
                         judge: Callable[[list[str]], str]) -> str:
        """`judge(kernel frame names)`, computed once per `key` (which holds `kstack`).

        Kernel names do not change while the agent runs, and the same few
        stacks block (and wake) all the time.
        """
        v = cache.get(key)
        if v is None:
            v = judge([f.name for f in self.sym.kernel_frames(kstack)] if kstack else [])
            if len(cache) >= REASON_CACHE_LIMIT:
                cache.clear()
            cache[key] = v
        return v

    def _reason(self, state: int, kstack: tuple[int, ...]) -> str:
        """The kernel's off-CPU reason for a blocking stack."""
        return self._by_kernel_stack(self._reasons, (state, kstack), kstack,
                                     lambda names: classify(state, names))

    def _syscall(self, nr: int, kstack: tuple[int, ...]) -> str:
        """The system call of a blocking kernel stack ("" when none)."""
        return self._by_kernel_stack(self._syscalls, (nr, kstack), kstack,
                                     lambda names: syscall_name(nr, names))

    def _interrupt(self, w: WaitInfo) -> str:
        """Which interrupt woke the thread ("" when a thread did)."""
        return self._by_kernel_stack(self._interrupts, (w.waker_tid == 0, w.waker_kstack),
                                     w.waker_kstack,
                                     lambda names: interrupt_waker(names, w.waker_tid))

    def _wait_labels(self, e: OffCpuEvent, reason: str, stack: tuple[Frame, ...]
                     ) -> dict[str, str]:
        """Why an interval kept one by one waited: system call, target, waker (pprof labels).

        `waker_stack` is the waker's stack at the wakeup, root first, in
        folded form; an interrupt's is its kernel part only (the user part
        belongs to whatever it interrupted).
        """
        w = e.wait
        out: dict[str, str] = {}
        call = self._syscall(w.nr, e.kstack)
        if call:
            out["syscall"] = call
            target = self._target(e, call, reason, stack)
            if target:
                out["target"] = target
        if not w.woken or not w.waker_kstack:
            # Not walked (the wait was under the threshold when it ended, and
            # run-queue delay made it long): an interrupt cannot be told from
            # the task it interrupted, so no waker is named.
            return out
        kind = self._interrupt(w)
        if kind:
            out["waker_comm"] = kind
            out["waker_kind"] = "interrupt"
            frames = self._frames(0, w.waker_kstack, ())  # its kernel part, cached
        else:
            out["waker_kind"] = "thread"
            out["waker_pid"] = str(w.waker_pid)
            out["waker_tid"] = str(w.waker_tid)
            out["waker_comm"] = w.waker_comm
            out["waker_thread"] = self._thread_name(w.waker_pid, w.waker_tid, w.waker_comm)
            rt_stack = 0 if self._self.excluded(w.waker_pid) else w.waker_rt
            ustack = self.unwinder.copied_stack(w.waker_ucopy, w.waker_ustack)
            frames = self._frames(w.waker_pid, w.waker_kstack, ustack, rt_stack)
        if frames:
            # Folded once per stack and take: a timer wakes thousands of sleeps alike.
            hit = self._folded.get(id(frames))
            if hit is None or hit[0] is not frames:
                hit = self._folded[id(frames)] = (frames, ";".join(f.folded_name()
                                                                   for f in frames),
                                                  waker_kinds(frames))
            out["waker_stack"] = hit[1]
            out["waker_kinds"] = hit[2]
        return out

    def _target(self, e: OffCpuEvent, call: str, reason: str, stack: tuple[Frame, ...]) -> str:
        def fd_target(fd: int) -> str:
            hit = self._wait_targets.get((e.tid, e.ts_out))
            return hit if hit is not None else self._fd_targets.resolve(e.pid, fd)

        target = wait_target(call, reason, e.wait.arg0, fd_target)
        rt = self._runtime_of.get(e.pid) if target.startswith("futex ") else None
        # A runtime's lock (a threading.Lock and the line waiting on it) says more than its futex.
        return (rt.lock_target(e.pid, stack) or target) if rt is not None else target

    def _forget_exited(self) -> None:
        """Drops the state of processes that exited (checked once per take).

        One listing of /proc costs less than a stat per known process.
        """
        try:
            live = set(os.listdir("/proc"))
        except OSError:
            return
        self._self.forget_exited(live)
        for pid in list(self._proc_names):
            if str(pid) not in live:
                self._forget(pid)
        if self.traces is not None:
            for pid in self.traces.pids:
                if str(pid) not in live:
                    self.traces.forget(pid)

    def _forget(self, pid: int) -> None:
        """Drops what is known of `pid`: it exited, or exec'd another program."""
        self._proc_names.pop(pid, None)
        self._fd_targets.forget(pid)
        self._self.forget(pid)
        self.sym.process_exited(pid)
        self.unwinder.process_exited(pid)
        self._runtime_of.pop(pid, None)
        for rt in self.runtimes:
            rt.process_exited(pid)
        if self.traces is not None:  # an exec'd image has no table (or a new one)
            self.traces.forget(pid)


def _task_comm(pid: int, tid: int) -> str:
    try:
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""
