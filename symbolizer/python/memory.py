"""Reading another process's memory through /proc/PID/mem.

A `pread` on /proc/PID/mem neither stops nor signals the target, which is
what lets Flamecam read an unmodified, running interpreter at any rate
without the ptrace stops that made py-spy's blocking mode cost 43% of its
target's throughput. The target keeps running while we read, so every value
may be torn or stale: callers validate what they read and treat
`MemoryReadError` as "this sample has no Python stack", never as a crash.
"""

from __future__ import annotations

import os
import struct

_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")


class MemoryReadError(OSError):
    """The address is unmapped, the process is gone, or access was denied."""


class ProcessMemory:
    """Random-access reads of one process's address space."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            self._fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise MemoryReadError(e.errno, f"cannot open memory of {pid}: {e.strerror}") from e

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ProcessMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def read(self, addr: int, size: int) -> bytes:
        """Exactly `size` bytes at `addr`, or MemoryReadError."""
        if addr <= 0 or size < 0 or addr + size > 0x7FFF_FFFF_FFFF:
            raise MemoryReadError(0, f"bad address {addr:#x}")
        try:
            data = os.pread(self._fd, size, addr)
        except OSError as e:
            raise MemoryReadError(e.errno, f"read {size}@{addr:#x}: {e.strerror}") from e
        if len(data) != size:
            raise MemoryReadError(0, f"short read {len(data)}/{size}@{addr:#x}")
        return data

    def u64(self, addr: int) -> int:
        return _U64.unpack(self.read(addr, 8))[0]

    def u32(self, addr: int) -> int:
        return _U32.unpack(self.read(addr, 4))[0]

    def i32(self, addr: int) -> int:
        return _I32.unpack(self.read(addr, 4))[0]

    def u8(self, addr: int) -> int:
        return self.read(addr, 1)[0]
