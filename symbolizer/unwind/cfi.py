"""Unwind tables compiled from `.eh_frame` / `.debug_frame` CFI.

pyelftools parses the CIEs and FDEs (and their instruction lists); this
module interprets the instructions itself, keeping only what an x86-64 stack
walk needs (how to find the CFA, the return address and the saved rbp), and
flattens them into one sorted address table per binary. The interpreter is
ours rather than pyelftools' `get_decoded()` because that one rejects whole
FDEs over harmless opcodes (`DW_CFA_GNU_args_size`, in libc) and is slower.

A rule is a 4-tuple `(kind, cfa_arg, ra_off, bp_off)`:
  kind RSP: CFA = rsp + cfa_arg;    RBP: CFA = rbp + cfa_arg;
       PLT: CFA = rsp + 8 + (8 if (ip & 15) >= cfa_arg else 0);
       DEREF_RSP / DEREF_RBP: CFA = *(reg + cfa_arg);
       SIGNAL: a signal trampoline, registers come from the ucontext at rsp;
       ROOT: the end of the stack (return address undefined);
       NONE: no usable CFI here.
  ra_off / bp_off: where the return address / caller's rbp are saved,
  relative to the CFA (bp_off None: rbp unchanged).
Rules are interned, so a table is two lists: boundaries and rules.
"""

from __future__ import annotations

import marshal
from bisect import bisect_right
from typing import BinaryIO

from ..cache import BlobCache
from ..elf import ElfFile

RSP, RBP, PLT, DEREF_RSP, DEREF_RBP, SIGNAL, ROOT, NONE = range(8)
Rule = tuple[int, int, int, "int | None"]
NO_RULE: Rule = (NONE, 0, 0, None)
ROOT_RULE: Rule = (ROOT, 0, 0, None)
SIGNAL_RULE: Rule = (SIGNAL, 0, 0, None)

_REG_RBP = 6
_REG_RSP = 7
_REG_RA = 16
# Bumped when the table format or the interpretation changes (disk cache key).
FORMAT_VERSION = 2


class CfiTable:
    """A binary's unwind rules by link-time virtual address."""

    __slots__ = ("pcs", "rules", "source")

    def __init__(self, pcs: list[int], rules: list[Rule], source: str = "") -> None:
        self.pcs = pcs
        self.rules = rules
        self.source = source

    def lookup(self, vaddr: int) -> Rule:
        i = bisect_right(self.pcs, vaddr) - 1
        return self.rules[i] if i >= 0 else NO_RULE

    def __len__(self) -> int:
        return len(self.pcs)

    @property
    def nbytes(self) -> int:
        return 40 * len(self.pcs)

    # -- disk cache --------------------------------------------------------
    def dumps(self) -> bytes:
        interned: dict[Rule, int] = {}
        idx = [interned.setdefault(r, len(interned)) for r in self.rules]
        return marshal.dumps((FORMAT_VERSION, self.source, self.pcs, idx, list(interned)))

    @classmethod
    def loads(cls, data: bytes) -> CfiTable | None:
        try:
            version, source, pcs, idx, rules = marshal.loads(data)
        except (ValueError, EOFError, TypeError):
            return None
        if version != FORMAT_VERSION:
            return None
        rules = [tuple(r) for r in rules]
        return cls(pcs, [rules[i] for i in idx], source)


# -- DWARF expressions we recognise ----------------------------------------
def _sleb(b: list[int] | bytes, i: int) -> tuple[int, int]:
    v = shift = 0
    c = 0
    while i < len(b):
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            break
    if c & 0x40:
        v -= 1 << shift
    return v, i


def cfa_expression_rule(expr: list[int] | bytes) -> tuple[int, int]:
    """(kind, arg) for the CFA expressions compilers emit, else (NONE, 0).

    The PLT one is `rsp + 8 + ((rip & 15) >= N) << 3`; stack-realigning
    prologues give `*(rbp - 8)`, signal trampolines `*(rsp + 160)`.
    """
    b = list(expr)
    # DW_OP_breg7 8; DW_OP_breg16 0; DW_OP_lit15; DW_OP_and; DW_OP_litN; DW_OP_ge;
    # DW_OP_lit3; DW_OP_shl; DW_OP_plus
    if (len(b) == 11 and b[:6] == [0x77, 8, 0x80, 0, 0x3F, 0x1A] and 0x30 <= b[6] <= 0x4F
            and b[7:] == [0x2A, 0x33, 0x24, 0x22]):
        return PLT, b[6] - 0x30
    if b and b[0] in (0x76, 0x77) and b[-1] == 0x06:  # DW_OP_breg6/7 off; DW_OP_deref
        off, end = _sleb(b, 1)
        if end == len(b) - 1:
            return (DEREF_RBP if b[0] == 0x76 else DEREF_RSP), off
    return NONE, 0


