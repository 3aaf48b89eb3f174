"""Table announcements over the agent's Unix socket (docs/TRACE_CONTEXT.md,
"Discovery"): real writer processes (flamecam_otel's TraceTable), the agent's
real listener and table registry (profiler/sampler/tracectx.py), no kernel
programs (those read what the registry writes: tests/runtimes/test_tracectx.py).

Known answers: the address each writer prints is the one registered, before
the writer's constructor returns; an agent (re)started after the table was
made finds it at its first look; forked children announce their own tables,
concurrently; and a local process cannot register anything but a table of its
own: every message that names another process, an address that is not its
table, or is malformed, late or oversized, is refused and counted.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import textwrap
import time

from profiler.sampler.announce import FD_PAUSE_S
from profiler.sampler.tracectx import TraceContexts
from profiler.tracectx import ACK_REFUSED

from .conftest import wait_for_line
from .test_agent_drain import start_writer

WRITER = textwrap.dedent("""
    import json, os, sys, threading, time
    sys.path.insert(0, sys.argv[1])
    from flamecam_otel._table import ThreadContextWriter, _address
    print("ready", flush=True)
    sys.stdin.readline()
    w = ThreadContextWriter(8, 16)  # made and announced now
    def report(w):
        print("made", json.dumps({"pid": os.getpid(), "tid": threading.get_native_id(),
                                  "base": _address(w.table.mm), "agents": w.table.agents}),
              flush=True)
    report(w)
    for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 0):
        if os.fork() == 0:  # as flamecam_otel's fork hook does: a table of its own
            w.after_fork_in_child(None)
            report(w)
            time.sleep(60)
            os._exit(0)
    time.sleep(60)
""")


def made(p: subprocess.Popen) -> dict:
    return json.loads(wait_for_line(p, "made").split(None, 1)[1])


def stop(*procs: subprocess.Popen) -> None:
    for p in procs:
        p.kill()
        p.wait()
        for stream in (p.stdin, p.stdout):
            if stream is not None:
                stream.close()


def base_of(ctx: TraceContexts, pid: int) -> int:
    return ctx._tables[pid].base


def test_announced_table_is_registered_before_the_writer_goes_on_and_found_after_a_restart():
    writer = start_writer(WRITER, stdin=subprocess.PIPE)
    ctx = restarted = None
    try:
        wait_for_line(writer, "ready")
        ctx = TraceContexts(None, only=[writer.pid])
        ctx.listen()
        ctx.scan()  # the agent's first look: no table yet
        assert ctx.pids == []
        writer.stdin.write(b"go\n")
        writer.stdin.flush()
        w = made(writer)
        # Registered before the constructor returned: no scan, no poll.
        assert w["agents"] >= 1
        assert ctx.pids == [writer.pid] and base_of(ctx, writer.pid) == w["base"]
        assert ctx.take_found() == [writer.pid] and ctx.refused == 0
        # The agent stops; one started later finds the table at its first look.
        ctx.close()
        restarted = TraceContexts(None, only=[writer.pid])
        restarted.listen()
        restarted.scan()
        assert restarted.pids == [writer.pid] and base_of(restarted, writer.pid) == w["base"]
    finally:
        for c in (ctx, restarted):
            if c is not None:
                c.close()
        stop(writer)


def test_forked_children_announce_their_own_tables_at_once():
    children = 6
    writer = start_writer(WRITER, stdin=subprocess.PIPE, args=[str(children)])
    ctx = TraceContexts(None)  # every process: the children's pids are not known yet
    try:
        wait_for_line(writer, "ready")
        ctx.listen()
        writer.stdin.write(b"go\n")
        writer.stdin.flush()
        tables = [made(writer) for _ in range(children + 1)]
        assert len({t["pid"] for t in tables}) == children + 1
        for t in tables:
            assert t["agents"] >= 1, t
            assert base_of(ctx, t["pid"]) == t["base"], t
        assert ctx.refused == 0
    finally:
        ctx.close()
        subprocess.run(["pkill", "-9", "-P", str(writer.pid)], check=False)
        stop(writer)


HOSTILE = textwrap.dedent("""
    import json, os, socket, struct, sys, threading, time
    name, victim = sys.argv[2], json.loads(sys.argv[3])
    me, tid = os.getpid(), threading.get_native_id()
    msg = lambda pid, tid, nslots, base: struct.pack("<8sIIIIQ", b"FCTRACE1", 1, pid, tid,
                                                     nslots, base)
    def send(data, close_early=False):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect("\\0" + name)
            s.sendall(data)
            if close_early:
                return "-"
            return s.recv(1).hex()
    print("ready", flush=True)
    sys.stdin.readline()
    print("answers", json.dumps([
        send(msg(victim["pid"], victim["tid"], 8, victim["base"])),  # says it is the victim
        send(msg(me, victim["tid"], 8, victim["base"])),             # the victim's thread
        send(msg(me, tid, 8, victim["base"])),                       # not a table of its own
        send(msg(me, tid, 8, victim["base"] + 4096)),
        send(b"x" * 32),                                              # no magic
        send(msg(me, tid, 8, victim["base"]) + b"more"),             # longer than a message
        send(msg(me, tid, 8, victim["base"])[:20], close_early=True),  # shorter
    ]), flush=True)
    sys.stdin.readline()
