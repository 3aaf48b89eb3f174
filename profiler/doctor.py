"""Checks that this host can run the samplers, and says how to fix it if not.

Every failure is one sentence a user can act on; `flamecam doctor` prints
them all, and `record`/`agent` stop on the first.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass

TRACEFS_DIRS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def tracefs_dir() -> str | None:
    """The mounted tracefs, mounting it when we may (root) and it is absent."""
    for d in TRACEFS_DIRS:
        if os.path.exists(os.path.join(d, "events/sched/sched_switch")):
            return d
    if os.geteuid() == 0 and os.path.isdir(TRACEFS_DIRS[0]):
        subprocess.run(["mount", "-t", "tracefs", "tracefs", TRACEFS_DIRS[0]],
                       capture_output=True, check=False)
        if os.path.exists(os.path.join(TRACEFS_DIRS[0], "events/sched/sched_switch")):
            return TRACEFS_DIRS[0]
    return None


def checks() -> list[Check]:
    out = []
    root = os.geteuid() == 0
    out.append(Check("root", root, "running as root" if root else
                     "loading eBPF programs needs root: rerun with sudo"))
    bpf_ok = os.path.exists("/proc/sys/kernel/unprivileged_bpf_disabled")
    out.append(Check("bpf", bpf_ok, "kernel has the bpf() system call" if bpf_ok else
                     "this kernel has no BPF (CONFIG_BPF_SYSCALL): use a kernel with it"))
    tfs = tracefs_dir() if root else None
    out.append(Check("tracefs", tfs is not None, f"tracefs at {tfs}" if tfs else
                     "tracefs is not mounted: mount -t tracefs tracefs /sys/kernel/tracing"))
    kver = platform.release()
    build = f"/lib/modules/{kver}/build"
    have_headers = os.path.exists(build)
    out.append(Check("headers", have_headers, f"kernel headers at {os.path.realpath(build)}"
                     if have_headers else
                     f"no kernel headers for {kver}: run `make setup` as root, "
                     f"or install linux-headers-{kver}"))
    try:
        import bcc  # noqa: F401

        out.append(Check("bcc", True, "bcc importable"))
    except ImportError:
        out.append(Check("bcc", False, "bcc is not importable: apt-get install python3-bpfcc, "
                         "then `make setup` (it links bcc into the virtual environment)"))
    return out


def first_problem() -> str | None:
    """The first failing check's advice, or None when the host is ready."""
    for c in checks():
        if not c.ok:
            return c.detail
    return None
