"""Names for PLT stubs: `malloc@plt`, as objdump and perf show them.

PLT entries have no symbols, so without this a sample in one is charged to
whatever precedes `.plt` (usually `_init`). Each entry jumps through a GOT
slot (`jmp *disp(%rip)`, possibly after `endbr64`/`bnd`); the dynamic
relocation for that slot names the function. Decoding the jump rather than
assuming entry order works for `.plt`, `.plt.sec` (IBT) and `.plt.got`.
"""

from __future__ import annotations

import struct

from .elf import ElfFile

_RELA = struct.Struct("<QQq")
_SYM = struct.Struct("<IBBHQQ")
_PLT_SECTIONS = (".plt", ".plt.sec", ".plt.got")
_JMP_RIP = b"\xff\x25"  # jmp *disp32(%rip)


def _got_names(elf: ElfFile) -> dict[int, str]:
    """GOT slot address -> symbol name, from .rela.plt and .rela.dyn."""
    dynsym = elf.sections.get(".dynsym")
    if dynsym is None:
        return {}
    strsec = elf.section_by_index(dynsym.link)
    syms = elf.section_data(dynsym)
    strtab = elf.section_data(strsec) if strsec is not None else b""
    out: dict[int, str] = {}
    for rel_name in (".rela.plt", ".rela.dyn"):
        data = elf.section_data(rel_name)
        usable = len(data) - len(data) % _RELA.size
        for r_offset, r_info, _addend in _RELA.iter_unpack(data[:usable]):
            sym_index = r_info >> 32
            if not sym_index or (sym_index + 1) * _SYM.size > len(syms):
                continue
            name_off = _SYM.unpack_from(syms, sym_index * _SYM.size)[0]
            end = strtab.find(b"\0", name_off)
            if end > name_off:
                out[r_offset] = strtab[name_off:end].decode("utf-8", "replace")
    return out


def plt_entries(elf: ElfFile) -> list[tuple[int, int, list[int], list[int], list[str]]]:
    """Per PLT section: (lo, hi, starts, sizes, names) of its entries, sorted."""
    sections = [elf.sections[n] for n in _PLT_SECTIONS
                if n in elf.sections and elf.sections[n].size]
    if not sections:
        return []
    got = _got_names(elf)
    out = []
    for sec in sections:
        step = sec.entsize if sec.entsize in (8, 16) else 16
        code = elf.section_data(sec)
        starts, sizes, names = [], [], []
        for off in range(0, len(code) - step + 1, step):
            entry = code[off:off + step]
            pos = entry.find(_JMP_RIP)
            name = ""
            if 0 <= pos <= step - 6:
                (disp,) = struct.unpack_from("<i", entry, pos + 2)
                slot = sec.addr + off + pos + 6 + disp
                target = got.get(slot)
                if target:
                    name = target + "@plt"
            starts.append(sec.addr + off)
            sizes.append(step)
            names.append(name or "[plt]")
        out.append((sec.addr, sec.addr + sec.size, starts, sizes, names))
    return out
