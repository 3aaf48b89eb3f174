"""The agent's end of table announcements (docs/TRACE_CONTEXT.md, "Discovery").

A process that makes a thread-context table connects to the agent's abstract
Unix stream socket and sends one fixed-size message saying where the table
is; the agent registers it and answers one byte before the process serves
its first request. Nothing in the kernel watches for announcements (no
tracepoint, no system call hook): processes that do not announce pay nothing.

Trust: the sender is who the kernel says (SO_PEERCRED, as the agent's pid
namespace numbers it), never who the message says. The message's pid and tid
must be the sender's own (its pid as its namespace numbers it, and one of its
threads), and the callback then checks that the address holds a table of
that process, so a process can announce only its own table, which only its
own samples read. Messages are fixed-size and read with a deadline; the
number of connections waiting for their message and the rate of messages
acted on are both bounded, so a local process flooding the socket costs the
agent a bounded share of a CPU and delays other announcements, which the
periodic rescan of /proc still finds.

One thread, blocked in select() on the socket: no cost while nobody announces.
"""

from __future__ import annotations

import itertools
import logging
import os
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable

from ..tracectx import (
    ACK_REFUSED,
    ACK_REGISTERED,
    ANNOUNCE,
    SOCKET_PREFIX,
    Announcement,
    parse_announcement,
)

log = logging.getLogger("flamecam.tracectx")

MESSAGE_DEADLINE_S = 0.5   # from accept to the whole message
MAX_WAITING = 64           # connections accepted whose message has not arrived yet
RATE_PER_S = 200.0         # messages acted on per second (a token bucket)
BURST = 50
FD_PAUSE_S = 1.0           # no accept for this long after running out of fds
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
_serial = itertools.count()

# Register(sender's pid in the agent's namespace, message) -> registered.
Register = Callable[[int, Announcement], bool]


class AnnounceListener:
    """Listens on `SOCKET_PREFIX<pid>.<n>` and hands each well-formed
    announcement to `register`, in its own thread, until `close`."""

    def __init__(self, register: Register, deadline_s: float = MESSAGE_DEADLINE_S) -> None:
        self.register = register
        self.deadline_s = deadline_s
        self.name = f"{SOCKET_PREFIX}{os.getpid()}.{next(_serial)}"
        self.refused = 0  # messages malformed, late, or not about a table of their sender
        self.fd_pauses = 0  # times accept failed for want of file descriptors
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind("\0" + self.name)
        self._sock.listen(MAX_WAITING)
        self._sock.setblocking(False)
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        # made here, not in the thread: a start out of fds fails the caller's listen()
        self._sel = selectors.DefaultSelector()
        self._thread = threading.Thread(target=self._run, name="flamecam-announce", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stops listening (the socket's name is gone with it)."""
        if self._thread.is_alive():
            os.write(self._wake_w, b"x")
            self._thread.join()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    def _run(self) -> None:
        sel = self._sel
        sel.register(self._wake_r, selectors.EVENT_READ)
        sel.register(self._sock, selectors.EVENT_READ)
        listening = True
        waiting: dict[socket.socket, tuple[float, int, bytearray]] = {}  # deadline, pid, bytes
        tokens, refilled = float(BURST), time.monotonic()
        paused_until = 0.0  # out of fds: accept nothing until then
        try:
            while True:
                now = time.monotonic()
                tokens = min(BURST, tokens + (now - refilled) * RATE_PER_S)
                refilled = now
                # Out of tokens (or of fds): stop accepting until one is back (the
                # kernel holds further connections in the backlog, then refuses them).
                if listening != (tokens >= 1 and len(waiting) < MAX_WAITING
                                 and now >= paused_until):
                    listening = not listening
                    if listening:
                        sel.register(self._sock, selectors.EVENT_READ)
                    else:
                        sel.unregister(self._sock)
                due = [d for d, _, _ in waiting.values()]
                if not listening and tokens < 1:
                    due.append(now + (1 - tokens) / RATE_PER_S)
                if now < paused_until:
                    due.append(paused_until)
                timeout = max(0.0, min(due) - now) if due else None
                for key, _ in sel.select(timeout):
                    if key.fileobj == self._wake_r:
                        return
                    if key.fileobj is self._sock and not self._accept(sel, waiting):
                        paused_until = time.monotonic() + FD_PAUSE_S
                    elif key.fileobj in waiting and self._receive(sel, key.fileobj, waiting):
                        tokens -= 1
                now = time.monotonic()
                for conn in [c for c, (d, _, _) in waiting.items() if d <= now]:
                    self.refused += 1  # no whole message in time
                    sel.unregister(conn)
                    waiting.pop(conn)
                    conn.close()
        finally:
            for conn in waiting:
                conn.close()
            sel.close()
            self._sock.close()

    def _accept(self, sel: selectors.BaseSelector,
                waiting: dict[socket.socket, tuple[float, int, bytearray]]) -> bool:
        """Accepts the connections waiting; False when the agent is out of file
        descriptors (the connection stays queued and the socket readable, so
        the caller stops listening a while rather than spin on it)."""
        while len(waiting) < MAX_WAITING:
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return True
            except OSError as e:  # out of fds: the sender's rescan path remains
                self.fd_pauses += 1
                (log.debug if self.fd_pauses > 1 else log.warning)(
                    "announcement socket: %s; not accepting for %.0f s (tables are still "
                    "found by the rescan)", e, FD_PAUSE_S)
                return False
            conn.setblocking(False)
            pid = _PEERCRED.unpack(
                conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))[0]
            waiting[conn] = (time.monotonic() + self.deadline_s, pid, bytearray())
            sel.register(conn, selectors.EVENT_READ)
        return True

    def _receive(self, sel: selectors.BaseSelector, conn: socket.socket,
                 waiting: dict[socket.socket, tuple[float, int, bytearray]]) -> bool:
        """Reads what arrived; True when the connection is done with (answered
        and closed). More bytes than one message is a malformed message."""
        _, pid, buf = waiting[conn]
        try:
            data = conn.recv(ANNOUNCE.size + 1 - len(buf))
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            data = b""
        buf += data
        if data and len(buf) < ANNOUNCE.size:
            return False
        waiting.pop(conn)
        sel.unregister(conn)
        ok = False
        try:
            # pid 0: a sender in a pid namespace the agent cannot see.
            ok = bool(pid) and self.register(pid, parse_announcement(bytes(buf)))
        except ValueError as e:
            log.debug("pid %d: announcement refused: %s", pid, e)
        except Exception:  # a bug in the check must not end the listener
            log.exception("pid %d: announcement", pid)
        if not ok:
            self.refused += 1
        try:
            conn.send(ACK_REGISTERED if ok else ACK_REFUSED)
        except OSError:  # the sender stopped waiting; the registration stands
            pass
        conn.close()
        return True
