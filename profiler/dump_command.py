"""`flamecam dump -p PID`: what every thread of a process is doing right now.

Like `py-spy dump` and `jstack`: each thread's stack, leaf first, with
kernel, native and Python frames merged, and for a thread off the CPU how
long it has been off, why (the off-CPU reason the recorder would give) and
on what (futex, the GIL, a descriptor).

Where each part comes from, for a thread that may never run again (a hung
process), since no BPF program here can reach a sleeping thread (see
ptrace.py):

- state, kernel stack, system call and its arguments, and when the thread
  last ran: /proc/PID/task/TID/{stat,stack,syscall,sched}, read before the
  thread is touched;
- user registers: one thread at a time is stopped with ptrace for as long
  as it takes to read its registers, copy its stack and its Python frame
  chain (well under a millisecond each; the time is printed), then let go;
- names: the stack copy is unwound with the binaries' CFI (frame pointers
  where there is none), named by the symbolizer, and merged with the Python
  frames as the recorder merges them.

`--nonblocking` stops nothing: a thread blocked in a system call is unwound
from the pc and sp /proc gives (its stack does not change while it sleeps),
without its frame pointer, so stacks through code without CFI end early; a
running thread's user stack is not read. What could not be read is said per
thread, never guessed.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from runtimes.python.gil import python_offcpu_reason
from runtimes.python.locks import lock_target
from runtimes.python.merge import merge_python_frames
from runtimes.python.processes import PythonProcesses
from runtimes.python.reader import PythonProcess, RawFrame
from symbolizer import Symbolizer
from symbolizer.unwind import Unwinder
from symbolizer.unwind.walk import UnwindResult

from . import ptrace
from .cmdline import EXIT_PREREQ, EXIT_USAGE, CommandError
from .model import Frame
from .procfs import (
    MemoryReadError,
    ProcessMemory,
    ThreadStatus,
    read_maps,
    sched_clock_offset_ms,
    thread_ids,
    thread_status,
)
from .sampler.reasons import INTERRUPTIBLE, UNINTERRUPTIBLE, classify
from .sampler.syscalls import FUTEX_FIRST, syscall_name
from .sampler.targets import FdTargets, wait_target

# Stack copied per thread: enough for deep stacks, bounded by the stack's mapping.
STACK_COPY_BYTES = 512 * 1024

# States of /proc/PID/stat that mean "off the CPU, waiting", and how the
# recorder's classifier numbers them.
_WAITING = {"S": INTERRUPTIBLE, "D": UNINTERRUPTIBLE, "I": UNINTERRUPTIBLE}
_STATES = {"R": "running", "S": "sleeping", "D": "uninterruptible", "I": "idle",
           "T": "stopped", "t": "stopped by a tracer", "Z": "zombie", "X": "dead"}

# Why an unwind stopped short of the thread's root, as a user reads it.
_WALK_ENDS = {
    "end-of-copy": "the stack copy ended",
    "no-rule": "code without unwind information (and no frame pointer known)",
    "bad-frame": "a frame pointed outside the stack",
    "depth": "too deep",
    "error": "the unwinder failed",
}

_SYSCALL_ENTRIES = ("entry_SYSCALL", "do_syscall_64")

# glibc's pthread_mutex_t on x86-64: int __lock, unsigned __count, int __owner.
_MUTEX_OWNER_OFFSET = 8


@dataclass
class ThreadDump:
    tid: int
    name: str  # the runtime's name (threading's), else the kernel's comm
    comm: str
    state: str  # the /proc state letter
    frames: list[Frame] = field(default_factory=list)  # leaf first
    reason: str = ""  # off-CPU reason for a waiting thread
    syscall: str = ""
    target: str = ""
    off_cpu_s: float | None = None  # how long it has been off the CPU
    stopped_ms: float | None = None  # how long flamecam stopped it
    notes: list[str] = field(default_factory=list)  # what could not be read

    @property
    def waiting(self) -> bool:
        return self.state in _WAITING

    def as_json(self) -> dict:
        return {
            "tid": self.tid, "name": self.name, "comm": self.comm, "state": self.state,
            "state_name": _STATES.get(self.state, self.state), "reason": self.reason,
            "syscall": self.syscall, "target": self.target, "off_cpu_s": self.off_cpu_s,
            "stopped_ms": self.stopped_ms, "notes": self.notes,
            "frames": [{"name": f.name, "kind": f.kind, "module": f.module, "file": f.file,
                        "line": f.line} for f in self.frames],
        }


@dataclass
class ProcessDump:
    pid: int
    comm: str
    cmdline: str
    python: str = ""  # "3.11" when it is CPython
    threads: list[ThreadDump] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def max_stopped_ms(self) -> float:
        return max((t.stopped_ms or 0.0 for t in self.threads), default=0.0)

    def as_json(self) -> dict:
        return {"pid": self.pid, "comm": self.comm, "cmdline": self.cmdline,
                "python": self.python, "max_stopped_ms": round(self.max_stopped_ms, 3),
                "notes": self.notes, "threads": [t.as_json() for t in self.threads]}


@dataclass
class _Capture:
    """What was read of one thread's user side."""

    walk: UnwindResult | None = None  # its user stack as addresses
    py: list[RawFrame] | None = None


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _check_access(pid: int) -> None:
    if not os.path.isdir(f"/proc/{pid}"):
        raise CommandError(f"no process with pid {pid}", EXIT_USAGE)
    try:
        ProcessMemory(pid).close()
    except MemoryReadError as e:
        if not os.path.isdir(f"/proc/{pid}"):
            raise CommandError(f"no process with pid {pid}", EXIT_USAGE) from e
        raise CommandError(f"cannot read process {pid}: {os.strerror(e.errno or 13)}; "
                        "run as root (or with CAP_SYS_PTRACE)", EXIT_PREREQ) from e


