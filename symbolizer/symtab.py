"""Function symbol tables, loaded fast and searched with bisect.

The table is stored as one sorted list of boundaries covering the address
space: each boundary starts either a function or a gap (after a sized
function ends and before the next begins). A lookup is then a single
`bisect_right` plus a list index, and a batch of lookups runs at C speed via
`map` and `operator.itemgetter`, with no Python loop per address.
"""

from __future__ import annotations

import gc
import marshal
import struct
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from functools import partial
from itertools import compress, islice
from operator import add, eq, itemgetter, lt

from .elf import SHT_DYNSYM, SHT_SYMTAB, ElfFile
from .plt import plt_entries

STT_FUNC = 2
STT_GNU_IFUNC = 10
_FUNC_TYPES = frozenset((STT_FUNC, STT_GNU_IFUNC))
_SYM = struct.Struct("<IBBHQQ")  # name, info, other, shndx, value, size
# Unsized symbols (hand-written assembly such as `_start`) are assumed to run
# until the next symbol, but no further than this.
_UNSIZED_SPAN = 1 << 16
_INFINITY = 1 << 64
FORMAT_VERSION = 2  # bump when what a table holds changes (disk cache key)
_NAME_OFF = itemgetter(0)
_VALUE = itemgetter(4)
_SIZE_F = itemgetter(5)


class SymbolTable:
    """Function names by link-time virtual address."""

    __slots__ = ("bounds", "names", "source", "_batch_bisect", "_shifted")

    def __init__(self, starts: list[int], sizes: list[int], names: list[str],
                 source: str = "") -> None:
        """Parallel lists of function start, size (0: unknown) and raw name.

        They must be sorted by start with one entry per start: use `build`
        for arbitrary input. Built with C-level passes (map, compress, slice
        assignment), no Python loop or tuple per symbol: this is what keeps
        libjvm's cold load fast. A symbol overlapping the next one gives way
        at the next one's start.
        """
        n = len(starts)
        ends = list(map(add, starts, [sz or _UNSIZED_SPAN for sz in sizes]))
        nexts = starts[1:]
        nexts.append(_INFINITY)
        # Interleave [start_i, end_i] and keep end_i only where a gap follows.
        slots = [0] * (2 * n)
        slots[0::2] = starts
        slots[1::2] = ends
        labels: list[str | None] = [None] * (2 * n)
        labels[0::2] = names
        mask = [1] * (2 * n)
        mask[1::2] = map(lt, ends, nexts)
        self.bounds: list[int] = [0]
        self.bounds.extend(compress(slots, mask))
        self.names: list[str | None] = [None]
        self.names.extend(compress(labels, mask))
        self.source = source
        self._batch_bisect = partial(bisect_right, self.bounds)
        # names shifted by one, so bisect_right's result indexes it directly.
        self._shifted: list[str | None] = [None]
        self._shifted.extend(self.names)

    @classmethod
    def build(cls, starts: list[int], sizes: list[int], names: list[str],
              source: str = "") -> SymbolTable:
        """From unsorted parallel lists, aliases allowed (see `_alias_mask`)."""
        if starts:
            order = sorted(range(len(starts)), key=starts.__getitem__)
            starts, sizes, names = _permute(order, starts, sizes, names)
            keep = _alias_mask(starts, sizes, names.__getitem__)
            if keep is not None:
                starts, sizes, names = (list(compress(x, keep)) for x in (starts, sizes, names))
        return cls(starts, sizes, names, source)

    def __len__(self) -> int:
        return sum(1 for n in self.names if n is not None)

    def lookup(self, vaddr: int) -> tuple[str, int] | None:
        """(raw symbol name, symbol start) covering `vaddr`, or None."""
        i = bisect_right(self.bounds, vaddr) - 1
        name = self.names[i]
        if name is None:
            return None
        return name, self.bounds[i]

    def lookup_many(self, vaddrs: Sequence[int]) -> list[str | None]:
        """Raw names for many addresses at once (None where unnamed).

        Vectorised: bisect and indexing both run in C, with no Python-level
        step per address.
        """
        if not vaddrs:
            return []
        if len(vaddrs) == 1:
            return [self._shifted[self._batch_bisect(vaddrs[0])]]
        return list(itemgetter(*map(self._batch_bisect, vaddrs))(self._shifted))

    def dumps(self) -> bytes:
        return marshal.dumps((FORMAT_VERSION, self.source, self.bounds, self.names))

    @classmethod
    def loads(cls, data: bytes) -> SymbolTable | None:
        """A table saved by `dumps`, or None if unreadable or of another version."""
        try:
            version, source, bounds, names = marshal.loads(data)
        except (ValueError, EOFError, TypeError):
            return None
        if version != FORMAT_VERSION or len(bounds) != len(names):
            return None
        table = cls([], [], [], source)
        table.bounds = bounds
        table.names = names
        table._batch_bisect = partial(bisect_right, bounds)
        table._shifted = [None]
        table._shifted.extend(names)
        return table

    @property
    def nbytes(self) -> int:
        """Rough memory cost, for the cache's bound."""
        return 130 * len(self.bounds) + sum(len(n) for n in self.names if n)


