"""Just enough ELF to symbolize and unwind: headers, sections, segments, notes.

pyelftools builds Python objects for every structure it touches, which is what
made loading libjvm's symbols take 1.4 s. The symbolizer needs only a few
fixed-layout headers, so this reads them with `struct` straight from the file
and hands raw section bytes to the fast parsers (`symtab.py`, `unwind/cfi.py`).
Only 64-bit little-endian ELF (x86-64) is understood; anything else raises
`ElfError`, which callers turn into placed-but-unnamed frames.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

PT_LOAD = 1
PT_NOTE = 4
PT_GNU_EH_FRAME = 0x6474E550
SHT_SYMTAB = 2
SHT_NOBITS = 8
SHT_DYNSYM = 11
SHF_COMPRESSED = 0x800
NT_GNU_BUILD_ID = 3

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_CHDR = struct.Struct("<IIQQ")


class ElfError(Exception):
    """The file is not an ELF object this module can read."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A program header: where file bytes land in the virtual address space."""

    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int


class ElfFile:
    """An open ELF file; reads sections on demand.

    The file object is kept open on purpose: an open descriptor on a deleted
    binary (opened through /proc/PID/map_files) stays readable after the
    process exits, so lazily loaded tables (CFI, debug info) still work.
    """

    def __init__(self, fileobj: BinaryIO, path: str = "") -> None:
        self.f = fileobj
        self.path = path
        head = self._pread(0, _EHDR.size)
        if len(head) < _EHDR.size or head[:4] != b"\x7fELF":
            raise ElfError(f"{path}: not an ELF file")
        if head[4] != 2 or head[5] != 1:
            raise ElfError(f"{path}: only 64-bit little-endian ELF is supported")
        (_, self.e_type, self.machine, _, _entry, phoff, shoff, _, _, phentsize, phnum,
         shentsize, shnum, shstrndx) = _EHDR.unpack(head)
        self.segments: list[Segment] = []
        if phoff and phnum:
            raw = self._pread(phoff, phentsize * phnum)
            for i in range(phnum):
                if (i + 1) * phentsize > len(raw):
                    break
                p_type, p_flags, off, vaddr, _pa, filesz, memsz, _al = _PHDR.unpack_from(
                    raw, i * phentsize)
                self.segments.append(Segment(p_type, p_flags, off, vaddr, filesz, memsz))
        self.sections: dict[str, Section] = {}
        self._section_list: list[Section] = []
        if shoff and shnum:
            if shnum == 0xFFFF or shstrndx == 0xFFFF:
                raise ElfError(f"{path}: extended section numbering is not supported")
            raw = self._pread(shoff, shentsize * shnum)
            hdrs = []
            for i in range(shnum):
                if (i + 1) * shentsize > len(raw):
                    break
                hdrs.append(_SHDR.unpack_from(raw, i * shentsize))
            names = b""
            if shstrndx < len(hdrs):
                s = hdrs[shstrndx]
                names = self._pread(s[4], s[5])
            for h in hdrs:
                end = names.find(b"\0", h[0])
                name = names[h[0]:end if end >= 0 else None].decode("latin-1")
                sec = Section(name, h[1], h[2], h[3], h[4], h[5], h[6], h[9])
                self._section_list.append(sec)
                self.sections.setdefault(name, sec)
        self.loads = [s for s in self.segments if s.type == PT_LOAD]
        self.build_id = self._read_build_id()

    # -- raw access -------------------------------------------------------
    def _pread(self, offset: int, size: int) -> bytes:
        if size <= 0:
            return b""
        try:
            return os.pread(self.f.fileno(), size, offset)
        except (OSError, ValueError):
            self.f.seek(offset)
            return self.f.read(size)

    def section_by_index(self, index: int) -> Section | None:
        if 0 <= index < len(self._section_list):
            return self._section_list[index]
        return None

    def section_data(self, name_or_section: str | Section) -> bytes:
        """A section's bytes, decompressed if SHF_COMPRESSED (zlib)."""
        sec = (self.sections.get(name_or_section) if isinstance(name_or_section, str)
               else name_or_section)
        if sec is None or sec.type == SHT_NOBITS:
            return b""
        data = self._pread(sec.offset, sec.size)
        if sec.flags & SHF_COMPRESSED and len(data) >= _CHDR.size:
            ch_type, _, _size, _ = _CHDR.unpack_from(data)
            if ch_type != 1:
                return b""
            try:
                return zlib.decompress(data[_CHDR.size:])
            except zlib.error:
                return b""
        return data

    # -- identity ---------------------------------------------------------
    def _notes(self, data: bytes):
        pos = 0
        while pos + 12 <= len(data):
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            pos += 12
            name = data[pos:pos + namesz]
            pos += (namesz + 3) & ~3
            desc = data[pos:pos + descsz]
            pos += (descsz + 3) & ~3
            yield name, ntype, desc

    def _read_build_id(self) -> str:
        blobs = []
        sec = self.sections.get(".note.gnu.build-id")
        if sec is not None:
            blobs.append(self._pread(sec.offset, sec.size))
        else:
            for seg in self.segments:
                if seg.type == PT_NOTE:
                    blobs.append(self._pread(seg.offset, min(seg.filesz, 1 << 16)))
        for blob in blobs:
            for name, ntype, desc in self._notes(blob):
                if ntype == NT_GNU_BUILD_ID and name.rstrip(b"\0") == b"GNU":
                    return desc.hex()
        return ""

    def debuglink(self) -> str:
        """The file name in `.gnu_debuglink`, or ''."""
        data = self.section_data(".gnu_debuglink")
        end = data.find(b"\0")
        return data[:end].decode("utf-8", "replace") if end > 0 else ""

    # -- addresses --------------------------------------------------------
    def offset_to_vaddr(self, file_offset: int) -> int | None:
        """Maps a file offset to the link-time virtual address via PT_LOAD.

        Works the same for executables, PIE and shared libraries, because the
        mapping's pgoff gives the file offset independently of load bias.
        """
        for s in self.loads:
            if s.offset <= file_offset < s.offset + max(s.filesz, 1):
                return file_offset - s.offset + s.vaddr
        return None

    def close(self) -> None:
        try:
            self.f.close()
        except OSError:
            pass