def dump(pid: int, nonblocking: bool = False, python_native: bool = False) -> ProcessDump:
    """Every thread of `pid` now; raises CommandError when none can be read."""
    _check_access(pid)
    out = ProcessDump(pid, _read_text(f"/proc/{pid}/comm"), _read_text(f"/proc/{pid}/cmdline"))
    sym = Symbolizer(lines=True)
    sym.process_seen(pid)
    unwinder = Unwinder(sym.binaries)
    pys = PythonProcesses(warn=out.notes.append)
    proc: PythonProcess | None = pys.get(pid)
    if proc is not None:
        out.python = f"{proc.version[0]}.{proc.version[1]}"
    maps = read_maps(pid) or []
    mem = ProcessMemory(pid)
    stop_why = "" if nonblocking else ptrace.supported()
    if stop_why:
        out.notes.append(f"{stop_why}: user stacks only of threads blocked in a system call")
    clock_offset = sched_clock_offset_ms()
    try:
        statuses = []
        for tid in sorted(thread_ids(pid)):
            st = thread_status(pid, tid)  # before the thread is touched
            if st is not None:
                statuses.append((st, time.monotonic() * 1000))
        with _first_in_line():
            captures = {st.tid: _capture(pid, st, _Reader(mem, maps, proc, unwinder),
                                         nonblocking or bool(stop_why), nonblocking)
                        for st, _ in statuses}
    finally:
        mem.close()
    tids = {st.tid for st, _ in statuses}
    targets = FdTargets()
    for st, read_at_ms in statuses:
        t, cap = captures[st.tid]
        native: list[Frame] = []
        if cap.walk is not None:
            native = sym.user_frames(pid, cap.walk.addrs)
            if not cap.walk.complete:
                why = _WALK_ENDS.get(cap.walk.reason, cap.walk.reason)
                t.notes.append(f"user stack ends early: {why}")
        if cap.py and proc is not None:
            py = proc.symbolize(cap.py)
            native = merge_python_frames(native, list(py.frames), py.entries, python_native)
        kernel = [Frame(n, "kernel", "[kernel]") for n in _kernel_part(st)]
        t.frames = kernel + native
        t.name = (pys.thread_name(pid, st.tid) if proc is not None else None) or st.comm
        if t.waiting:
            _explain_wait(t, st, native, pid, proc, pys, targets, tids, captures)
            if st.last_ran_ms is not None and st.last_ran_ms > 0:
                t.off_cpu_s = max(0.0, (read_at_ms - clock_offset - st.last_ran_ms) / 1000)
        out.threads.append(t)
    if not out.threads:
        raise CommandError(f"no process with pid {pid}", EXIT_USAGE)
    return out


@contextmanager
def _first_in_line():
    """Runs the block at the highest nice priority when allowed (root), then as before.

    A stopped thread waits for as long as flamecam takes to let it go; on a
    busy machine that is mostly flamecam waiting for a CPU (tens of ms, seen
    here), which the priority takes away.
    """
    before = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -20)
    except OSError:
        yield
        return
    try:
        yield
    finally:
        os.setpriority(os.PRIO_PROCESS, 0, before)


