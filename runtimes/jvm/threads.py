"""Java thread names keyed by native thread id.

Two sources, freshest first: the file our agent keeps
(`/tmp/flamecam-threads-<nspid>.txt`, "tid<TAB>name" lines), and a thread
dump over the attach protocol (`Thread.print`), whose headers carry the
native id as `nid=0x...` (decimal on newer JDKs). Inside a container both
give namespace tids, mapped back to the host's through /proc/PID/task.
"""

from __future__ import annotations

import re

from profiler.procfs import namespace_pid, namespace_tids

from .attach import jcmd

_HEADER = re.compile(r'^"(.*)"[^\n]*?\bnid=(0x[0-9a-fA-F]+|\d+)', re.MULTILINE)


def parse_thread_dump(dump: str) -> dict[int, str]:
    """nid -> name from `Thread.print` output."""
    out: dict[int, str] = {}
    for m in _HEADER.finditer(dump):
        nid = m.group(2)
        out[int(nid, 16) if nid.startswith("0x") else int(nid)] = m.group(1)
    return out


def _to_host(pid: int, names: dict[int, str]) -> dict[int, str]:
    if namespace_pid(pid) == pid:
        return names
    table = namespace_tids(pid)
    return {table.get(t, t): n for t, n in names.items()}


def agent_file(pid: int) -> str:
    return f"/proc/{pid}/root/tmp/flamecam-threads-{namespace_pid(pid)}.txt"


def from_agent_file(pid: int) -> dict[int, str] | None:
    """Names the agent published, or None when it does not run in `pid`."""
    try:
        with open(agent_file(pid)) as f:
            text = f.read()
    except OSError:
        return None
    names: dict[int, str] = {}
    for line in text.splitlines():
        tid, _, name = line.partition("\t")
        if tid.isdigit():
            names[int(tid)] = name
    return _to_host(pid, names)


def from_thread_dump(pid: int) -> dict[int, str]:
    return _to_host(pid, parse_thread_dump(jcmd(pid, "Thread.print")))
