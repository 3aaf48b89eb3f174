"""What /proc says about a process: its mappings, its pid namespace, its threads, its memory,
its file descriptors and its network namespace's sockets.

The one place that parses these files, for every layer that needs them (the
samplers, the unwinder, the symbolizer and the runtimes), so it sits at the
bottom beside the model and imports nothing of Flamecam's.

Each mapping keeps `pgoff`, so an address turns into a file offset
(`addr - start + pgoff`) that means the same thing in every process mapping
that file, whatever its load address (PIE, shared libraries, ASLR). Inside
another pid namespace (a container) a process knows itself and its threads
by that namespace's numbers, not the host's; `NSpid` in each status file
gives both.
"""

from __future__ import annotations

import ipaddress
import os
import struct
import time
from bisect import bisect_right
from dataclasses import dataclass

DELETED_SUFFIX = " (deleted)"


@dataclass(frozen=True, slots=True)
class Mapping:
    """One line of /proc/PID/maps."""

    start: int
    end: int
    perms: str
    pgoff: int
    dev: str
    inode: int
    path: str  # "" for anonymous memory; "[heap]", "[vdso]"... for pseudo mappings

    @property
    def is_file(self) -> bool:
        return self.inode != 0 and self.path.startswith("/")

    @property
    def deleted(self) -> bool:
        return self.path.endswith(DELETED_SUFFIX)

    @property
    def file_path(self) -> str:
        """The path without the kernel's ' (deleted)' marker."""
        return self.path[: -len(DELETED_SUFFIX)] if self.deleted else self.path

    @property
    def is_exec(self) -> bool:
        return "x" in self.perms

    def file_offset(self, addr: int) -> int:
        return addr - self.start + self.pgoff


def parse_maps(text: str) -> list[Mapping]:
    """The mappings in a /proc/PID/maps text, by start address; bad lines skipped."""
    out = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        try:
            lo, hi = parts[0].split("-")
            out.append(Mapping(int(lo, 16), int(hi, 16), parts[1], int(parts[2], 16),
                               parts[3], int(parts[4]),
                               parts[5].strip() if len(parts) > 5 else ""))
        except ValueError:
            continue
    out.sort(key=lambda m: m.start)
    return out


def read_maps_text(pid: int | str) -> str | None:
    """/proc/PID/maps as text (`pid` may be "self"), or None if gone or unreadable.

    Callers that only look for a name search this text: parsing every line
    of every process on a host costs far more than one search.
    """
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError:
        return None


def read_maps(pid: int | str) -> list[Mapping] | None:
    """The current mappings, or None if the process is gone or unreadable."""
    text = read_maps_text(pid)
    return parse_maps(text) if text is not None else None


class MapIndex:
    """Mappings searchable by address."""

    __slots__ = ("maps", "starts")

    def __init__(self, maps: list[Mapping]) -> None:
        self.maps = maps
        self.starts = [m.start for m in maps]

    def find(self, addr: int) -> Mapping | None:
        i = bisect_right(self.starts, addr) - 1
        if i >= 0:
            m = self.maps[i]
            if addr < m.end:
                return m
        return None


def _innermost_nspid(status_path: str) -> int | None:
    """The last `NSpid` field of a status file (the innermost namespace's id)."""
    try:
        with open(status_path) as f:
            for line in f:
                if line.startswith("NSpid:"):
                    fields = line.split()[1:]
                    return int(fields[-1]) if fields else None
    except (OSError, ValueError):
        pass
    return None


def namespace_pid(pid: int) -> int:
    """The pid as the process itself sees it (innermost NSpid), or `pid`.

    Files a process names after its own pid (`/tmp/perf-PID.map`, HotSpot's
    attach socket) carry this number.
    """
    nspid = _innermost_nspid(f"/proc/{pid}/status")
    return pid if nspid is None else nspid


def pid_namespace(pid: int) -> tuple[int, int] | None:
    """(dev, inode) of `pid`'s pid namespace when it differs from ours, else None."""
    try:
        theirs = os.stat(f"/proc/{pid}/ns/pid")
        ours = os.stat("/proc/self/ns/pid")
    except OSError:
        return None
    if (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino):
        return None
    return theirs.st_dev, theirs.st_ino


