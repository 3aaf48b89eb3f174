"""Mapped binaries: opened once, identified by build-id, shared by processes.

An `ObjectFile` is one ELF file's identity plus what was parsed from it
(symbols now, CFI later). Files are opened through /proc/PID/root (so paths
inside containers resolve) and, when that path is gone or now holds another
file, through /proc/PID/map_files (the kernel's handle on the mapped file
itself, which still works for deleted binaries while the process lives).
"""

from __future__ import annotations

import io
import lzma
import os
from typing import BinaryIO

from profiler.procfs import Mapping

from .cache import BlobCache
from .debugfile import find_debug_file
from .elf import ElfError, ElfFile
from .symtab import SymbolTable, load_symbols


class ObjectFile:
    """One binary: build-id, ELF headers, and lazily parsed tables.

    The ELF's file descriptor stays open so that tables parsed later (CFI,
    debug info) can still be read after the process and its deleted binary
    are gone.
    """

    def __init__(self, elf: ElfFile, path: str, key: str,
                 disk: BlobCache | None = None) -> None:
        self.elf = elf
        self.disk = disk if elf.build_id else None  # only build-ids are safe keys
        self.path = path
        self.name = os.path.basename(path) or path
        self.build_id = elf.build_id
        self.key = key
        self._symbols: SymbolTable | None = None
        self.debug_path: str | None = None  # None: not searched yet
        self.extra: dict[str, object] = {}  # other modules' per-binary state (CFI, lines)

    @property
    def symbols(self) -> SymbolTable:
        if self._symbols is None:
            data = self.disk.get(self.key + ".marshal") if self.disk is not None else None
            table = SymbolTable.loads(data) if data is not None else None
            if table is None:
                table = self._load_symbols()
                if self.disk is not None:
                    self.disk.put(self.key + ".marshal", table.dumps())
            self._symbols = table
        return self._symbols

    def _load_symbols(self) -> SymbolTable:
        try:
            table = load_symbols(self.elf)
        except (ElfError, OSError, ValueError):
            table = SymbolTable([], [], [], "")
        if table.source != ".symtab":
            mini = self._minidebuginfo()
            if mini is not None:
                return mini
            debug = self.debug_elf()
            if debug is not None:
                try:
                    dtable = load_symbols(debug)
                except (ElfError, OSError, ValueError):
                    dtable = None
                if dtable is not None and dtable.source == ".symtab":
                    dtable.source = "debug:.symtab"
                    return dtable
        return table

    def _minidebuginfo(self) -> SymbolTable | None:
        """`.gnu_debugdata` (Fedora's MiniDebugInfo): an xz-compressed ELF
        holding the `.symtab` of local functions that stripping removed."""
        data = self.elf.section_data(".gnu_debugdata")
        if not data:
            return None
        try:
            inner = ElfFile(io.BytesIO(lzma.decompress(data)), self.path + ":.gnu_debugdata")
            table = load_symbols(inner)
        except (lzma.LZMAError, ElfError, OSError, ValueError, EOFError):
            return None
        if table.source != ".symtab":
            return None
        # It has local functions only; the exported ones are in .dynsym.
        dyn = load_symbols(self.elf)
        merged = SymbolTable.build(
            [b for b, n in zip(table.bounds, table.names, strict=True) if n is not None]
            + [b for b, n in zip(dyn.bounds, dyn.names, strict=True) if n is not None],
            _sizes(table) + _sizes(dyn),
            [n for n in table.names if n is not None] + [n for n in dyn.names if n is not None],
            "minidebuginfo+.dynsym")
        return merged

    def debug_elf(self) -> ElfFile | None:
        """The separate debug file's ELF, if one is installed and matches."""
        if self.debug_path is None:
            self.debug_path = ""
            try:
                link = self.elf.debuglink()
            except (ElfError, OSError, ValueError):
                link = ""
            cand = find_debug_file(self.build_id, self.path, link)
            if cand:
                try:
                    elf = ElfFile(open(cand, "rb"), cand)  # noqa: SIM115 - kept open
                except (ElfError, OSError):
                    elf = None
                if elf is not None and (not self.build_id or not elf.build_id
                                        or elf.build_id == self.build_id):
                    self.debug_path = cand
                    self.extra["debug_elf"] = elf
                elif elf is not None:
                    elf.close()
        return self.extra.get("debug_elf")  # type: ignore[return-value]

    def vaddr(self, file_offset: int) -> int | None:
        return self.elf.offset_to_vaddr(file_offset)

    @property
    def nbytes(self) -> int:
        n = 4096
        if self._symbols is not None:
            n += self._symbols.nbytes
        for v in self.extra.values():
            n += getattr(v, "nbytes", 0)
        return n

    def close(self) -> None:
        self.elf.close()
        dbg = self.extra.get("debug_elf")
        if isinstance(dbg, ElfFile):
            dbg.close()


def _sizes(table: SymbolTable) -> list[int]:
    """Sizes of a table's named entries, recovered from its boundaries."""
    b, n = table.bounds, table.names
    return [b[i + 1] - b[i] if i + 1 < len(b) else 0 for i in range(len(n)) if n[i] is not None]


def open_mapping(pid: int, m: Mapping) -> tuple[BinaryIO, str] | None:
    """Opens the file behind a mapping as the process sees it, or None.

    Tries /proc/PID/root/<path> (checking the inode still matches, since a
    package upgrade may have replaced the file), then /proc/PID/map_files,
    then the host path with the same inode check.
    """
    path = m.file_path
    tries = []
    if not m.deleted:
        tries.append((f"/proc/{pid}/root{path}", True))
    tries.append((f"/proc/{pid}/map_files/{m.start:x}-{m.end:x}", False))
    if not m.deleted:
        tries.append((path, True))
    for cand, check_inode in tries:
        try:
            f = open(cand, "rb")  # noqa: SIM115 - the ElfFile owns it
        except OSError:
            continue
        if check_inode:
            try:
                st = os.fstat(f.fileno())
            except OSError:
                f.close()
                continue
            if m.inode and st.st_ino != m.inode:
                f.close()
                continue
        return f, path
    return None


def read_vdso(pid: int, m: Mapping) -> BinaryIO | None:
    """The vDSO image, read from the process's memory (it has no file)."""
    try:
        with open(f"/proc/{pid}/mem", "rb") as mem:
            mem.seek(m.start)
            data = mem.read(m.end - m.start)
    except (OSError, OverflowError, ValueError):
        return None
    return io.BytesIO(data) if data[:4] == b"\x7fELF" else None


def identity_key(elf: ElfFile, f: BinaryIO, path: str) -> str:
    """Build-id when present, else something stable for the same file."""
    if elf.build_id:
        return elf.build_id
    try:
        st = os.fstat(f.fileno())
        return f"nobuildid:{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
    except (OSError, ValueError, io.UnsupportedOperation):
        return f"nobuildid:{path}"
