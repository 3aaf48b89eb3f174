"""User stacks as addresses, from what the samplers captured.

A sample's user stack comes either from the kernel's frame-pointer walk or,
for processes whose code lacks frame pointers, from a copy of the stack
unwound here with the binaries' CFI. This is where the recorder turns a raw
event into the addresses the symbolizer then names; it reads binaries (CFI,
and symbols only to see where a stack starts), never names frames.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import TYPE_CHECKING

from profiler.sampler.events import CpuEvent, OffCpuEvent

from ..binaries import Binaries
from ..cache import BlobCache
from ..objects import ObjectFile
from ..process import FRAME_CACHE_LIMIT, ProcessState
from .cfi import NO_RULE, DiskCache, Rule
from .framepointers import FORMAT_VERSION as FP_FORMAT
from .framepointers import has_frame_pointers, is_runtime
from .policy import UnwindChooser, starts_stack
from .tables import UnwindTable, open_unwind_table
from .walk import (
    FRAME_POINTER_RULE,
    MAX_DEPTH,
    PY_TRAMPOLINE_RULE,
    UnwindResult,
    join_fp_walk,
    walk,
)

if TYPE_CHECKING:
    from profiler.sampler.offcpu import OffCpuSampler

# Unwound off-CPU stack copies kept; the kernel refers to a copy for as long
# as a thread keeps blocking at the same place.
COPY_CACHE_LIMIT = 100_000


class Unwinder:
    """Stack addresses (leaf first) for samples, sharing `binaries` with the symbolizer.

    `chooser` (optional) is the policy that switches processes from frame
    pointers to stack copies; the recorder sets it once the programs are loaded.
    """

    def __init__(self, binaries: Binaries, chooser: UnwindChooser | None = None) -> None:
        self.binaries = binaries
        self.chooser = chooser
        self._disk = DiskCache(binaries.cache_dir) if binaries.cache_dir else None
        self._fp_disk = BlobCache(binaries.cache_dir, f"framepointers-v{FP_FORMAT}") \
            if binaries.cache_dir else None
        # off-CPU stack copy id -> (unwound addresses, reached the root, same frame)
        self._copy_addrs: dict[int, tuple[tuple[int, ...], bool, bool]] = {}
        self.stats = binaries.stats
        for k in ("cfi_compiled", "cfi_from_disk", "cfi_indexed"):
            self.stats.setdefault(k, 0)

    # -- samples ------------------------------------------------------------
    def cpu_stack(self, e: CpuEvent, comm: str) -> tuple[int, ...]:
        """The user stack of an on-CPU sample: the CFI walk of its stack copy,
        joined to the frame-pointer walk where that continues it
        (`join_fp_walk`); with no copy, the frame-pointer walk. Stacks of
        processes still on frame pointers are counted by the policy.

        Length is no guide: without frame pointers, the kernel's frame-pointer
        walk reads garbage past the first frames and can be the longer one.
        """
        on_fp = self.chooser is not None and self.chooser.undecided(e.pid)
        addrs = self.user_stack(e.pid, e.ustack, *e.regs, e.stack, leaf=on_fp) \
            if e.stack else e.ustack
        if addrs and on_fp:
            self.chooser.observe(e.pid, comm, self.reaches_root(e.pid, addrs))
        return tuple(addrs)

    def process_seen(self, pid: int, comm: str) -> None:
        """Judges a process new to the policy by its binaries (`copy_reason`),
        before its stacks are looked at."""
        if self.chooser is not None and self.chooser.mode == "auto" \
                and not self.chooser.judged(pid):
            self.chooser.judge(pid, comm, self.copy_reason(pid))

    def absorb_copies(self, off: OffCpuSampler) -> None:
        """Unwinds the off-CPU stack copies that arrived, once each, and drops the bytes."""
        for cid, copy in off.copies.items():
            if len(self._copy_addrs) >= COPY_CACHE_LIMIT:
                # The kernel refers to copies by id from two maps: forget them
                # there too, so that no id outlives what it names.
                self._copy_addrs.clear()
                off.forget_copies()
            res = self.unwind_result(copy.pid, *copy.regs, copy.stack)
            self._copy_addrs[cid] = (tuple(res.addrs), res.complete,
                                     self._same_frame(copy.pid, res, copy.regs[2]))
        off.copies.clear()

    def off_cpu_stack(self, e: OffCpuEvent) -> tuple[int, ...]:
        """An off-CPU user stack: unwound from its copy when it has one."""
        return self.copied_stack(e.ucopy, e.ustack)

    def copied_stack(self, ucopy: int, ustack: tuple[int, ...]) -> tuple[int, ...]:
        """A user stack sent as an off-CPU stack copy (blocked or waker): unwound, else the walk."""
        hit = self._copy_addrs.get(ucopy) if ucopy else None
        if hit is None:
            return ustack
        return tuple(join_fp_walk(*hit[:2], ustack, hit[2]))

    def process_exited(self, pid: int) -> None:
        if self.chooser is not None:
            self.chooser.forget(pid)

    # -- walks ----------------------------------------------------------------
    def unwind(self, pid: int, ip: int, sp: int, bp: int, stack: bytes) -> list[int]:
        """User stack addresses (leaf first) from registers and a stack copy.

        `stack` is a copy of the thread's memory starting at `sp`. The result
        feeds `Symbolizer.user_frames` as is.
        """
        return self.unwind_result(pid, ip, sp, bp, stack).addrs

    def unwind_result(self, pid: int, ip: int, sp: int, bp: int, stack: bytes,
                      max_depth: int = MAX_DEPTH,
                      meet: Container[int] | None = None) -> UnwindResult:
        """Like `unwind`, also saying whether the thread's root was reached."""
        st = self.binaries.process(pid)

        def rule_for(pc: int) -> Rule:
            return self._cached_rule(st, pc)

        try:
            res = walk(ip, sp, bp, stack, rule_for, max_depth, meet)
        except Exception:  # noqa: BLE001 - a bad sample costs its stack, never the profile
            self.stats["unwind_errors"] = self.stats.get("unwind_errors", 0) + 1
            return UnwindResult([ip], False, "error")
        if not res.complete and len(res.addrs) > 1 \
                and starts_stack(self._symbol_at(st, res.addrs[-1] - 1)):
            # CFI did not mark the end, but the walk stopped where stacks start.
            res.complete, res.reason = True, "root"
        return res

    def user_stack(self, pid: int, fp_addrs: Sequence[int], ip: int, sp: int, bp: int,
                   stack: bytes, leaf: bool = False) -> list[int]:
        """The user stack of a sample that has both a frame-pointer walk and a
        stack copy: the CFI unwind, extended as `join_fp_walk` allows.

        `leaf`: a leaf copy of a process whose code has frame pointers, so the
        frame-pointer walk is right but for the frames it skips; the CFI walk
        stops where it meets it (a few frames instead of the whole copy).
        """
        if not stack:
            return list(fp_addrs)
        if leaf and fp_addrs and fp_addrs[0] == ip \
                and self._cached_rule(self.binaries.process(pid), ip) == FRAME_POINTER_RULE:
            # The leaf's frame is set up (CFA = rbp + 16): the frame-pointer
            # walk skipped nothing. Most samples of such a process; no walk.
            return list(fp_addrs)
        meet = frozenset(fp_addrs[1:]) if leaf else None
        res = self.unwind_result(pid, ip, sp, bp, stack, meet=meet)
        return join_fp_walk(res.addrs, res.complete, fp_addrs, self._same_frame(pid, res, bp))

    def _same_frame(self, pid: int, res: UnwindResult, bp: int) -> bool:
        """Whether the CFI walk ran out of copy in a frame that the kernel's
        frame-pointer walk (which began at `bp`) begins at: a function built
        with frame pointers whose rbp is still `bp` (`join_fp_walk`)."""
        if res.reason != "end-of-copy" or res.bp != bp or not res.sp <= bp:
            return False
        pc = res.addrs[-1] - (len(res.addrs) > 1)
        st = self.binaries.process(pid)
        m = self.binaries.find(st, pc)
        obj = self.binaries.object_for(st, m) if m is not None and m.is_file else None
        return obj is not None and has_frame_pointers(obj, self._fp_disk)

    def reaches_root(self, pid: int, addrs: Sequence[int]) -> bool:
        """Whether a frame-pointer walk (leaf first; [0] exact ip, then return
        addresses) has the whole stack (`policy.starts_stack`)."""
        if not addrs:
            return False
        st = self.binaries.process(pid)
        last = addrs[-1] - 1 if len(addrs) > 1 else addrs[-1]
        return starts_stack(self._symbol_at(st, last), frame_pointers=True)

    def _symbol_at(self, st: ProcessState, pc: int) -> str:
        """The raw symbol at `pc`, cached per process like the rules."""
        symbols = st.symbols
        hit = symbols.get(pc)
        if hit is None:
            if len(symbols) >= FRAME_CACHE_LIMIT:
                symbols.clear()
            hit = symbols[pc] = self.binaries.symbol_at(st, pc)
        return hit

    def _cached_rule(self, st: ProcessState, pc: int) -> Rule:
        """`_rule_for`, cached per process (the cache goes when the maps are re-read)."""
        rules = st.rules
        r = rules.get(pc)
        if r is None:
            r = self._rule_for(st, pc)
            rules = st.rules
            if len(rules) >= FRAME_CACHE_LIMIT:
                rules.clear()
            rules[pc] = r
        return r

    def _rule_for(self, st: ProcessState, pc: int) -> Rule:
        m = self.binaries.find(st, pc)
        if m is None:
            return NO_RULE
        if m.is_file or m.path == "[vdso]":
            obj = self.binaries.object_for(st, m)
            if obj is None:
                return NO_RULE
            vaddr = obj.vaddr(m.file_offset(pc))
            if vaddr is None:
                return NO_RULE
            return self.cfi(obj).lookup(vaddr)
        pm = self.binaries.perf_map(st)
        if pm is not None:
            hit = pm.lookup(pc)
            if hit is None and pm.refresh():
                st.rules.clear()
                hit = pm.lookup(pc)
            if hit is not None and hit[0].startswith("py::"):
                return PY_TRAMPOLINE_RULE
        return NO_RULE

    def cfi(self, obj: ObjectFile) -> UnwindTable:
        """The binary's unwind rules (see tables.py), opened once per build-id."""
        table = obj.extra.get("cfi")
        if table is None:
            try:
                table, compiled = open_unwind_table(obj.elf, obj.debug_elf, obj.key, self._disk)
            except Exception:  # noqa: BLE001 - never let bad CFI break a profile
                table, compiled = UnwindTable(None, None, ""), False
            kind = ("cfi_compiled" if compiled else "cfi_from_disk"
                    if table.source.startswith("disk:") else "cfi_indexed")
            self.stats[kind] = self.stats.get(kind, 0) + 1
            obj.extra["cfi"] = table
            self.binaries.grew(obj)
        return table  # type: ignore[return-value]

    # -- frame pointers -------------------------------------------------------
    def frame_pointers(self, pid: int) -> dict[str, bool]:
        """Per executable binary of the process: built with frame pointers?"""
        st = self.binaries.process(pid)
        if not st.index.maps:
            self.binaries.process_seen(pid)
        out = {}
        for m in st.index.maps:
            if m.is_exec and m.is_file:
                obj = self.binaries.object_for(st, m)
                if obj is not None:
                    out[obj.name] = has_frame_pointers(obj, self._fp_disk)
        return out

    def copy_reason(self, pid: int) -> str:
        """Why this process's user stacks need whole copies for CFI unwinding
        ('' when the frame-pointer walk with leaf copies will do).

        A binary other than the C/C++ runtimes lacks frame pointers (the
        kernel's frame-pointer walk would stop in it; the runtimes' functions
        are leaves or near them, which leaf copies cover), or the process runs
        CPython perf trampolines (which push no frame pointer).
        """
        no_fp = sorted(name for name, fp in self.frame_pointers(pid).items()
                       if not fp and not is_runtime(name))
        if no_fp:
            return f"{', '.join(no_fp[:3])} built without frame pointers"
        pm = self.binaries.perf_map(self.binaries.process(pid), force=True)
        if pm is not None and pm.has_prefix("py::"):
            return "CPython perf trampolines"
        return ""

    def needs_stack_copy(self, pid: int) -> bool:
        """Whether this process's user stacks need whole copies (`copy_reason`)."""
        return bool(self.copy_reason(pid))
