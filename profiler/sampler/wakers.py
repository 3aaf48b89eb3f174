"""Who made a blocked thread runnable: a thread, or an interrupt on its behalf.

At sched_waking `current` is the task that called try_to_wake_up. When the
wakeup ran in an interrupt (a timer firing, a disk completing a request, a
network card delivering a packet), `current` is whichever task the
interrupt happened to interrupt, often the idle task: naming it would be a
lie. The waker's kernel stack tells the two apart: an interrupt's entry
frame sits between the wakeup and the interrupted code. Checked on symbol
names, leaf first, like `reasons.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

TIMER = "timer"
DISK = "disk completion"
NETWORK = "network receive"
INTERRUPT = "interrupt"  # an interrupt none of the above explains

# Functions that only run when a timer expires (hrtimer or timer wheel), in
# an interrupt or in the timer softirq.
_TIMER_FUNCTIONS = ("hrtimer_wakeup", "process_timeout", "call_timer_fn", "__run_timers",
                    "run_timer_softirq", "hrtimer_run_softirq", "__hrtimer_run_queues",
                    "timerfd_tmrproc", "it_real_fn")
# Entries into interrupt context, and where deferred interrupt work (softirqs)
# runs: at the end of an interrupt, in ksoftirqd, or in whichever task
# re-enables bottom halves.
_IRQ_ENTRIES = ("asm_sysvec_", "asm_common_interrupt", "sysvec_", "common_interrupt",
                "irq_exit_rcu", "__irq_exit_rcu", "handle_softirqs", "__do_softirq",
                "run_ksoftirqd")
_NETWORK = ("net_rx_action", "napi_", "netif_receive", "ip_rcv", "ipv6_rcv", "tcp_v4_rcv",
            "tcp_v6_rcv", "udp_rcv", "udpv6_rcv", "sock_def_readable")
# A task's own transmit, whose loopback delivery runs in that task's softirq.
_TRANSMIT = ("__dev_queue_xmit", "dev_queue_xmit", "loopback_xmit", "netif_rx")
_DISK = ("blk_", "bio_endio", "virtblk", "nvme_", "scsi_", "ata_", "end_page_writeback",
         "folio_end_writeback", "end_buffer", "wake_page_function")


def interrupt_waker(kernel_names: Sequence[str], waker_tid: int) -> str:
    """TIMER, DISK, NETWORK or INTERRUPT when an interrupt woke the thread, "" for a thread.

    `kernel_names` are the waker's kernel frames, leaf first (from
    try_to_wake_up). A timer is a timer in any context. Otherwise what ran
    inside the nearest interrupt or softirq frame decides; the task under it
    is innocent, except for network delivery under its own transmit
    (loopback traffic is delivered in the sending thread's system call, and
    that thread is the true waker). The idle task (tid 0) only ever wakes
    from interrupts.
    """
    if any(n.startswith(_TIMER_FUNCTIONS) for n in kernel_names):
        return TIMER
    entry = next((i for i, n in enumerate(kernel_names) if n.startswith(_IRQ_ENTRIES)), None)
    if entry is None:
        return INTERRUPT if waker_tid == 0 else ""
    handler = kernel_names[:entry]  # what ran inside the interrupt, leaf first
    if any(n.startswith(_NETWORK) for n in handler):
        below = kernel_names[entry:]
        if waker_tid != 0 and any(n.startswith(_TRANSMIT) for n in below):
            return ""
        return NETWORK
    if any(n.startswith(_DISK) for n in handler):
        return DISK
    return INTERRUPT
