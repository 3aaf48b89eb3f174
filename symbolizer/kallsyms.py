"""Kernel symbols from /proc/kallsyms.

kallsyms has no sizes, so each text symbol is taken to run until the next
one. Module symbols carry their module (`[ext4]`), which becomes the frame's
module; core kernel symbols get module `[kernel]`.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right

KERNEL_MODULE = "[kernel]"
_TEXT_TYPES = frozenset((b"t", b"T", b"w", b"W"))


class Kallsyms:
    """A snapshot of /proc/kallsyms, searched with bisect.

    A kernel has 100,000+ text symbols, and an always-on agent keeps them for
    its lifetime: names live in one bytes blob and addresses in an array
    (about 4 MB instead of 16 MB of Python strings and ints).
    """

    def __init__(self, path: str = "/proc/kallsyms") -> None:
        rows: list[tuple[int, bytes, bytes]] = []
        try:
            with open(path, "rb") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) < 3 or parts[1] not in _TEXT_TYPES:
                        continue
                    addr = int(parts[0], 16)
                    if not addr:
                        continue
                    rows.append((addr, parts[2], parts[3] if len(parts) > 3 else b""))
        except OSError:
            rows = []
        rows.sort()
        module_index: dict[bytes, int] = {b"": 0}
        self._modules = [KERNEL_MODULE]
        self.addrs = array("Q", (r[0] for r in rows))
        self._mods = array("H")
        self._ends = array("I")
        blob = bytearray()
        for _addr, name, module in rows:
            m = module_index.get(module)
            if m is None:
                m = module_index[module] = len(self._modules)
                self._modules.append(module.decode("utf-8", "replace"))
            self._mods.append(m)
            blob += name
            self._ends.append(len(blob))
        self._blob = bytes(blob)

    def __len__(self) -> int:
        return len(self.addrs)

    def lookup(self, addr: int) -> tuple[str, str, int] | None:
        """(name, module, offset into the symbol) for a kernel address, or None.

        An empty table (kptr_restrict, not root) yields None for everything.
        """
        i = bisect_right(self.addrs, addr) - 1
        if i < 0:
            return None
        name = self._blob[self._ends[i - 1] if i else 0:self._ends[i]].decode("utf-8", "replace")
        return name, self._modules[self._mods[i]], addr - self.addrs[i]
