"""A cache bounded by the estimated bytes of its entries (issue 15 item 12).

The store's id and frame caches and the query engine's stack names each hold
what deep distinct stacks would otherwise grow without end.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable


class ByteBoundedCache:
    """A mapping whose entries' estimated sizes never sum past `max_bytes`, the
    oldest put evicted first.

    `size_of(key, value)` estimates one entry's bytes (key, value and the
    dict's own share).
    """

    def __init__(self, max_bytes: int, size_of: Callable[[object, object], int]) -> None:
        self.max_bytes = max_bytes
        self.size_of = size_of
        self.bytes = 0
        self._d: OrderedDict = OrderedDict()
        # `get(key)` is the dict's own, called from C (reads do not reorder:
        # no lock needed): a Python method around it cost a Python call per
        # stack of every push (1,000 in bench/ingest.py's).
        self.get: Callable[[object], object | None] = self._d.get

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, key) -> bool:
        return key in self._d

    def put(self, key, value) -> None:
        """Add (the caller holds its lock over puts); evicts the oldest over the bound."""
        old = self._d.pop(key, None)
        if old is not None:
            self.bytes -= self.size_of(key, old)
        self._d[key] = value
        self.bytes += self.size_of(key, value)
        self._evict()

    def put_many(self, keys: list, values: list, size: int | None = None) -> None:
        """`put` of each key with the value at its position, in order, without
        a call per entry (a cold render caches ~100k stacks' keys); `size`, the
        entries' summed `size_of` when the caller knows it in bulk."""
        d, size_of = self._d, self.size_of
        if d:
            for key in d.keys() & keys:  # replaced: their old sizes go
                self.bytes -= size_of(key, d.pop(key))
        d.update(zip(keys, values, strict=True))
        self.bytes += sum(map(size_of, keys, values)) if size is None else size
        self._evict()

    def _evict(self) -> None:
        while self.bytes > self.max_bytes and self._d:
            k, gone = self._d.popitem(last=False)
            self.bytes -= self.size_of(k, gone)
