"""A least-recently-used cache bounded by an estimate of bytes held.

Symbol and CFI tables are keyed by build-id so that a fleet of processes
running the same binaries parses each binary once; the bound keeps a host
with thousands of distinct binaries from growing without limit.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class ByteLRU(Generic[V]):
    def __init__(self, max_bytes: int, on_evict: Callable[[V], None] | None = None) -> None:
        self.max_bytes = max_bytes
        self.on_evict = on_evict
        self._items: OrderedDict[str, tuple[V, int]] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def values(self) -> list[V]:
        return [v for v, _ in self._items.values()]

    def get(self, key: str) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: str, value: V, nbytes: int) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self._items[key] = (value, nbytes)
        self.bytes += nbytes
        self.trim()

    def resize(self, key: str, nbytes: int) -> None:
        """Records that an entry grew (lazily loaded parts)."""
        item = self._items.get(key)
        if item is not None:
            self.bytes += nbytes - item[1]
            self._items[key] = (item[0], nbytes)
            self.trim()

    def trim(self) -> None:
        # Always keep the most recent entry, even if it alone exceeds the bound.
        while self.bytes > self.max_bytes and len(self._items) > 1:
            _, (value, nbytes) = self._items.popitem(last=False)
            self.bytes -= nbytes
            if self.on_evict is not None:
                self.on_evict(value)


class BlobCache:
    """Bytes on disk, one file per key, under `<directory>/<namespace>/`.

    Writes go through a temporary file and a rename, so concurrent profilers
    sharing a cache directory never read a half-written entry.
    """

    def __init__(self, directory: str, namespace: str) -> None:
        self.dir = os.path.join(directory, namespace)

    def path(self, key: str) -> str:
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in key)
        return os.path.join(self.dir, safe)

    def get(self, key: str) -> bytes | None:
        try:
            with open(self.path(key), "rb") as f:
                return f.read()
        except OSError:
            return None

    def put(self, key: str, data: bytes) -> None:
        try:
            os.makedirs(self.dir, exist_ok=True)
            tmp = f"{self.path(key)}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, self.path(key))
        except OSError:
            pass
