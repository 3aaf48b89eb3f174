"""Series labels for a process: service name and version, host.

Order for `service_name`: `OTEL_SERVICE_NAME`, then `service.name` in
`OTEL_RESOURCE_ATTRIBUTES` (both from /proc/PID/environ), then a systemd unit
or container from /proc/PID/cgroup, then the executable name. Results are
cached per pid (and start time, so a recycled pid is relabelled).
"""

from __future__ import annotations

import os
import re
import socket
from urllib.parse import unquote

from profiler.procfs import start_time

_UNIT = re.compile(r"/([^/]+)\.service(?:/|$)")
_CONTAINER = re.compile(r"(?:docker|cri-containerd|crio|libpod)-([0-9a-f]{12,64})\.scope")
_CONTAINER_PATH = re.compile(r"/(?:docker|kubepods[^/]*/[^/]+)/([0-9a-f]{64})")


def parse_resource_attributes(value: str) -> dict[str, str]:
    out = {}
    for part in value.split(","):
        k, sep, v = part.partition("=")
        if sep and k.strip():
            out[k.strip()] = unquote(v.strip())
    return out


def _environ(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read(1 << 20)
    except OSError:
        return {}
    env = {}
    for item in raw.split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep and k in (b"OTEL_SERVICE_NAME", b"OTEL_RESOURCE_ATTRIBUTES"):
            env[k.decode(errors="replace")] = v.decode(errors="replace")
    return env


def _cgroup_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            text = f.read(1 << 16)
    except OSError:
        return ""
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        m = _CONTAINER.search(path) or _CONTAINER_PATH.search(path)
        if m:
            return "container-" + m.group(1)[:12]
        m = _UNIT.search(path)
        if m and not m.group(1).startswith(("user@", "session-")):
            return m.group(1)
    return ""


def _exe_name(pid: int, comm: str) -> str:
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe")) or comm
    except OSError:
        # Kernel threads share one series (kworker/3:1 and friends would
        # explode cardinality); anything else unreadable goes by its comm.
        if _is_kernel_thread(pid):
            return "kernel"
        return comm or "unknown"


PF_KTHREAD = 0x00200000


def _is_kernel_thread(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            flags = int(f.read().rsplit(")", 1)[-1].split()[6])
    except (OSError, ValueError, IndexError):
        return False
    return bool(flags & PF_KTHREAD)


class Labeler:
    """Maps a pid to its series labels, caching per process."""

    def __init__(self, host: str | None = None, extra: dict[str, str] | None = None) -> None:
        self.host = host or socket.gethostname()
        self.extra = dict(extra or {})
        self._cache: dict[int, tuple[str, dict[str, str]]] = {}

    def labels(self, pid: int, comm: str = "") -> dict[str, str]:
        start = start_time(pid) if pid else ""
        hit = self._cache.get(pid)
        if hit and hit[0] == start:
            return hit[1]
        out = {**self.extra, "host": self.host}
        env = _environ(pid) if pid else {}
        attrs = parse_resource_attributes(env.get("OTEL_RESOURCE_ATTRIBUTES", ""))
        if pid:
            name = (env.get("OTEL_SERVICE_NAME") or attrs.get("service.name")
                    or _cgroup_name(pid) or _exe_name(pid, comm))
        else:
            name = "kernel"  # idle and interrupt context
        out["service_name"] = name
        if attrs.get("service.version"):
            out["service_version"] = attrs["service.version"]
        if len(self._cache) > 65536:
            self._cache.clear()
        self._cache[pid] = (start, out)
        return out

    def forget(self, pid: int) -> None:
        self._cache.pop(pid, None)