def _kernel_part(st: ThreadStatus) -> tuple[str, ...]:
    """The kernel frames to show: a running thread's only when it is in a system call.

    A thread on the CPU in user code shows, at best, the interrupt it was
    caught in (`asm_sysvec_apic_timer_interrupt`), which is not where it is.
    """
    names = st.kernel_stack or ()
    if st.state in _WAITING or any(n.startswith(_SYSCALL_ENTRIES) for n in names):
        return names
    return ()


@dataclass
class _Reader:
    """What reading one thread's user side needs."""

    mem: ProcessMemory
    maps: list
    proc: PythonProcess | None
    unwinder: Unwinder

    def read(self, t: ThreadDump, ip: int, sp: int, bp: int) -> _Capture:
        stack = _copy_stack(self.mem, self.maps, sp)
        cap = _Capture(self.unwinder.unwind_result(self.mem.pid, ip, sp, bp, stack))
        if self.proc is not None:
            try:
                cap.py = self.proc.raw_stack(t.tid)
            except (MemoryReadError, ValueError) as e:
                t.notes.append(f"Python frames: {e}")
        return cap


def _capture(pid: int, st: ThreadStatus, reader: _Reader, no_stop: bool,
             asked_not_to: bool) -> tuple[ThreadDump, _Capture]:
    """Reads one thread's user stack and Python frames, stopping it only when needed.

    A thread blocked in a system call stands still: its stack is read from
    the pc and sp /proc gives, and if that walk reaches the thread's root
    (code with CFI all the way) the thread is not stopped at all. Otherwise
    (a running thread, or frame-pointer code whose walk needs rbp) it is
    stopped for its registers, unless `no_stop`.
    """
    t = ThreadDump(st.tid, st.comm, st.comm, st.state, notes=list(st.unreadable))
    if st.state in "ZX":
        return t, _Capture()
    sc = st.syscall
    cap = None
    if sc is not None and len(sc) >= 3 and st.state in _WAITING:
        cap = reader.read(t, sc[-1], sc[-2], 0)
        again = thread_status(pid, st.tid)
        still = again is not None and again.syscall == sc and again.state == st.state
        if still and cap.walk is not None and cap.walk.complete:
            return t, cap
        if not still:
            cap = None  # it moved on while being read: the copy may be torn
    if not no_stop:
        try:
            _regs, stopped, secs = ptrace.while_stopped(
                st.tid, lambda r: reader.read(t, r.ip, r.sp, r.bp))
            t.stopped_ms = secs * 1000
            return t, stopped
        except ptrace.PtraceError as e:
            t.notes.append(f"not stopped ({e.strerror}): user stack from /proc only")
    if cap is not None:
        return t, cap
    if st.state not in _WAITING:
        how = "--nonblocking" if asked_not_to else "it could not be stopped"
        t.notes.append(f"user stack not read: the thread runs ({how})")
    else:
        t.notes.append("user stack not read: /proc gave no pc and sp")
    return t, _Capture()


def _copy_stack(mem: ProcessMemory, maps: list, sp: int) -> bytes:
    """The thread's stack from `sp` up to the end of its mapping (bounded)."""
    end = sp + STACK_COPY_BYTES
    for m in maps:
        if m.start <= sp < m.end:
            end = min(end, m.end)
            break
    size = end - sp  # may be under a page: a main thread's sp near its stack's top
    while size > 0:
        try:
            return mem.read(sp, size)
        except MemoryReadError:
            size //= 2  # a guard page or a shorter mapping above
    return b""


def _explain_wait(t: ThreadDump, st: ThreadStatus, native: list[Frame], pid: int,
                  proc: PythonProcess | None, pys: PythonProcesses, targets: FdTargets,
                  tids: set[int], captures: dict) -> None:
    """Reason, system call and target of a waiting thread, as the recorder names them."""
    names = list(st.kernel_stack or ())
    t.reason = classify(_WAITING[st.state], names) if names else "other"
    sc = st.syscall
    nr, arg0 = (sc[0], sc[1]) if sc is not None and len(sc) >= 9 else (-1, 0)
    if proc is not None:
        futex = arg0 if nr >= 0 and syscall_name(nr, names) in FUTEX_FIRST else 0
        t.reason = python_offcpu_reason(t.reason, native, futex, pys.gil_range(pid))
    if nr < 0:
        return
    t.syscall = syscall_name(nr, names) if names else syscall_name(nr, ["do_syscall_64"])
    if t.syscall == "restart_syscall":
        _restarted(t, native)
    t.target = wait_target(t.syscall, t.reason, arg0, lambda fd: targets.resolve(pid, fd))
    if proc is not None and t.target.startswith("futex "):
        # a Python lock by its kind and the line that waited, as the recorder names it
        t.target = lock_target(native[::-1]) or t.target
    if t.syscall in FUTEX_FIRST and t.reason != "gil":
        owner = _mutex_owner(pid, arg0, tids)
        if owner:
            name = captures[owner][0].comm if owner in captures else ""
            t.target += f" (a mutex held by thread {owner} \"{name}\")"


