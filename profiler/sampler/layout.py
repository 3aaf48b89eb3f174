"""BPF map values that user space writes or reads, as named fields in C order.

A struct written from Python (`struct py_proc`, `struct trace_proc`) is
spelled here once, field by field with the C names, and packed by name: no
positional argument list can put a value in its neighbour's field.
tests/sampler/test_event_layouts.py compiles the C structs and pins every
named field's offset and size to its `MapLayout`.
"""

from __future__ import annotations

import struct
from collections import namedtuple
from typing import Any


class MapLayout:
    """A little-endian C struct: `(name, struct code)` per field, in C order.

    A nested struct's fields are spelled with its member's name, as C's
    offsetof does (`regs.ip`); `unpack` names them with `_` (`regs_ip`).
    """

    def __init__(self, *fields: tuple[str, str]) -> None:
        self.names = tuple(name for name, _ in fields)
        self.codes = tuple(code for _, code in fields)
        self.struct = struct.Struct("<" + "".join(self.codes))
        self.size = self.struct.size
        self._record = namedtuple("Record", [n.replace(".", "_") for n in self.names])

    def within(self, member: str) -> tuple[tuple[str, str], ...]:
        """This struct's fields as those of `member` in an enclosing struct."""
        return tuple((f"{member}.{name}", code) for name, code in zip(self.names, self.codes,
                                                                       strict=True))

    def unpack(self, buf: bytes, offset: int = 0) -> Any:
        """The fields at `offset` of `buf`, read by name: `.pid`, `.regs_ip`."""
        return self._record._make(self.struct.unpack_from(buf, offset))

    def offset(self, name: str) -> int:
        """Where field `name` starts (offsetof)."""
        return self.fields()[name][0]

    def pack(self, **values: int | bytes) -> bytes:
        """The struct's bytes; every field must be given, except `pad*` ones (zero)."""
        missing = [n for n in self.names
                   if n not in values and not n.rpartition(".")[2].startswith("pad")]
        extra = set(values) - set(self.names)
        if missing or extra:
            raise TypeError(f"fields missing {missing}, unknown {sorted(extra)}")
        return self.struct.pack(*(values.get(n, 0) for n in self.names))

    def unpack_from(self, buf: bytes, offset: int = 0) -> dict[str, int | bytes]:
        return dict(zip(self.names, self.struct.unpack_from(buf, offset), strict=True))

    def fields(self) -> dict[str, tuple[int, int]]:
        """name -> (offset, size), as C's offsetof and sizeof would say."""
        out, at = {}, 0
        for name, code in zip(self.names, self.codes, strict=True):
            size = struct.calcsize("<" + code)
            out[name] = (at, size)
            at += size
        return out
