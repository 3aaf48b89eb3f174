"""A process's memory mappings, from /proc/PID/maps.

Each mapping keeps `pgoff`, so an address turns into a file offset
(`addr - start + pgoff`) that means the same thing in every process mapping
that file, whatever its load address (PIE, shared libraries, ASLR).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

DELETED_SUFFIX = " (deleted)"


@dataclass(frozen=True, slots=True)
class Mapping:
    start: int
    end: int
    perms: str
    pgoff: int
    dev: str
    inode: int
    path: str  # "" for anonymous memory; "[heap]", "[vdso]"... for pseudo mappings

    @property
    def is_file(self) -> bool:
        return self.inode != 0 and self.path.startswith("/")

    @property
    def deleted(self) -> bool:
        return self.path.endswith(DELETED_SUFFIX)

    @property
    def file_path(self) -> str:
        """The path without the kernel's ' (deleted)' marker."""
        return self.path[: -len(DELETED_SUFFIX)] if self.deleted else self.path

    @property
    def is_exec(self) -> bool:
        return "x" in self.perms

    def file_offset(self, addr: int) -> int:
        return addr - self.start + self.pgoff


def parse_maps(text: str) -> list[Mapping]:
    out = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        try:
            lo, hi = parts[0].split("-")
            out.append(Mapping(int(lo, 16), int(hi, 16), parts[1], int(parts[2], 16),
                               parts[3], int(parts[4]),
                               parts[5].strip() if len(parts) > 5 else ""))
        except ValueError:
            continue
    out.sort(key=lambda m: m.start)
    return out


def read_maps_text(pid: int) -> str | None:
    """/proc/PID/maps as text, or None if the process is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError:
        return None


def read_maps(pid: int) -> list[Mapping] | None:
    """The current mappings, or None if the process is gone or unreadable."""
    text = read_maps_text(pid)
    return parse_maps(text) if text is not None else None


class MapIndex:
    """Mappings searchable by address."""

    __slots__ = ("maps", "starts")

    def __init__(self, maps: list[Mapping]) -> None:
        self.maps = maps
        self.starts = [m.start for m in maps]

    def find(self, addr: int) -> Mapping | None:
        i = bisect_right(self.starts, addr) - 1
        if i >= 0:
            m = self.maps[i]
            if addr < m.end:
                return m
        return None
