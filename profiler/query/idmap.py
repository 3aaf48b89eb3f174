"""uint32 id -> uint32 value maps read a whole list of stacks at a time.

A cold whole-host render turns ~1.8M stored frame ids (~90k stacks) into
name indexes: the C `_idmap.IdMap` (built by `make native`) does it a few ns
an id with no Python step per stack; `DictIdMap` is the same map over a dict
(~60 ns an id), used when that is not built. A stack is a buffer of
native-endian uint32 ids (`array("I")` bytes, as stored); `keys` answers each
one's values as big-endian uint32, the key renders sort and merge by;
`sorted_keys` sorts those keys by memcmp (`sorted` compares each pair through
Python's rich comparison, ~25 ms for a host's ~90k keys), `sorted_sums` also
sums the values of equal keys on the way (no dict of the merged stacks), and
`all_positive` checks an int64 array without boxing each value.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, Sequence
from itertools import accumulate


class DictIdMap:
    """`_idmap.IdMap`'s interface over a dict."""

    def __init__(self) -> None:
        self._map: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._map)

    @property
    def nbytes(self) -> int:
        return 100 * len(self._map)  # a dict entry and its two ints

    def update(self, ids: Sequence[int], values: Sequence[int]) -> None:
        """Maps each id to the value at its position."""
        self._map.update(zip(ids, values, strict=True))

    def missing(self, stacks: Sequence[bytes]) -> list[int]:
        """The distinct ids of the stacks not in the map."""
        return list(set(_ids(b"".join(stacks))).difference(self._map))

    def keys(self, stacks: Sequence[bytes]) -> list[bytes]:
        """Each stack's values as big-endian uint32 (KeyError: an id not in the
        map): mapped as one array, then cut, with no struct.pack per stack."""
        named = array("I", map(self._map.__getitem__, _ids(b"".join(stacks))))
        if sys.byteorder == "little":
            named.byteswap()
        flat = named.tobytes()
        del named
        ends = list(accumulate(map(len, stacks)))
        starts = [0, *ends]
        starts.pop()
        return list(map(flat.__getitem__, map(slice, starts, ends)))


def _ids(buf: bytes) -> array:
    a = array("I")
    a.frombytes(buf)
    return a


def sorted_keys_py(keys: Iterable[bytes]) -> list[bytes]:
    """`_idmap.sorted_keys`'s answer: the keys in bytes order."""
    return sorted(keys)


def summed(keys: list[bytes], values: list[int]) -> dict[bytes, int]:
    """The sum of the values of each key."""
    acc = dict(zip(keys, values, strict=True))  # in C, when no key repeats
    if len(acc) < len(keys):
        acc = {}
        get = acc.get
        for k, v in zip(keys, values, strict=True):
            acc[k] = get(k, 0) + v
    return acc


def sorted_sums_py(keys: list[bytes], values: list[int]) -> tuple[list[bytes], list[int]]:
    """`_idmap.sorted_sums`'s answer: each distinct key once, in bytes order,
    with the sum of its values."""
    acc = summed(keys, values)
    out = sorted(acc)
    return out, list(map(acc.__getitem__, out))


def all_positive_py(values: array) -> bool:
    """`_idmap.all_positive`'s answer: every value of an int64 array is > 0."""
    return min(values, default=1) > 0


try:
    from profiler.query._idmap import IdMap, all_positive, sorted_keys, sorted_sums
except ImportError:  # not built: the dict's map, Python's sorts and min
    IdMap = DictIdMap  # type: ignore[misc,assignment]
    sorted_keys = sorted_keys_py
    sorted_sums = sorted_sums_py
    all_positive = all_positive_py

__all__ = ["DictIdMap", "IdMap", "all_positive", "all_positive_py", "sorted_keys",
           "sorted_keys_py", "sorted_sums", "sorted_sums_py", "summed"]