def start_time(pid: int) -> str:
    """When `pid` started (clock ticks since boot, as text; "" if it is gone).

    A pid can be reused: the same pid with another start time is another process.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[19]
    except (OSError, IndexError):
        return ""


def thread_ids(pid: int) -> list[int]:
    """The host tids of `pid`'s threads now ([] if it is gone)."""
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except (OSError, ValueError):
        return []


def namespace_tids(pid: int) -> dict[int, int]:
    """Namespace tid -> host tid for every thread of `pid`.

    Runtimes record their threads' ids as their namespace numbers them.
    """
    out: dict[int, int] = {}
    for tid in thread_ids(pid):
        ns = _innermost_nspid(f"/proc/{pid}/task/{tid}/status")
        if ns is not None:
            out[ns] = tid
    return out


# -- /proc/PID/mem -------------------------------------------------------------
# A pread on /proc/PID/mem neither stops nor signals the target, which is
# what lets Flamecam read an unmodified, running process at any rate without
# ptrace stops. The target keeps running while we read, so every value may be
# torn or stale: callers validate what they read and treat MemoryReadError as
# "not available now", never as a crash.
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


# -- file descriptors and sockets ------------------------------------------------
def fd_link(pid: int, fd: int) -> str | None:
    """What /proc/PID/fd/FD points at ("/path", "socket:[INODE]", "pipe:[INODE]",
    "anon_inode:[eventfd]", ...), or None when the fd is closed or the process gone."""
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}")
    except (OSError, ValueError):
        return None


def net_namespace(pid: int) -> int | None:
    """The inode of `pid`'s network namespace (sockets are listed per namespace)."""
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class SocketInfo:
    """One socket of a network namespace, as /proc/PID/net/* lists it."""

    proto: str  # "tcp", "tcp6", "udp", "udp6", "unix"
    local: str  # "127.0.0.1:8080", "[::1]:443", or a unix path ("" when unnamed)
    remote: str  # "" when unconnected (or unix: the kernel does not list the peer)
    state: str = ""  # TCP state name ("ESTABLISHED", ...), "" otherwise

    def describe(self) -> str:
        if self.proto == "unix":
            return f"unix {self.local}" if self.local else "unix socket"
        kind = self.proto.rstrip("6")
        if self.remote:
            return f"{kind} {self.local} -> {self.remote}"
        return f"{kind} {self.local}" + (f" ({self.state.lower()})" if self.state else "")


_TCP_STATES = ("", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
               "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING")


def _inet_address(field: str, v6: bool) -> tuple[str, int]:
    """A /proc/net/tcp address ("0100007F:1F90": 32-bit words in host byte order)."""
    addr_hex, port_hex = field.split(":")
    raw = bytes.fromhex(addr_hex)
    # Each 32-bit word is printed as a host-order integer: reverse each word's bytes.
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.IPv6Address(words) if v6 else ipaddress.IPv4Address(words)
    if v6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped), int(port_hex, 16)
    return (f"[{ip}]" if v6 else str(ip)), int(port_hex, 16)


def parse_inet_sockets(text: str, proto: str) -> dict[int, SocketInfo]:
    """Socket inode -> SocketInfo for a /proc/net/{tcp,tcp6,udp,udp6} text."""
    out: dict[int, SocketInfo] = {}
    v6 = proto.endswith("6")
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 10:
            continue
        try:
            lip, lport = _inet_address(f[1], v6)
            rip, rport = _inet_address(f[2], v6)
            st = int(f[3], 16)
            inode = int(f[9])
        except ValueError:
            continue
        remote = f"{rip}:{rport}" if rport else ""
        state = _TCP_STATES[st] if proto.startswith("tcp") and st < len(_TCP_STATES) else ""
        out[inode] = SocketInfo(proto, f"{lip}:{lport}", remote, state)
    return out


def parse_unix_sockets(text: str) -> dict[int, SocketInfo]:
    """Socket inode -> SocketInfo for a /proc/net/unix text (path, "@name" or unnamed)."""
    out: dict[int, SocketInfo] = {}
    for line in text.splitlines()[1:]:
        f = line.split(None, 7)
        if len(f) < 7:
            continue
        try:
            inode = int(f[6])
        except ValueError:
            continue
        out[inode] = SocketInfo("unix", f[7].strip() if len(f) > 7 else "", "")
    return out


