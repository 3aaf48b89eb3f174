"""Targets of waits resolved from /proc for real descriptors of this process,
and the pure rules naming system calls and interrupt wakers."""

from __future__ import annotations

import os
import socket

import pytest

from profiler.procfs import parse_inet_sockets, read_sockets
from profiler.sampler.syscalls import syscall_name
from profiler.sampler.targets import FdTargets, describe_link
from profiler.sampler.wakers import DISK, INTERRUPT, NETWORK, TIMER, interrupt_waker

ME = os.getpid()


def test_tcp_v4_socket_names_both_ends():
    srv = socket.create_server(("127.0.0.1", 0))
    cli = socket.create_connection(srv.getsockname())
    conn, _ = srv.accept()
    try:
        t = FdTargets().resolve(ME, cli.fileno())
        lport = cli.getsockname()[1]
        assert t == f"tcp 127.0.0.1:{lport} -> 127.0.0.1:{srv.getsockname()[1]}"
        assert FdTargets().resolve(ME, srv.fileno()) == \
            f"tcp 127.0.0.1:{srv.getsockname()[1]} (listen)"
    finally:
        for s in (conn, cli, srv):
            s.close()


def test_tcp_v6_and_udp_sockets():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        srv = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("no ::1 here")
    cli = socket.create_connection(srv.getsockname()[:2])
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.connect(("127.0.0.1", 9))
    try:
        t = FdTargets().resolve(ME, cli.fileno())
        assert t == f"tcp [::1]:{cli.getsockname()[1]} -> [::1]:{srv.getsockname()[1]}"
        assert FdTargets().resolve(ME, udp.fileno()) == \
            f"udp 127.0.0.1:{udp.getsockname()[1]} -> 127.0.0.1:9"
    finally:
        for s in (cli, srv, udp):
            s.close()


def test_unix_socket_pipe_eventfd_and_file(tmp_path):
    path = str(tmp_path / "s.sock")
    lst = socket.socket(socket.AF_UNIX)
    lst.bind(path)
    r, w = os.pipe()
    efd = os.eventfd(0)
    f = open(tmp_path / "data.txt", "w")  # noqa: SIM115 - closed below
    try:
        targets = FdTargets()
        assert targets.resolve(ME, lst.fileno()) == f"unix {path}"
        assert targets.resolve(ME, r) == f"pipe [{os.fstat(r).st_ino}]"
        assert targets.resolve(ME, efd) == "eventfd"
        assert targets.resolve(ME, f.fileno()) == str(tmp_path / "data.txt")
    finally:
        for fd in (r, w, efd):
            os.close(fd)
        lst.close()
        f.close()


def test_reused_fd_is_resolved_again_in_the_next_round(tmp_path):
    targets = FdTargets()
    fd = os.open(tmp_path / "a", os.O_CREAT | os.O_RDWR)
    assert targets.resolve(ME, fd) == str(tmp_path / "a")
    os.close(fd)
    assert targets.resolve(ME, fd) == str(tmp_path / "a"), "cached within a round"
    targets.new_round()
    assert targets.resolve(ME, fd) == f"unresolved (fd {fd} closed)"
    fd2 = os.open(tmp_path / "b", os.O_CREAT | os.O_RDWR)
    try:
        assert fd2 == fd
        targets.new_round()
        assert targets.resolve(ME, fd) == str(tmp_path / "b")
    finally:
        os.close(fd2)


def test_socket_missing_from_proc_net_says_unresolved():
    assert describe_link("socket:[123]", 5, {}) == "socket (unresolved, socket:[123])"
    assert describe_link(None, 5, None) == "unresolved (fd 5 closed)"


def test_proc_net_tcp_text_is_decoded():
    text = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid"
            "  timeout inode\n"
            "   0: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000"
            "     0        0 4242 1 0000000000000000 20 4 30 10 -1\n")
    (info,) = parse_inet_sockets(text, "tcp").items()
    assert info[0] == 4242
    assert info[1].describe() == "tcp 127.0.0.1:8080 -> 127.0.0.1:54321"


def test_read_sockets_finds_this_processes_socket():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        inode = os.fstat(s.fileno()).st_ino
        assert read_sockets(ME)[inode].local == f"127.0.0.1:{s.getsockname()[1]}"
    finally:
        s.close()


def test_syscall_named_from_the_blocking_stack():
    k = ["__schedule", "schedule", "anon_pipe_read", "vfs_read", "ksys_read",
         "__x64_sys_read", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"]
    assert syscall_name(0, k) == "read"
    assert syscall_name(0, k[:5] + k[6:]) == "read", "no handler frame: the table"
    # A page fault leaves its error code in orig_ax: not a system call.
    fault = ["__schedule", "schedule", "io_schedule", "folio_wait_bit", "filemap_fault",
             "handle_mm_fault", "exc_page_fault", "asm_exc_page_fault"]
    assert syscall_name(4, fault) == ""


HRTIMER = ["try_to_wake_up", "hrtimer_wakeup", "__hrtimer_run_queues", "hrtimer_interrupt",
           "__sysvec_apic_timer_interrupt", "sysvec_apic_timer_interrupt",
           "asm_sysvec_apic_timer_interrupt", "pv_native_safe_halt", "default_idle"]
DISK_IRQ = ["try_to_wake_up", "wake_page_function", "__wake_up_common", "folio_wake_bit",
            "folio_end_writeback", "ext4_end_bio", "blk_update_request", "blk_mq_end_request",
            "blk_done_softirq", "handle_softirqs", "do_softirq.part.0", "__local_bh_enable_ip",
            "__dev_queue_xmit", "tcp_sendmsg", "__x64_sys_sendto", "do_syscall_64"]
LOOPBACK = ["try_to_wake_up", "__wake_up_common", "sock_def_readable", "tcp_rcv_established",
            "tcp_v4_rcv", "ip_local_deliver_finish", "__netif_receive_skb_one_core",
            "process_backlog", "__napi_poll", "net_rx_action", "handle_softirqs",
            "do_softirq.part.0", "__local_bh_enable_ip", "__dev_queue_xmit", "ip_output",
            "tcp_sendmsg", "__x64_sys_sendto", "do_syscall_64"]
NIC_IRQ = LOOPBACK[:11] + ["__irq_exit_rcu", "common_interrupt", "asm_common_interrupt",
                           "default_idle"]
PIPE = ["try_to_wake_up", "autoremove_wake_function", "__wake_up_common", "anon_pipe_write",
        "vfs_write", "ksys_write", "do_syscall_64"]


def test_interrupt_wakers_are_told_from_threads():
    assert interrupt_waker(HRTIMER, 0) == TIMER
    assert interrupt_waker(HRTIMER, 1234) == TIMER  # whoever was interrupted: still a timer
    assert interrupt_waker(DISK_IRQ, 1234) == DISK  # softirq run at someone's bh enable
    assert interrupt_waker(NIC_IRQ, 0) == NETWORK
    assert interrupt_waker(LOOPBACK, 1234) == "", "the sender delivered it: it is the waker"
    assert interrupt_waker(PIPE, 1234) == ""
    assert interrupt_waker(["try_to_wake_up"], 0) == INTERRUPT

