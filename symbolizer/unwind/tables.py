"""A binary's unwind rules, from whichever CFI sources it has.

`.eh_frame` through its `.eh_frame_hdr` index, compiled per function on
demand (cheap to open, even for libjvm); `.debug_frame` (in the binary or its
separate debug file) compiled whole, and only if `.eh_frame` misses an
address; a binary without the index is compiled whole up front, and that
result can be kept on disk per build-id.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from ..elf import ElfFile
from .cfi import NO_RULE, CfiTable, DiskCache, Rule, compile_cfi
from .ehframe_index import LazyEhFrame


class UnwindTable:
    def __init__(self, primary: LazyEhFrame | CfiTable | None,
                 fallback: Callable[[], CfiTable] | None, source: str) -> None:
        self._primary = primary
        self._fallback_factory = fallback
        self._fallback: CfiTable | None = None
        self.source = source

    def lookup(self, vaddr: int) -> Rule:
        p = self._primary
        if p is not None:
            rule = p.lookup(vaddr)
            if rule is not None and rule is not NO_RULE:
                return rule
        if self._fallback_factory is not None:
            if self._fallback is None:
                try:
                    self._fallback = self._fallback_factory()
                except Exception:  # noqa: BLE001 - bad CFI: no rule, never a crash
                    self._fallback = CfiTable([], [], "")
            return self._fallback.lookup(vaddr)
        return NO_RULE

    @property
    def nbytes(self) -> int:
        n = getattr(self._primary, "nbytes", 0)
        if self._fallback is not None:
            n += self._fallback.nbytes
        return n


def has_section(elf: ElfFile | None, name: str) -> bool:
    if elf is None:
        return False
    sec = elf.sections.get(name)
    return sec is not None and sec.size > 0 and sec.type != 8  # not SHT_NOBITS


def open_unwind_table(elf: ElfFile, debug_elf: Callable[[], ElfFile | None], key: str,
                      disk: DiskCache | None) -> tuple[UnwindTable, bool]:
    """(table, whether it was compiled whole now) for one binary."""
    lazy = None
    if has_section(elf, ".eh_frame_hdr") and has_section(elf, ".eh_frame"):
        try:
            lazy = LazyEhFrame(elf)
        except (ValueError, KeyError, IndexError, struct.error):
            lazy = None
    if lazy is not None:
        def fallback() -> CfiTable:
            dbg = debug_elf()
            if not (has_section(elf, ".debug_frame") or has_section(dbg, ".debug_frame")):
                return CfiTable([], [], "")
            return _compiled(key + ".debug_frame", disk,
                             lambda: compile_cfi(elf, dbg, eh_frame=False))[0]
        return UnwindTable(lazy, fallback, ".eh_frame_hdr"), False
    table, compiled = _compiled(key, disk, lambda: compile_cfi(elf, debug_elf()))
    return UnwindTable(table, None, table.source if compiled else "disk:" + table.source), \
        compiled


def _compiled(key: str, disk: DiskCache | None,
              build: Callable[[], CfiTable]) -> tuple[CfiTable, bool]:
    """(table, built now?): from the disk cache, else built and stored there."""
    table = disk.get(key) if disk is not None else None
    if table is not None:
        return table, False
    table = build()
    if disk is not None and not key.startswith("nobuildid:"):
        disk.put(key, table)
    return table, True

