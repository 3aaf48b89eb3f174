"""What a blocked system call waited on: its file descriptor, named from /proc.

The kernel program hands over the descriptor number only (no kernel struct
is read); /proc/PID/fd says what it is and /proc/PID/net/* describes
sockets. Links are cached per (pid, fd) and read again at most once per
round (one poll of the ring buffers, ~100 ms), which is also how reuse is
noticed: a descriptor closed and opened on something else links elsewhere.
The round is as close to the wait as user space gets; a descriptor closed
before it is "unresolved", never guessed.
"""

from __future__ import annotations

from collections.abc import Callable

from ..procfs import SocketInfo, fd_link, net_namespace, read_sockets
from .syscalls import FD_FIRST, FUTEX_FIRST

# Entries kept per cache before they are all dropped (the agent runs for months).
CACHE_LIMIT = 65_536


def describe_link(link: str | None, fd: int, sockets: dict[int, SocketInfo] | None) -> str:
    """A target as a user reads it, from the fd's /proc link (None: the fd is gone)."""
    if link is None:
        return f"unresolved (fd {fd} closed)"
    if link.startswith("socket:["):
        inode = _inode(link)
        info = (sockets or {}).get(inode) if inode is not None else None
        return info.describe() if info is not None else f"socket (unresolved, {link})"
    if link.startswith("pipe:["):
        return link.replace("pipe:", "pipe ", 1)
    if link.startswith("anon_inode:"):
        name = link[len("anon_inode:"):].strip("[]")
        return {"eventpoll": "epoll"}.get(name, name)
    return link


def _inode(link: str) -> int | None:
    try:
        return int(link[link.index("[") + 1:link.index("]")])
    except ValueError:
        return None


class FdTargets:
    """(pid, fd) -> target text, cached and re-checked once per round."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, int], tuple[str | None, str]] = {}
        self._checked: set[tuple[int, int]] = set()
        self._sockets: dict[int, dict[int, SocketInfo]] = {}  # netns inode -> sockets
        self._sockets_read: set[int] = set()

    def new_round(self) -> None:
        """Links may have changed since: read each again when next asked."""
        self._checked.clear()
        self._sockets_read.clear()

    def resolve(self, pid: int, fd: int) -> str:
        key = (pid, fd)
        hit = self._cache.get(key)
        if hit is not None and key in self._checked:
            return hit[1]
        link = fd_link(pid, fd)
        self._checked.add(key)
        if hit is not None and hit[0] == link and link is not None and _final(hit[1]):
            return hit[1]
        target = describe_link(link, fd, self._sockets_for(pid, link))
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = (link, target)
        return target

    def _sockets_for(self, pid: int, link: str | None) -> dict[int, SocketInfo] | None:
        """The sockets of pid's namespace, read again (once a round) when `link` is not there."""
        if link is None or not link.startswith("socket:["):
            return None
        ns = net_namespace(pid)
        if ns is None:
            return None
        table = self._sockets.get(ns)
        if (table is None or _inode(link) not in table) and ns not in self._sockets_read:
            if len(self._sockets) >= 64:
                self._sockets.clear()
            table = self._sockets[ns] = read_sockets(pid)
            self._sockets_read.add(ns)
        return table

    def forget(self, pid: int) -> None:
        """Drops what is known of `pid`'s descriptors (it exited or exec'd)."""
        for key in [k for k in self._cache if k[0] == pid]:
            del self._cache[key]


def _final(target: str) -> bool:
    """Whether a target can be kept while the link stays the same.

    An unconnected socket may connect later under the same inode; an
    unresolved one may appear in /proc/net once the kernel lists it.
    """
    return not (target.startswith(("socket (unresolved", "tcp ", "udp "))
                and " -> " not in target and "(listen)" not in target)


def fd_arg(arg: int) -> int:
    """A descriptor argument as the kernel reads it (an int in a 64-bit register)."""
    arg &= 0xFFFF_FFFF
    return arg - (1 << 32) if arg >= 1 << 31 else arg


def wait_target(call: str, reason: str, arg0: int, fd_target: Callable[[int], str]) -> str:
    """What a wait in system call `call` (first argument `arg0`) was on ("" when unknown).

    `fd_target(fd)` names a descriptor (FdTargets.resolve, or a name kept
    from when the wait was seen).
    """
    if call in FUTEX_FIRST:
        return "the GIL" if reason == "gil" else f"futex 0x{arg0:x}"
    if call in FD_FIRST:
        return fd_target(fd_arg(arg0))
    return ""