# -- interpreting CFA instructions -----------------------------------------
# DW_CFA opcodes (primary ones in the top two bits).
_ADVANCE_LOC, _OFFSET, _RESTORE = 0x40, 0x80, 0xC0


def _rows(fde, cie_rows_state, code_align: int, data_align: int) -> list[tuple[int, tuple]]:
    """(pc, state) rows of one FDE; state = (cfa, ra_rule, bp_rule)."""
    pc = fde["initial_location"]
    cfa, ra, bp = cie_rows_state
    init = cie_rows_state
    stack = []
    out = []
    for ins in fde.instructions:
        op = int(ins.opcode)
        a = ins.args
        if op in (0x01, 0x02, 0x03, 0x04, _ADVANCE_LOC) or (op & 0xC0) == _ADVANCE_LOC:
            out.append((pc, (cfa, ra, bp)))
            if op == 0x01:  # set_loc
                pc = a[0]
            else:
                pc += a[0] * code_align
        elif op == 0x0C:  # def_cfa
            cfa = (a[0], a[1])
        elif op == 0x12:  # def_cfa_sf
            cfa = (a[0], a[1] * data_align)
        elif op == 0x0D:  # def_cfa_register
            cfa = (a[0], cfa[1] if isinstance(cfa[0], int) else 0)
        elif op == 0x0E:  # def_cfa_offset
            cfa = (cfa[0], a[0])
        elif op == 0x13:  # def_cfa_offset_sf
            cfa = (cfa[0], a[0] * data_align)
        elif op == 0x0F:  # def_cfa_expression
            cfa = ("expr", tuple(a[0]))
        elif op in (_OFFSET, 0x05, 0x11):  # offset, offset_extended(_sf)
            rule = ("off", a[1] * data_align)
            if a[0] == _REG_RA:
                ra = rule
            elif a[0] == _REG_RBP:
                bp = rule
        elif op in (0x07, 0x08, 0x09, 0x10, 0x14, 0x15, 0x16):
            # undefined, same_value, register, expression, val_offset(_sf), val_expression
            rule = ("undef",) if op == 0x07 else ("same",) if op == 0x08 else ("other",)
            if a[0] == _REG_RA:
                ra = rule
            elif a[0] == _REG_RBP:
                bp = rule if op != 0x07 else ("same",)
        elif op in (_RESTORE, 0x06):  # restore(_extended)
            if a[0] == _REG_RA:
                ra = init[1]
            elif a[0] == _REG_RBP:
                bp = init[2]
        elif op == 0x0A:  # remember_state
            stack.append((cfa, ra, bp))
        elif op == 0x0B:  # restore_state
            if stack:
                cfa, ra, bp = stack.pop()
        # nop, GNU_args_size, GNU_window_save...: nothing for rsp/rbp/rip.
    out.append((pc, (cfa, ra, bp)))
    return out


def _cie_state(cie) -> tuple:
    """Initial (cfa, ra, bp) from a CIE's instructions."""
    fake = {"initial_location": 0}

    class _Wrap:
        instructions = cie.instructions

        def __getitem__(self, k):
            return fake[k]

    rows = _rows(_Wrap(), ((_REG_RSP, 8), ("undef",), ("same",)),
                 cie["code_alignment_factor"], cie["data_alignment_factor"])
    return rows[-1][1]


def _rule(state: tuple, signal: bool, intern: dict) -> Rule:
    if signal:
        return SIGNAL_RULE
    cfa, ra, bp = state
    if ra[0] == "undef":
        return ROOT_RULE
    if ra[0] != "off":
        return NO_RULE
    if cfa[0] == _REG_RSP:
        kind, arg = RSP, cfa[1]
    elif cfa[0] == _REG_RBP:
        kind, arg = RBP, cfa[1]
    elif cfa[0] == "expr":
        kind, arg = cfa_expression_rule(cfa[1])
        if kind == NONE:
            return NO_RULE
    else:
        return NO_RULE
    rule = (kind, arg, ra[1], bp[1] if bp[0] == "off" else None)
    return intern.setdefault(rule, rule)


