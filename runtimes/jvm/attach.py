"""The HotSpot attach protocol, spoken directly from Python.

Why not jcmd or jpype: each starts a JVM (0.2 s and ~60 MiB in the
profiler); the protocol itself is a UNIX socket and one signal, measured at
21 ms for the first command and under 1 ms after. Steps (HotSpot 8-21,
LinuxAttachListener): create `.attach_pid<nspid>` in the target's cwd or
/tmp, send SIGQUIT, wait for `/tmp/.java_pid<nspid>`, then send
`1\\0<cmd>\\0<arg0>\\0<arg1>\\0<arg2>\\0` and read `<rc>\\n<output>` until EOF.
Paths go through /proc/PID/root and the namespace pid, so JVMs in
containers work too.

SIGQUIT makes a process without HotSpot's handler dump core, so it is sent
only to a process that maps libjvm.so and catches SIGQUIT (a JVM still
starting does not yet), checked right before sending.
"""

from __future__ import annotations

import os
import signal
import socket
import time

from profiler.procfs import namespace_pid

from .detect import catches_sigquit, maps_libjvm


class AttachError(RuntimeError):
    """The JVM could not be attached or refused the command."""


def _socket_path(pid: int) -> str:
    return f"/proc/{pid}/root/tmp/.java_pid{namespace_pid(pid)}"


def attachable(pid: int) -> bool:
    """True when a command can be sent now: the attach socket is open (a JVM
    started with -Xrs opens it at start), or the JVM catches SIGQUIT, the knock
    that opens it (a JVM still starting does not yet, and would die of it)."""
    return os.path.exists(_socket_path(pid)) or catches_sigquit(pid)


def _start_listener(pid: int, timeout: float) -> str:
    """Ask the JVM to open its attach socket; returns the socket's path."""
    path = _socket_path(pid)
    if os.path.exists(path):
        return path
    if not maps_libjvm(pid):
        raise AttachError(f"pid {pid} does not map libjvm.so: not sending SIGQUIT")
    if not catches_sigquit(pid):
        raise AttachError(f"pid {pid}: the JVM has no SIGQUIT handler yet: not sending SIGQUIT")
    nspid = namespace_pid(pid)
    trigger = ""
    for d in (f"/proc/{pid}/cwd", f"/proc/{pid}/root/tmp"):
        candidate = f"{d}/.attach_pid{nspid}"
        try:
            with open(candidate, "w"):
                pass
            trigger = candidate
            break
        except OSError:
            continue
    if not trigger:
        raise AttachError(f"pid {pid}: cannot create .attach_pid{nspid}")
    try:
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + timeout
        delay = 0.002
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                raise AttachError(f"pid {pid}: JVM did not open its attach socket "
                                  f"(started with -XX:+DisableAttachMechanism?)")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
    finally:
        try:
            os.unlink(trigger)
        except OSError:
            pass
    return path


def execute(pid: int, command: str, *args: str, timeout: float = 5.0) -> str:
    """Runs one attach command (e.g. "jcmd", "load") and returns its output."""
    path = _start_listener(pid, timeout)
    parts = [command, *args][:4]
    parts += [""] * (4 - len(parts))
    request = b"1\0" + b"".join(p.encode() + b"\0" for p in parts)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(path)
            s.sendall(request)
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except OSError as e:
            raise AttachError(f"pid {pid}: attach socket: {e}") from e
    reply = b"".join(chunks).decode("utf-8", "replace")
    rc_text, _, output = reply.partition("\n")
    try:
        rc = int(rc_text.strip())
    except ValueError as e:
        raise AttachError(f"pid {pid}: malformed reply {reply[:80]!r}") from e
    if rc != 0:
        raise AttachError(f"pid {pid}: {command} {' '.join(args)} failed ({rc}): {output.strip()}")
    return output


def jcmd(pid: int, line: str, timeout: float = 5.0) -> str:
    """What `jcmd PID <line>` prints, without starting a JVM."""
    out = execute(pid, "jcmd", line, timeout=timeout)
    # jcmd-over-attach reports command errors in the text, with rc 0.
    if out.startswith("java.lang.IllegalArgumentException") or "Unknown diagnostic command" in out:
        raise AttachError(f"pid {pid}: jcmd {line}: {out.strip()}")
    return out


def load_agent(pid: int, jar: str, options: str = "", timeout: float = 10.0) -> None:
    """Loads a Java agent jar into the running JVM (its `agentmain` runs)."""
    arg = f"{jar}={options}" if options else jar
    out = execute(pid, "load", "instrument", "false", arg, timeout=timeout)
    if out.strip() not in ("", "0", "return code: 0"):
        raise AttachError(f"pid {pid}: agent load failed: {out.strip()}")
