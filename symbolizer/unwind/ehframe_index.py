"""CFI one function at a time, found through `.eh_frame_hdr`.

Compiling every FDE of libpython up front costs over a second; a profile
touches only the functions that were on some stack. `.eh_frame_hdr` (which
every linker emits for the runtime unwinder) is a sorted table of function
start -> FDE offset, so a lookup can bisect it and have pyelftools parse just
that FDE (and its CIE), compiled once and kept.
"""

from __future__ import annotations

import io
import struct
from bisect import bisect_right

from ..elf import ElfFile
from .cfi import NO_RULE, Rule, _CieStates, compile_fde

# DW_EH_PE encodings we support in the header: what GNU ld and lld emit.
_PE_DATAREL_SDATA4 = 0x3B
_PE_PCREL_SDATA4 = 0x1B
_PE_UDATA4 = 0x03
_PAIR = struct.Struct("<ii")


class LazyEhFrame:
    """Rules by vaddr from `.eh_frame`, compiling FDEs on first use."""

    def __init__(self, elf: ElfFile) -> None:
        hdr = elf.sections[".eh_frame_hdr"]
        eh = elf.sections[".eh_frame"]
        raw = elf.section_data(hdr)
        version, ptr_enc, count_enc, table_enc = raw[0], raw[1], raw[2], raw[3]
        if version != 1 or ptr_enc != _PE_PCREL_SDATA4 or count_enc != _PE_UDATA4 \
                or table_enc != _PE_DATAREL_SDATA4:
            raise ValueError("unsupported .eh_frame_hdr encoding")
        (count,) = struct.unpack_from("<I", raw, 8)
        pairs = list(_PAIR.iter_unpack(raw[12:12 + 8 * count]))
        base = hdr.addr
        self.locs = [base + loc for loc, _ in pairs]
        self._fde_offsets = [base + fde - eh.addr for _, fde in pairs]
        self._compiled: dict[int, tuple[int, list[int], list[Rule]] | None] = {}
        self._data = elf.section_data(eh)
        self._eh_addr = eh.addr
        self._cfi = None
        self._cies = _CieStates()
        self._intern: dict[Rule, Rule] = {}

    def __len__(self) -> int:
        return len(self.locs)

    def _parser(self):
        if self._cfi is None:
            from elftools.dwarf.callframe import CallFrameInfo
            from elftools.dwarf.structs import DWARFStructs

            structs = DWARFStructs(little_endian=True, dwarf_format=32, address_size=8)
            self._cfi = CallFrameInfo(stream=io.BytesIO(self._data), size=len(self._data),
                                      address=self._eh_addr, base_structs=structs,
                                      for_eh_frame=True)
        return self._cfi

    def _compile(self, i: int) -> tuple[int, list[int], list[Rule]] | None:
        try:
            fde = self._parser()._parse_entry_at(self._fde_offsets[i])
            _lo, hi, rows = compile_fde(fde, self._cies, self._intern)
        except Exception:  # noqa: BLE001 - an FDE that fails to decode is skipped
            return None
        return hi, [pc for pc, _ in rows], [r for _, r in rows]

    def lookup(self, vaddr: int) -> Rule | None:
        """The rule at vaddr, or None when no FDE covers it."""
        i = bisect_right(self.locs, vaddr) - 1
        if i < 0:
            return None
        entry = self._compiled.get(i, False)
        if entry is False:
            entry = self._compiled[i] = self._compile(i)
        if entry is None:
            return NO_RULE
        hi, pcs, rules = entry
        if vaddr >= hi:
            return None
        return rules[bisect_right(pcs, vaddr) - 1]

    @property
    def compiled(self) -> int:
        return len(self._compiled)

    @property
    def nbytes(self) -> int:
        return len(self._data) + 16 * len(self.locs) + 200 * len(self._compiled)
