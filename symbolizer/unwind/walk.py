"""Walking a copied user stack with CFI rules, perf `--call-graph dwarf` style.

The sampler hands over ip, sp, bp and a copy of user memory starting at sp.
Each step finds the rule for the current pc (see `cfi.py`), computes the CFA,
reads the return address and maybe the caller's rbp from the copy, and moves
on. The walk ends at the thread's root (CFI marks the return address
undefined in `_start` and `clone3`; `start_thread` and friends are also
treated as roots), or when the copy runs out, or when no rule applies and
frame pointers do not help either. It never raises on bad data.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass

from .cfi import DEREF_RBP, DEREF_RSP, NONE, PLT, RBP, ROOT, RSP, SIGNAL, Rule

MAX_DEPTH = 128
# Where the kernel's rt_sigframe keeps registers, from the ucontext at rsp
# (uc_mcontext at 40; gregs r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip).
_UC_RBP, _UC_RSP, _UC_RIP = 40 + 10 * 8, 40 + 15 * 8, 40 + 16 * 8
# Inside a CPython perf trampoline (`sub $8,%rsp; call *%rcx; add $8,%rsp; ret`).
PY_TRAMPOLINE_RULE: Rule = (RSP, 16, -8, None)
# Frame-pointer convention, used where no CFI covers the pc.
FRAME_POINTER_RULE: Rule = (RBP, 16, -8, -16)
_U64 = struct.Struct("<Q")


@dataclass(slots=True)
class UnwindResult:
    addrs: list[int]  # leaf first; [0] exact ip, the rest return addresses
    complete: bool  # reached the thread's root
    reason: str  # why the walk stopped: root, end-of-copy, no-rule, bad-frame, depth, joined
    # rbp and rsp in the frame of addrs[-1], where the walk stopped (0: unknown)
    bp: int = 0
    sp: int = 0


def walk(ip: int, sp: int, bp: int, stack: bytes, rule_for: Callable[[int], Rule],
         max_depth: int = MAX_DEPTH, meet: Container[int] | None = None) -> UnwindResult:
    """Unwinds from (ip, sp, bp) over `stack`, a copy of memory at `sp`.

    With `meet` (the return addresses of a frame-pointer walk that is right
    but for the frames it skips), the walk stops at the first return address
    found there (reason "joined"): `join_fp_walk` takes it from there.

    `rule_for(pc)` gives the rule for a pc (the exact ip for the leaf and
    after a signal frame, return address - 1 otherwise). A frame interrupted
    by a signal, and the signal trampoline, are reported as their exact
    address + 1, so that consumers treating every non-leaf address as a
    return address (look up at addr - 1) land on the exact instruction.
    """
    base = sp
    size = len(stack)
    unpack = _U64.unpack_from

    def read(addr: int) -> int | None:
        off = addr - base
        if 0 <= off <= size - 8:
            return unpack(stack, off)[0]
        return None

    addrs = [ip]
    look = ip
    reason = "depth"
    complete = False
    for _ in range(max_depth):
        rule = rule_for(look)
        kind = rule[0]
        if kind == ROOT:
            complete, reason = True, "root"
            break
        if kind == SIGNAL:
            nip, nsp, nbp = read(sp + _UC_RIP), read(sp + _UC_RSP), read(sp + _UC_RBP)
            if nip is None or nsp is None or nbp is None:
                reason = "end-of-copy"
                break
            if not nip:
                reason = "bad-frame"
                break
            if len(addrs) > 1:
                # The trampoline itself was reached by a "return" to its first
                # byte: report it +1 too, so it is named as itself.
                addrs[-1] = look + 2
            ip, sp, bp = nip, nsp, nbp
            addrs.append(ip + 1)
            look = ip
            continue
        if kind == NONE:
            # No CFI: try frame pointers if rbp points into the copied stack above sp.
            if not (sp <= bp < base + size - 8):
                reason = "no-rule"
                break
            rule = FRAME_POINTER_RULE
            kind = RBP
        if kind == RSP:
            cfa = sp + rule[1]
        elif kind == RBP:
            cfa = bp + rule[1]
        elif kind == PLT:
            cfa = sp + 8 + (8 if (look & 15) >= rule[1] else 0)
        elif kind == DEREF_RSP or kind == DEREF_RBP:
            cfa = read((sp if kind == DEREF_RSP else bp) + rule[1])
            if cfa is None:
                reason = "end-of-copy"
                break
        else:
            reason = "no-rule"
            break
        ra = read(cfa + rule[2])
        if ra is None:
            reason = "end-of-copy"
            break
        if rule[3] is not None:
            # Unreadable slot: in an epilogue after `pop %rbp` the rule still
            # points below sp (GCC emits no restore there), but rbp already
            # holds the caller's value, so keeping it is right.
            nbp = read(cfa + rule[3])
            if nbp is not None:
                bp = nbp
        if ra == 0:
            complete, reason = True, "root"
            break
        if cfa <= sp:
            reason = "bad-frame"  # no progress: corrupt stack or wrong rule
            break
        sp = cfa
        ip = ra
        addrs.append(ra)
        look = ra - 1
        if meet is not None and ra in meet:
            reason = "joined"
            break
    return UnwindResult(addrs, complete, reason, bp, sp)


def join_fp_walk(cfi_addrs: Sequence[int], complete: bool, fp_addrs: Sequence[int],
                 same_frame: bool = False) -> list[int]:
    """A CFI walk, extended by a frame-pointer walk only where that provably
    continues it.

    Proof one: the frame-pointer walk contains one of the CFI walk's return
    addresses. The join is at the CFI walk's deepest such address, at the
    deepest position no deeper than the CFI walk's: a frame-pointer walk only
    ever skips frames (those without frame pointers, such as libc's), it never
    adds any, so a CFI frame at depth i is at most at depth i there; taking
    the deepest keeps recursion's repeated return addresses counted once.
    Proof two (`same_frame`, for the caller to establish): the CFI walk
    stopped in a function built with frame pointers whose rbp is the rbp the
    frame-pointer walk started from, so that walk's return addresses are its
    callers' (a leaf without frame pointers under a frame too large for the
    copy).
    Otherwise the CFI walk stands alone: without frame pointers, a walk by
    them reads garbage past the first frames and can be *longer* than the
    right stack, so length says nothing about which one to trust.
    """
    if complete or not cfi_addrs or not fp_addrs:
        return list(cfi_addrs)
    where: dict[int, list[int]] = {}
    for j in range(1, len(fp_addrs)):
        where.setdefault(fp_addrs[j], []).append(j)
    for i in range(len(cfi_addrs) - 1, 0, -1):
        js = where.get(cfi_addrs[i])
        if js is None:
            continue
        fit = [j for j in js if j <= i]
        if fit:
            return list(cfi_addrs[:i + 1]) + list(fp_addrs[fit[-1] + 1:])
    if same_frame:
        return list(cfi_addrs) + list(fp_addrs[1:])
    return list(cfi_addrs)
