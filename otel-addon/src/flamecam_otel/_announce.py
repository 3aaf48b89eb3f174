"""Telling the Flamecam agents on this host where the table is (docs/TRACE_CONTEXT.md,
"Discovery").

Each agent listens on an abstract Unix stream socket whose name starts with
SOCKET_PREFIX. The writer connects to every one listed in /proc/net/unix,
sends one fixed-size message and waits for one byte: the agent identifies
the sender by the kernel's SO_PEERCRED (never by what the message says),
checks the table in the sender's memory and registers it before answering,
so the thread's next sample is linked. Nothing in the kernel watches for
this: processes that do not announce pay nothing, and an announcement costs
one connection per agent, once per table (at start and after a fork).

With no agent running the list is empty and nothing waits; an agent started
later finds the table by its first look at /proc/*/maps.
"""

from __future__ import annotations

import os
import socket
import struct
import threading

from ._layout import ACK_REGISTERED, ANNOUNCE, MAGIC, SOCKET_PREFIX, VERSION

# How long one agent may take to answer (connect, check, register): a stuck
# agent delays the app's start by at most this, once per agent.
TIMEOUT_S = 0.5
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
_LISTENING = 0x10000  # __SO_ACCEPTCON in /proc/net/unix's Flags column


def listeners() -> list[str]:
    """Abstract names (without the leading NUL) of the agents listening in
    this network namespace, from /proc/net/unix."""
    try:
        with open("/proc/net/unix", "rb") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return []
    prefix = b"@" + SOCKET_PREFIX.encode()
    names: dict[str, None] = {}
    for line in lines:
        # Num RefCount Protocol Flags Type St Inode Path
        fields = line.split()
        if len(fields) == 8 and fields[7].startswith(prefix):
            try:
                if int(fields[3], 16) & _LISTENING:
                    names[fields[7][1:].decode("ascii", "replace")] = None
            except ValueError:
                continue
    return list(names)


def announce(base: int, nslots: int, timeout_s: float = TIMEOUT_S) -> int:
    """Announces the table at address `base` to every agent listening; returns
    how many registered it. Only an agent run by root or by this process's own
    user is told (a listener of another user could not read the table anyway,
    and need not learn where it is)."""
    msg = ANNOUNCE.pack(MAGIC, VERSION, os.getpid(), threading.get_native_id(), nslots, base)
    registered = 0
    for name in listeners():
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout_s)
                s.connect("\0" + name)
                _pid, uid, _gid = _PEERCRED.unpack(
                    s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
                if uid not in (0, os.getuid()):
                    continue
                s.sendall(msg)
                registered += s.recv(1) == ACK_REGISTERED
        except OSError:  # gone, stuck or refused: its rescan of /proc finds the table
            continue
    return registered
