"""Whether a process is a HotSpot JVM, and whether it can be attached yet."""

from __future__ import annotations

import re

from profiler.procfs import read_maps_text

_LIBJVM = re.compile(r"/libjvm\.so[ \t]*$", re.MULTILINE)


def maps_libjvm(pid: int) -> bool:
    """True when the process maps HotSpot's libjvm.so.

    Searched in the text, not parsed: this runs for every new process on the host.
    """
    text = read_maps_text(pid)
    return text is not None and _LIBJVM.search(text) is not None


SIGQUIT = 3


def catches_sigquit(pid: int) -> bool:
    """True when the process has a SIGQUIT handler (`SigCgt` in /proc/PID/status).

    A JVM installs it while it starts, some time after libjvm.so is mapped;
    before that a SIGQUIT (the attach protocol's knock) kills it with a core
    dump. So SIGQUIT is sent only once this holds (as the JDK's own Attach
    API checks since JDK 21); a JVM started with -Xrs never catches it but
    opens its attach socket at start (`attach.attachable`).
    """
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (SIGQUIT - 1) & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False
