"""Line numbers from CPython 3.11+ location tables (`co_linetable`).

The format (Objects/locations.md in CPython) is a run of entries, each
covering 1-8 code units: a first byte `1cccclll` (code, length-1) followed by
varints. Only the line delta is needed here. Decoding happens once per code
object and instruction offset, so a dict cache in the caller makes it free.
"""

from __future__ import annotations


def _varint(data: bytes, i: int) -> tuple[int, int]:
    b = data[i]
    i += 1
    val = b & 63
    shift = 0
    while b & 64:
        b = data[i]
        i += 1
        shift += 6
        val |= (b & 63) << shift
    return val, i


def _svarint(data: bytes, i: int) -> tuple[int, int]:
    v, i = _varint(data, i)
    return (-(v >> 1) if v & 1 else v >> 1), i


def line_for_offset(linetable: bytes, firstlineno: int, index: int) -> int:
    """Source line of the code unit at `index` (0 if unknown)."""
    line = firstlineno
    addr = 0
    i = 0
    n = len(linetable)
    try:
        while i < n:
            first = linetable[i]
            i += 1
            code = (first >> 3) & 15
            length = (first & 7) + 1
            this_line: int | None = line
            if code == 15:  # no location
                this_line = None
            elif code == 14:  # long form
                delta, i = _svarint(linetable, i)
                line += delta
                this_line = line
                for _ in range(3):
                    _, i = _varint(linetable, i)
            elif code == 13:  # no column
                delta, i = _svarint(linetable, i)
                line += delta
                this_line = line
            elif code >= 10:  # one-line forms: delta in the code, two column bytes
                line += code - 10
                this_line = line
                i += 2
            else:  # short forms: same line, one column byte
                i += 1
            if addr <= index < addr + length:
                return this_line or 0
            addr += length
    except IndexError:
        return 0
    return 0
