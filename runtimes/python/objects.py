"""Decoding a few CPython object types from raw memory: str, bytes, int, dict.

Only what naming frames and threads needs. Every reader bounds its sizes,
because a torn read of a running process can yield any value, and a garbage
length must cost an exception, not a gigabyte read.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from profiler.procfs import MemoryReadError, ProcessMemory

from .offsets import PyOffsets

MAX_STR = 4096
MAX_BYTES = 1 << 20
MAX_DICT_ENTRIES = 1 << 16


class ObjectReader:
    """Version-aware decoding of objects at addresses in one process."""

    def __init__(self, mem: ProcessMemory, off: PyOffsets) -> None:
        self.mem = mem
        self.off = off

    def string(self, addr: int) -> str:
        """A `str` object's value (compact strings: all identifiers and paths)."""
        o = self.off
        state = self.mem.u32(addr + o.unicode_state)
        length = self.mem.u64(addr + o.unicode_length)
        if length > MAX_STR:
            raise MemoryReadError(0, f"implausible str length {length}")
        kind = (state >> 2) & 7
        compact = (state >> 5) & 1
        ascii_ = (state >> 6) & 1
        if not compact or kind not in (1, 2, 4):
            raise MemoryReadError(0, "not a compact str")
        data_at = addr + (o.unicode_ascii_size if ascii_ else o.unicode_compact_size)
        raw = self.mem.read(data_at, length * kind) if length else b""
        codec = {1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}[kind]
        return raw.decode(codec, errors="replace")

    def bytes_(self, addr: int) -> bytes:
        size = self.mem.u64(addr + self.off.bytes_size)
        if size > MAX_BYTES:
            raise MemoryReadError(0, f"implausible bytes size {size}")
        return self.mem.read(addr + self.off.bytes_sval, size) if size else b""

    def int_(self, addr: int) -> int:
        """A Python int (any size) at `addr`."""
        o = self.off
        tag = struct.unpack("<q", self.mem.read(addr + o.long_tag, 8))[0]
        if self.off.version >= (3, 12):
            ndigits, sign = tag >> 3, 1 - (tag & 3)
        else:
            ndigits, sign = abs(tag), (1 if tag > 0 else -1 if tag < 0 else 0)
        if ndigits > 64:
            raise MemoryReadError(0, "implausible int size")
        digits = struct.unpack(f"<{ndigits}I", self.mem.read(addr + o.long_digits, 4 * ndigits))
        value = 0
        for d in reversed(digits):
            value = (value << 30) | d
        return sign * value

    # --- dicts -------------------------------------------------------------

    def _entries(self, keys_addr: int) -> Iterator[tuple[int, int, int]]:
        """(index, key address, value address or 0) of a dict-keys object."""
        hdr = self.mem.read(keys_addr, 32)
        log2_index_bytes, kind = hdr[9], hdr[10]
        nentries = struct.unpack_from("<q", hdr, 24)[0]
        if not 0 <= nentries <= MAX_DICT_ENTRIES or log2_index_bytes > 40:
            raise MemoryReadError(0, "implausible dict keys")
        base = keys_addr + 32 + (1 << log2_index_bytes)
        width = 24 if kind == 0 else 16  # general entries carry the hash first
        raw = self.mem.read(base, nentries * width) if nentries else b""
        for i in range(nentries):
            if width == 24:
                _, key, value = struct.unpack_from("<qQQ", raw, i * 24)
            else:
                key, value = struct.unpack_from("<QQ", raw, i * 16)
            if key:
                yield i, key, value

    def _values_items(self, keys_addr: int, values_addr: int) -> Iterator[tuple[int, int]]:
        """(key, value) of a split table: values live apart from the shared keys."""
        for i, key, _ in self._entries(keys_addr):
            value = self.mem.u64(values_addr + self.off.dictvalues_values + 8 * i)
            if value:
                yield key, value

    def dict_items(self, addr: int) -> Iterator[tuple[int, int]]:
        """(key address, value address) pairs of a dict object."""
        keys = self.mem.u64(addr + self.off.dict_keys)
        values = self.mem.u64(addr + self.off.dict_values)
        if values:
            yield from self._values_items(keys, values)
            return
        for _, key, value in self._entries(keys):
            if value:
                yield key, value

    def dict_get_str(self, addr: int, name: str) -> int:
        """Value address for the str key `name`, or 0."""
        return self._find_str(self.dict_items(addr), name)

    def _find_str(self, items: Iterator[tuple[int, int]], name: str) -> int:
        """The value of the first (key, value) whose key is the str `name`, or 0."""
        for key, value in items:
            try:
                if self.string(key) == name:
                    return value
            except MemoryReadError:
                continue
        return 0

    def attribute(self, obj: int, name: str) -> int:
        """Instance attribute `name` of a plain Python object, or 0.

        Instances of ordinary classes keep attributes outside the object
        (3.11/3.12: a pre-header with a dict or a values array; 3.13: values
        inline after the object), with keys shared in the type's
        `ht_cached_keys`. A materialized `__dict__` is used when present.
        """
        o = self.off
        tp = self.mem.u64(obj + 8)
        flags = self.mem.u64(tp + o.type_flags)
        if not flags & (1 << 4):  # Py_TPFLAGS_MANAGED_DICT
            return 0
        cached_keys = self.mem.u64(tp + o.heaptype_cached_keys)
        if o.version >= (3, 13):
            d = self.mem.u64(obj - 24)
            if d:
                return self.dict_get_str(d, name)
            if flags & (1 << 2) and cached_keys:  # Py_TPFLAGS_INLINE_VALUES
                values = obj + self.mem.u64(tp + o.type_basicsize)
                if not self.mem.u8(values + 3):  # `valid`
                    return 0
                return self._lookup_split(cached_keys, values, name)
            return 0
        if o.version >= (3, 12):
            tagged = self.mem.u64(obj - 24)
            if tagged & 1:
                # stored as values - 1
                return self._lookup_split(cached_keys, tagged + 1, name) if cached_keys else 0
            return self.dict_get_str(tagged, name) if tagged else 0
        d = self.mem.u64(obj - 24)
        if d:
            return self.dict_get_str(d, name)
        values = self.mem.u64(obj - 32)
        return self._lookup_split(cached_keys, values, name) if values and cached_keys else 0

    def _lookup_split(self, keys: int, values: int, name: str) -> int:
        return self._find_str(self._values_items(keys, values), name)