class _CieStates:
    """Initial rule state per CIE, computed once."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple] = {}

    def get(self, cie) -> tuple:
        key = id(cie)
        state = self._by_id.get(key)
        if state is None:
            state = self._by_id[key] = _cie_state(cie)
        return state


def compile_fde(e, cies: _CieStates, intern: dict) -> tuple[int, int, list[tuple[int, Rule]]]:
    """(lo, hi, [(pc, rule)]) for one FDE."""
    cie = e.cie
    state = cies.get(cie)
    aug = cie.header.get("augmentation", b"") or b""
    signal = b"S" in (aug if isinstance(aug, bytes) else aug.encode())
    lo = e["initial_location"]
    hi = lo + e["address_range"]
    rows = _rows(e, state, cie["code_alignment_factor"], cie["data_alignment_factor"])
    rules = [(pc, _rule(st, signal, intern)) for pc, st in rows if lo <= pc < hi]
    if not rules or rules[0][0] != lo:
        rules.insert(0, (lo, _rule(state, signal, intern)))
    return lo, hi, rules


def _fde_rules(entries, intern: dict) -> list[tuple[int, int, list[tuple[int, Rule]]]]:
    """(lo, hi, [(pc, rule)]) per FDE; FDEs that fail to interpret are skipped."""
    out = []
    cies = _CieStates()
    for e in entries:
        if getattr(e, "cie", None) is None or "initial_location" not in e.header:
            continue
        try:
            out.append(compile_fde(e, cies, intern))
        except Exception:  # noqa: BLE001 - one bad FDE must not lose the others
            continue
    return out


def _flatten(fdes: list, source: str) -> CfiTable:
    fdes.sort(key=lambda f: f[0])
    pcs: list[int] = []
    rules: list[Rule] = []
    n = len(fdes)
    for i, (_lo, hi, rows) in enumerate(fdes):
        for pc, rule in rows:
            if pcs and pcs[-1] == pc:
                rules[-1] = rule
            elif pcs and pcs[-1] > pc:
                continue  # overlapping FDE: the earlier one keeps its range
            else:
                pcs.append(pc)
                rules.append(rule)
        if i + 1 >= n or fdes[i + 1][0] > hi:
            pcs.append(hi)
            rules.append(NO_RULE)
    return CfiTable(pcs, rules, source)


def _entries(stream: BinaryIO, eh: bool):
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(stream)
    dwarf = elf.get_dwarf_info(relocate_dwarf_sections=False, follow_links=False)
    if eh:
        return dwarf.EH_CFI_entries() if dwarf.has_EH_CFI() else []
    return dwarf.CFI_entries() if dwarf.has_CFI() else []


def compile_cfi(elf: ElfFile, debug_elf: ElfFile | None = None,
                eh_frame: bool = True) -> CfiTable:
    """Builds the table from `.eh_frame`, filling gaps from `.debug_frame`.

    `.debug_frame` may be in the binary or in its separate debug file. Any
    failure leaves that source out: the unwinder then falls back to frame
    pointers for the addresses it does not cover.
    """
    intern: dict[Rule, Rule] = {}
    fdes: list = []
    sources = []
    plan = [(elf, ".eh_frame", True)] if eh_frame else []
    plan += [(elf, ".debug_frame", False), (debug_elf, ".debug_frame", False)]
    for src, section, eh in plan:
        if src is None or section not in src.sections:
            continue
        try:
            got = _fde_rules(_entries(src.f, eh), intern)
        except Exception:  # noqa: BLE001 - malformed CFI: skip the section
            continue
        if fdes:  # only fill what earlier sources did not cover
            ranges = sorted((f[0], f[1]) for f in fdes)
            los = [r[0] for r in ranges]
            got = [f for f in got
                   if not ((i := bisect_right(los, f[0]) - 1) >= 0 and f[0] < ranges[i][1])]
        if got:
            fdes.extend(got)
            sources.append(section)
    return _flatten(fdes, "+".join(sources))


class DiskCache:
    """Compiled CFI tables on disk, one file per build-id."""

    def __init__(self, directory: str) -> None:
        self._blobs = BlobCache(directory, f"cfi-v{FORMAT_VERSION}")

    def get(self, key: str) -> CfiTable | None:
        data = self._blobs.get(key + ".marshal")
        return CfiTable.loads(data) if data is not None else None

    def put(self, key: str, table: CfiTable) -> None:
        self._blobs.put(key + ".marshal", table.dumps())
