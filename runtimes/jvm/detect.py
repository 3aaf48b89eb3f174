"""Whether a process is a HotSpot JVM: the one test every JVM module starts from."""

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
