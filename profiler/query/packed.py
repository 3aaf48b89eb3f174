"""A thread-events answer with its event columns as typed arrays, in one body.

`GET /api/v1/thread-events?...&format=columns` (docs/CONTRACTS.md). A trace of
100,000 events is ~3 MB of JSON integers: encoding them was an eighth of the
server's answer and parsing them a third of the page's work before the trace
view could draw. Here each column is the bytes of a little-endian array of
the narrowest type that holds its values (what a browser's typed array reads
in place, without parsing): the body is

    u32 LE header length H | header: the answer as JSON, "events" replaced by
    "columns": [[name, type, length], ..] | zero bytes up to a multiple of 8 |
    each column's bytes, zero-padded to a multiple of 8

with type one of u8, u16, u32, i32, f64 (f64 for integers past 32 bits: exact
up to 2^53, as a JSON number read by a browser).
"""

from __future__ import annotations

import json
import struct
import sys
from array import array
from collections.abc import Sequence

MEDIA_TYPE = "application/vnd.flamecam.columns"

# (type, array code, smallest, largest); the codes' sizes are 1, 2, 4, 4 bytes
_INTS = (("u8", "B", 0, 0xFF), ("u16", "H", 0, 0xFFFF), ("u32", "I", 0, 0xFFFFFFFF),
         ("i32", "i", -(1 << 31), (1 << 31) - 1))
ITEM_BYTES = {"u8": 1, "u16": 2, "u32": 4, "i32": 4, "f64": 8}


def _typed(values: Sequence[int]) -> tuple[str, array]:
    """The narrowest array type holding every value, and the values in it."""
    lo, hi = (min(values), max(values)) if len(values) else (0, 0)
    for name, code, least, most in _INTS:
        if least <= lo and hi <= most:
            return name, array(code, values)
    return "f64", array("d", values)


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 8)


def pack_columns(answer: dict) -> bytes:
    """The body of `answer` (a thread-events answer) with its `events` as arrays."""
    head = {k: v for k, v in answer.items() if k != "events"}
    head["columns"] = []
    parts = []
    for name, values in answer["events"].items():
        kind, arr = _typed(values)
        assert arr.itemsize == ITEM_BYTES[kind]
        if sys.byteorder != "little":
            arr.byteswap()
        head["columns"].append([name, kind, len(arr)])
        data = arr.tobytes()
        parts += [data, _pad(len(data))]
    header = json.dumps(head, separators=(",", ":")).encode()
    return b"".join([struct.pack("<I", len(header)), header, _pad(4 + len(header)), *parts])


def unpack_columns(body: bytes) -> dict:
    """The answer `pack_columns` packed, its columns as lists (what clients other
    than the web UI, and the tests, read it with)."""
    (n,) = struct.unpack_from("<I", body)
    answer = json.loads(body[4:4 + n])
    at = 4 + n + (-(4 + n) % 8)
    codes = {name: code for name, code, _lo, _hi in _INTS} | {"f64": "d"}
    events = {}
    for name, kind, length in answer.pop("columns"):
        arr = array(codes[kind])
        arr.frombytes(body[at:at + length * ITEM_BYTES[kind]])
        if sys.byteorder != "little":
            arr.byteswap()
        events[name] = [int(v) for v in arr] if kind == "f64" else arr.tolist()
        at += length * ITEM_BYTES[kind] + (-(length * ITEM_BYTES[kind]) % 8)
    answer["events"] = events
    return answer
