"""file:line and inlined frames from DWARF, through the `symbolic` package.

pyelftools answers correctly but takes ~50 ms per address; symbolic (Rust)
compiles a binary's DWARF into a "symcache" once and answers in microseconds,
with the chain of inlined calls. The symcache is built from the separate
debug file when there is one, else from the binary; it can be kept on disk
per build-id. Optional: without symbolic installed, or without DWARF, frames
simply carry no file:line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .elf import PT_LOAD, ElfFile

try:
    import symbolic
except ImportError:  # pragma: no cover - optional dependency
    symbolic = None


@dataclass(frozen=True, slots=True)
class Location:
    name: str  # raw (possibly mangled) function name
    file: str
    line: int


class LineTable:
    """Source locations by link-time virtual address for one binary."""

    def __init__(self, cache, image_base: int) -> None:
        self._cache = cache
        self._base = image_base

    def lookup(self, vaddr: int) -> list[Location]:
        """Innermost first: inlined callees, then the function containing vaddr."""
        if self._cache is None or vaddr < self._base:
            return []
        try:
            found = self._cache.lookup(vaddr - self._base)
        except Exception:  # noqa: BLE001 - a lookup must never break a profile
            return []
        return [Location(loc.symbol or "", loc.full_path or "", loc.line or 0) for loc in found]

    @property
    def nbytes(self) -> int:
        return 4096


def _image_base(elf: ElfFile) -> int:
    loads = [s.vaddr for s in elf.segments if s.type == PT_LOAD]
    return (min(loads) & ~0xFFF) if loads else 0


def _has_dwarf(elf: ElfFile) -> bool:
    return ".debug_info" in elf.sections or ".zdebug_info" in elf.sections


def _open_archive(elf: ElfFile):
    """Through our own open descriptor: works for deleted and container files."""
    try:
        return symbolic.Archive.open(f"/proc/self/fd/{elf.f.fileno()}")
    except (OSError, ValueError, AttributeError):
        elf.f.seek(0)
        return symbolic.Archive.from_bytes(elf.f.read())


def build_line_table(elf: ElfFile, debug_elf: ElfFile | None, key: str,
                     cache_dir: str | None = None) -> LineTable:
    """A LineTable for `elf`, from the disk cache, its debug file or itself."""
    if symbolic is None:
        return LineTable(None, 0)
    base = _image_base(elf)
    disk = os.path.join(cache_dir, "symcache", key + ".symcache") if cache_dir else ""
    if disk and os.path.exists(disk):
        try:
            return LineTable(symbolic.SymCache.open(disk), base)
        except Exception:  # noqa: BLE001 - stale or corrupt cache: rebuild
            pass
    source = debug_elf if debug_elf is not None and _has_dwarf(debug_elf) else elf
    if not _has_dwarf(source):
        return LineTable(None, base)
    try:
        archive = _open_archive(source)
        obj = archive.get_object(arch="x86_64")
        cache = obj.make_symcache()
    except Exception:  # noqa: BLE001 - unreadable DWARF: no lines, still names
        return LineTable(None, base)
    if disk:
        try:
            os.makedirs(os.path.dirname(disk), exist_ok=True)
            tmp = f"{disk}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                cache.dump_into(f)
            os.replace(tmp, disk)
        except OSError:
            pass
    return LineTable(cache, base)
