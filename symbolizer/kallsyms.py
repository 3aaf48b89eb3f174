"""Kernel symbols from /proc/kallsyms.

kallsyms has no sizes, so each text symbol is taken to run until the next
one. Module symbols carry their module (`[ext4]`), which becomes the frame's
module; core kernel symbols get module `[kernel]`.
"""

from __future__ import annotations

from bisect import bisect_right

KERNEL_MODULE = "[kernel]"
_TEXT_TYPES = frozenset("tTwW")


class Kallsyms:
    """A snapshot of /proc/kallsyms, searched with bisect."""

    def __init__(self, path: str = "/proc/kallsyms") -> None:
        addrs: list[int] = []
        rows: list[tuple[int, str, str]] = []
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) < 3 or parts[1] not in _TEXT_TYPES:
                        continue
                    addr = int(parts[0], 16)
                    if not addr:
                        continue
                    module = parts[3] if len(parts) > 3 else KERNEL_MODULE
                    rows.append((addr, parts[2], module))
        except OSError:
            rows = []
        rows.sort()
        self.addrs = addrs
        self.names: list[str] = []
        self.modules: list[str] = []
        for addr, name, module in rows:
            addrs.append(addr)
            self.names.append(name)
            self.modules.append(module)

    def __len__(self) -> int:
        return len(self.addrs)

    def lookup(self, addr: int) -> tuple[str, str, int] | None:
        """(name, module, offset into the symbol) for a kernel address, or None.

        An empty table (kptr_restrict, not root) yields None for everything.
        """
        i = bisect_right(self.addrs, addr) - 1
        if i < 0:
            return None
        return self.names[i], self.modules[i], addr - self.addrs[i]