# A call resumed in `restart_syscall` after a stop (SIGSTOP, a debugger, an
# earlier dump) hides its kernel frames; its libc wrapper, the user leaf,
# still names it: (wrapper name prefix, the call, a kernel function that
# tells the reason as the classifier knows it).
_RESTARTED_LEAVES = (("clock_nanosleep", "clock_nanosleep", "do_nanosleep"),
                     ("nanosleep", "clock_nanosleep", "do_nanosleep"),
                     ("futex", "futex", "futex_wait"),
                     ("ppoll", "ppoll", "do_sys_poll"),
                     ("poll", "poll", "do_sys_poll"))


def _restarted(t: ThreadDump, native: list[Frame]) -> None:
    """Names a restarted call from the thread's user leaf (its kernel stack is hidden)."""
    leaf = next((f.name for f in native if f.kind != "kernel"), "")
    bare = leaf.split("@", 1)[0].lstrip("_")
    for prefix, call, kernel_fn in _RESTARTED_LEAVES:
        if bare.startswith(prefix):
            t.syscall = call
            t.reason = classify(_WAITING[t.state], [kernel_fn])
            t.notes.append(f"{call} was restarted after a stop (a debugger, or a dump), which "
                           f"hides its kernel frames: named from its user frame {leaf}")
            return


def _mutex_owner(pid: int, uaddr: int, tids: set[int]) -> int:
    """The holder of the pthread mutex at `uaddr` (0: not one, or not known).

    Only claimed when the word is a locked mutex's (1, or 2 when contended)
    and its owner field names a thread of this process.
    """
    try:
        with ProcessMemory(pid) as mem:
            word = mem.u32(uaddr)
            owner = mem.i32(uaddr + _MUTEX_OWNER_OFFSET)
    except MemoryReadError:
        return 0
    return owner if word in (1, 2) and owner in tids else 0


# -- output -------------------------------------------------------------------
def _frame_text(f: Frame) -> str:
    if f.kind == "kernel":
        return f"{f.name} [kernel]"
    if f.file and f.line:
        return f"{f.name} ({f.file}:{f.line})"
    if f.module:
        return f"{f.name} ({os.path.basename(f.module)})"
    return f.name


def _seconds(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s / 60:.1f} min"
    return f"{s:.2f} s"


def thread_headline(t: ThreadDump) -> str:
    """`Thread 123 "name": off CPU 2.31 s, lock in futex on futex 0x... (...)`."""
    who = f'Thread {t.tid} "{t.name}"' + (f" [{t.comm}]" if t.comm != t.name else "")
    if not t.waiting:
        return f"{who}: {_STATES.get(t.state, t.state)}"
    parts = [f"off CPU {_seconds(t.off_cpu_s)}" if t.off_cpu_s is not None else "off CPU"]
    why = t.reason + (f" in {t.syscall}" if t.syscall else "")
    parts.append(why + (f" on {t.target}" if t.target else ""))
    return f"{who}: " + ", ".join(parts)


def format_dump(d: ProcessDump) -> str:
    """Plain text, one block per thread, like `py-spy dump`."""
    lines = [f"Process {d.pid}: {d.cmdline or d.comm}"]
    if d.python:
        lines.append(f"Python {d.python}")
    stopped = [t.stopped_ms for t in d.threads if t.stopped_ms is not None]
    how = (f"each stopped for at most {max(stopped):.2f} ms" if stopped
           else "none stopped")
    lines.append(f"Threads: {len(d.threads)}, {how}")
    lines.extend(f"Note: {n}" for n in d.notes)
    for t in d.threads:
        lines.append("")
        lines.append(thread_headline(t))
        lines.extend(f"    {_frame_text(f)}" for f in t.frames)
        if not t.frames:
            lines.append("    (no frames)")
        lines.extend(f"    ({n})" for n in t.notes)
    return "\n".join(lines) + "\n"