def read_sockets(pid: int) -> dict[int, SocketInfo]:
    """Every TCP, UDP and unix socket of `pid`'s network namespace, by inode."""
    out: dict[int, SocketInfo] = {}
    for proto in ("tcp", "tcp6", "udp", "udp6", "unix"):
        try:
            with open(f"/proc/{pid}/net/{proto}") as f:
                text = f.read()
        except OSError:
            continue
        out.update(parse_unix_sockets(text) if proto == "unix"
                   else parse_inet_sockets(text, proto))
    return out


# -- a thread's scheduler state ---------------------------------------------------
@dataclass(frozen=True, slots=True)
class ThreadStatus:
    """What /proc/PID/task/TID says about where a thread is, read without stopping it.

    Fields that could not be read are None, and `unreadable` says why (the
    kernel stack and system call need root, or CAP_SYS_ADMIN and ptrace
    access respectively).
    """

    tid: int
    comm: str
    state: str  # the stat letter: R running or runnable, S sleeping, D uninterruptible...
    wchan: str  # the kernel function it sleeps in ("" when running or hidden)
    syscall: tuple[int, ...] | None  # (nr, arg0..arg5, sp, pc); nr -1: asleep outside one
    kernel_stack: tuple[str, ...] | None  # kernel function names, leaf first
    last_ran_ms: float | None  # se.exec_start: when it last ran, on the scheduler's clock
    unreadable: tuple[str, ...] = ()


def parse_syscall(text: str) -> tuple[int, ...] | None:
    """/proc/TID/syscall: (nr, 6 args, sp, pc), (-1, sp, pc), or None ("running")."""
    parts = text.split()
    if not parts or parts[0] == "running":
        return None
    try:
        return tuple(int(p, 0) for p in parts)
    except ValueError:
        return None


def parse_kernel_stack(text: str) -> tuple[str, ...]:
    """Function names of /proc/TID/stack lines like `[<0>] do_nanosleep+0x74/0xf0`."""
    out = []
    for line in text.splitlines():
        sym = line.split("] ", 1)[-1].strip()
        if sym:
            out.append(sym.split("+", 1)[0].split(" ", 1)[0])
    return tuple(out)


def _sched_exec_start(text: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("se.exec_start"):
            try:
                return float(line.split(":", 1)[1])
            except (IndexError, ValueError):
                return None
    return None


def _read_text(path: str) -> tuple[str | None, str]:
    """(text, "") or (None, why not)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(), ""
    except OSError as e:
        return None, e.strerror or str(e)


def thread_status(pid: int, tid: int) -> ThreadStatus | None:
    """The thread's state now, or None when it is gone."""
    base = f"/proc/{pid}/task/{tid}"
    stat, _ = _read_text(f"{base}/stat")
    if stat is None:
        return None
    head, _, tail = stat.rpartition(")")
    comm = head.split("(", 1)[-1]
    state = tail.split()[0] if tail.split() else "?"
    unreadable = []
    wchan, _ = _read_text(f"{base}/wchan")
    sc_text, why = _read_text(f"{base}/syscall")
    if sc_text is None:
        unreadable.append(f"system call: {why}")
    ks_text, why = _read_text(f"{base}/stack")
    if ks_text is None:
        unreadable.append(f"kernel stack: {why}")
    sched, _ = _read_text(f"{base}/sched")
    return ThreadStatus(
        tid=tid, comm=comm, state=state,
        wchan="" if wchan in (None, "0") else wchan.strip(),
        syscall=parse_syscall(sc_text) if sc_text is not None else None,
        kernel_stack=parse_kernel_stack(ks_text) if ks_text is not None else None,
        last_ran_ms=_sched_exec_start(sched) if sched is not None else None,
        unreadable=tuple(unreadable))


def sched_clock_offset_ms() -> float:
    """CLOCK_MONOTONIC minus the scheduler's clock (ms), to date `last_ran_ms`.

    They differ by a constant on a running system (seconds, on a VM). The
    calling thread's own exec_start is "now" on the scheduler's clock right
    after a yield (which updates it), within a tick.
    """
    os.sched_yield()
    text, _ = _read_text("/proc/thread-self/sched")
    now = time.monotonic() * 1000
    start = _sched_exec_start(text) if text is not None else None
    return now - start if start is not None else 0.0
