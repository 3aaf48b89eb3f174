"""The system call a blocked thread was in, and which of its arguments says on what.

The kernel program saves orig_ax and the first two arguments from the user
registers at switch-out (struct wait_info in bpf/offcpu.c). orig_ax is a
system call number only when the thread entered the kernel through the
system call entry; a page fault leaves its error code there. The blocking
kernel stack settles both: it passes through the entry, and its
`__x64_sys_NAME` frame is the kernel's own name for the call, right on
every kernel version (the number-to-name table is only the fallback).
"""

from __future__ import annotations

from collections.abc import Sequence

_ENTRIES = ("do_syscall_64", "entry_SYSCALL_64", "el0_svc", "do_el0_svc")
_PREFIXES = ("__x64_sys_", "__ia32_sys_", "__arm64_sys_", "__do_sys_", "__se_sys_")

# System calls whose first argument is the file descriptor they wait on.
FD_FIRST = frozenset({
    "read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev",
    "preadv2", "pwritev2", "recvfrom", "sendto", "recvmsg", "sendmsg", "recvmmsg",
    "sendmmsg", "accept", "accept4", "connect", "fsync", "fdatasync", "sync_file_range",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "flock", "fcntl", "ioctl", "splice",
    "tee", "sendfile", "sendfile64", "getdents64", "ftruncate", "fallocate", "shutdown",
    "io_uring_enter", "close", "copy_file_range",
})
# System calls whose first argument is the futex word's address.
FUTEX_FIRST = frozenset({"futex", "futex_wait"})

# A sleep interrupted by a stop (SIGSTOP, a debugger, `flamecam dump`) goes on
# in `restart_syscall`; the kernel function it resumes in names the call the
# program made.
_RESTARTED = (("hrtimer_nanosleep_restart", "clock_nanosleep"),
              ("posix_cpu_nsleep_restart", "clock_nanosleep"),
              ("alarm_timer_nsleep_restart", "clock_nanosleep"),
              ("futex_wait_restart", "futex"),
              ("do_restart_poll", "poll"))


def syscall_name(nr: int, kernel_names: Sequence[str]) -> str:
    """The system call the blocking stack is in ("" when it is not in one)."""
    if not any(n.startswith(_ENTRIES) for n in kernel_names):
        return ""
    for n in reversed(kernel_names):  # the handler sits just above the entry
        for p in _PREFIXES:
            if n.startswith(p):
                return _restarted(n[len(p):], kernel_names)
    return _restarted(_table_name(nr), kernel_names)


def _restarted(call: str, kernel_names: Sequence[str]) -> str:
    """The call a `restart_syscall` goes on with (itself when not known)."""
    if call != "restart_syscall":
        return call
    for n in kernel_names:
        for fn, original in _RESTARTED:
            if n.startswith(fn):
                return original
    return call


def _table_name(nr: int) -> str:
    try:
        from bcc.syscall import syscall_name as bcc_name
    except ImportError:  # pragma: no cover - the samplers need bcc anyway
        return f"syscall {nr}"
    name = bcc_name(nr).decode()
    return f"syscall {nr}" if name.startswith("[unknown") else name
