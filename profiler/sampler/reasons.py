"""Why a thread was off the CPU: its scheduler state plus its kernel stack.

The kernel only says "runnable", "interruptible sleep" or "uninterruptible";
the blocking kernel function tells sleep from lock from socket from poll.
Checked leaf to root, first match wins.
"""

from __future__ import annotations

from collections.abc import Sequence

# (substring of a kernel function name, reason), in order of precedence.
_KERNEL_PATTERNS: tuple[tuple[str, str], ...] = (
    ("futex", "lock"),
    ("mutex_lock", "lock"),
    ("rwsem_down", "lock"),
    ("rt_mutex", "lock"),
    ("do_nanosleep", "sleep"),
    ("hrtimer_nanosleep", "sleep"),
    ("clock_nanosleep", "sleep"),
    ("msleep", "sleep"),
    ("ep_poll", "poll"),
    ("do_epoll_wait", "poll"),
    ("do_select", "poll"),
    ("do_sys_poll", "poll"),
    ("do_poll", "poll"),
    ("io_cqring_wait", "poll"),
    ("sk_wait_data", "net"),
    ("inet_csk_accept", "net"),
    ("tcp_", "net"),
    ("udp_", "net"),
    ("unix_stream", "net"),
    ("unix_dgram", "net"),
    ("sock_", "net"),
    ("skb_recv", "net"),
    ("wait_on_page", "io"),
    ("folio_wait", "io"),
    ("io_schedule", "io"),
    ("blk_", "io"),
    ("jbd2", "io"),
    ("ext4_", "io"),
    ("xfs_", "io"),
)

RUNNABLE = 0
INTERRUPTIBLE = 1
UNINTERRUPTIBLE = 2


def classify(state: int, kernel_names: Sequence[str]) -> str:
    """The off-CPU reason for a thread that left the CPU in `state`.

    `kernel_names` are the blocking stack's kernel function names, leaf first.
    """
    s = state & 0xFF
    if s == RUNNABLE:
        return "runqueue"
    for name in kernel_names:
        for pattern, reason in _KERNEL_PATTERNS:
            if pattern in name:
                return reason
    if s & UNINTERRUPTIBLE:
        return "io"
    return "other"