def _permute(order: list[int], *lists: list) -> list[list]:
    if len(order) == 1:
        return [list(x) for x in lists]
    get = itemgetter(*order)
    return [list(get(x)) for x in lists]


def _alias_mask(starts: list[int], sizes: list[int],
                name_of: Callable[[int], str]) -> list[bool] | None:
    """Which entries to keep so that one remains per start address.

    Of aliases, the sized one with the plainest name wins (`malloc` over
    `__libc_malloc`). Only the (few) alias groups are visited in Python.
    """
    n = len(starts)
    dup = list(compress(range(n - 1), map(eq, starts, islice(starts, 1, None))))
    if not dup:
        return None
    keep = [True] * n
    i = 0
    while i < len(dup):
        j = i
        while j + 1 < len(dup) and dup[j + 1] == dup[j] + 1:
            j += 1
        best = -1
        best_key = None
        for k in range(dup[i], dup[j] + 2):
            name = name_of(k)
            key = (not sizes[k], len(name) - len(name.lstrip("_")), len(name))
            if best_key is None or key < best_key:
                best, best_key = k, key
            keep[k] = False
        keep[best] = True
        i = j + 1
    return keep


def _read_symbols(elf: ElfFile, sec_type: int) -> SymbolTable | None:
    sec = next((s for s in elf.sections.values() if s.type == sec_type), None)
    if sec is None or sec.size == 0:
        return None
    strsec = elf.section_by_index(sec.link)
    if strsec is None:
        return None
    raw = elf.section_data(sec)
    usable = len(raw) - len(raw) % _SYM.size
    if usable <= 0:
        return None
    rows = [r for r in _SYM.iter_unpack(memoryview(raw)[:usable])
            if (r[1] & 0xF) in _FUNC_TYPES and r[3] and r[4]]
    if not rows:
        return None
    starts = list(map(_VALUE, rows))
    if len(rows) > 1:
        rows = itemgetter(*sorted(range(len(rows)), key=starts.__getitem__))(rows)
        starts = list(map(_VALUE, rows))
    sizes = list(map(_SIZE_F, rows))
    offsets = list(map(_NAME_OFF, rows))
    blob = elf.section_data(strsec)
    # Names are byte offsets into the string table; slicing one big str is
    # much faster than decoding each name, and exact when the table is ASCII.
    if blob.isascii():
        text = blob.decode("ascii")
        find = text.find

        def name_of(k: int) -> str:
            o = offsets[k]
            return text[o:find("\0", o)]
    else:
        def name_of(k: int) -> str:
            o = offsets[k]
            return blob[o:blob.find(b"\0", o)].decode("utf-8", "replace")
    keep = _alias_mask(starts, sizes, name_of)
    if keep is not None:
        starts, sizes, offsets = (list(compress(x, keep)) for x in (starts, sizes, offsets))
    if blob.isascii():
        names = [text[o:find("\0", o)] for o in offsets]
    else:
        names = [blob[o:blob.find(b"\0", o)].decode("utf-8", "replace") for o in offsets]
    for lo, hi, p_starts, p_sizes, p_names in plt_entries(elf):
        # Splice each PLT section's stubs in place of whatever symbols fall there.
        i, j = bisect_left(starts, lo), bisect_left(starts, hi)
        starts[i:j], sizes[i:j], names[i:j] = p_starts, p_sizes, p_names
    return SymbolTable(starts, sizes, names, ".symtab" if sec_type == SHT_SYMTAB else ".dynsym")


def load_symbols(elf: ElfFile) -> SymbolTable:
    """`.symtab` if present (it includes local functions), else `.dynsym`."""
    was_enabled = gc.isenabled()
    gc.disable()  # tens of thousands of new objects: the cyclic GC only slows this
    try:
        table = _read_symbols(elf, SHT_SYMTAB) or _read_symbols(elf, SHT_DYNSYM)
    finally:
        if was_enabled:
            gc.enable()
    return table or SymbolTable([], [], [], "")