""")
HOSTILE_REFUSALS = 7


def test_a_process_cannot_register_what_is_not_its_own_table():
    victim = start_writer(WRITER, stdin=subprocess.PIPE)
    hostile = late = None
    ctx = TraceContexts(None)
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        wait_for_line(victim, "ready")
        victim.stdin.write(b"go\n")  # its table is made before this agent listens
        victim.stdin.flush()
        v = made(victim)
        name = ctx.listen(deadline_s=60.0)
        hostile = start_writer(HOSTILE, stdin=subprocess.PIPE, args=[name, json.dumps(v)])
        late = start_writer(WRITER, stdin=subprocess.PIPE)
        wait_for_line(hostile, "ready")
        wait_for_line(late, "ready")
        # A connection that has not sent its message (for a minute) does not
        # hold up others.
        silent.connect("\0" + name)
        late.stdin.write(b"go\n")
        late.stdin.flush()
        w = made(late)
        deadline = time.monotonic() + 20.0
        while late.pid not in ctx.pids and time.monotonic() < deadline:
            time.sleep(0.02)
        assert base_of(ctx, late.pid) == w["base"]
        silent.close()  # ends without a message: refused
        hostile.stdin.write(b"go\n")
        hostile.stdin.flush()
        answers = json.loads(wait_for_line(hostile, "answers").split(None, 1)[1])
        assert answers == [ACK_REFUSED.hex()] * (HOSTILE_REFUSALS - 1) + ["-"]
        deadline = time.monotonic() + 5.0
        while ctx.refused < HOSTILE_REFUSALS + 1 and time.monotonic() < deadline:
            time.sleep(0.02)  # the silent and the short connections end
        assert ctx.refused == HOSTILE_REFUSALS + 1
        assert victim.pid not in ctx.pids and hostile.pid not in ctx.pids
    finally:
        silent.close()
        ctx.close()
        stop(*[p for p in (victim, hostile, late) if p is not None])


def test_a_connection_without_its_message_is_closed_at_its_deadline():
    ctx = TraceContexts(None)
    try:
        name = ctx.listen(deadline_s=0.2)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect("\0" + name)
            s.sendall(b"FCTRACE1")  # a part of a message, then nothing
            s.settimeout(10.0)
            assert s.recv(1) == b""  # closed, unanswered
        assert ctx.refused == 1 and ctx.pids == []
    finally:
        ctx.close()


def _thread_cpu_s(stat_fd: int) -> float:
    """utime + stime of a thread, from its /proc stat file opened already."""
    fields = os.pread(stat_fd, 4096, 0).decode().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_file_descriptors_pauses_the_listener_not_spins_it():
    """An agent out of fds cannot accept: the connection stays queued and the
    socket readable. The listener must wait a while (FD_PAUSE_S), not spin on
    select, and take the connection once an fd is free again."""
    ctx = TraceContexts(None)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        name = ctx.listen(deadline_s=5.0)
        listener = ctx._listener
        stat_fd = os.open(f"/proc/self/task/{listener._thread.native_id}/stat", os.O_RDONLY)
        free = os.dup(0)  # the lowest free descriptor: with the limit there, accept gets none
        os.close(free)
        resource.setrlimit(resource.RLIMIT_NOFILE, (free, hard))
        try:
            client.connect("\0" + name)
            deadline = time.monotonic() + 5.0
            while listener.fd_pauses == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert listener.fd_pauses >= 1
            before = _thread_cpu_s(stat_fd)
            time.sleep(FD_PAUSE_S * 2)
            spent = _thread_cpu_s(stat_fd) - before
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            os.close(stat_fd)
        assert spent < 0.1 * FD_PAUSE_S, f"the listener spun: {spent:.2f} s of CPU"
        assert listener.fd_pauses <= 3  # once per pause, not once per loop
        client.sendall(b"x" * 32)  # accepted after the pause: answered (refused)
        client.settimeout(10.0)
        assert client.recv(1) == ACK_REFUSED
    finally:
        client.close()
        ctx.close()
