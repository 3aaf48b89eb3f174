"""A process that links its own threads to known spans, as docs/TRACE_CONTEXT.md v1 says.

Self-contained (runs on any CPython >= 3.8 without Flamecam): a tiny writer of
the thread-context table, and threads with a known answer:
  busy     on-CPU under span A for SECONDS, and MIN_CPU_S of its own CPU time
  sleeper  alternates spans B1 and B2, each with short (0.2 ms) and long
           (20 ms) sleeps
  plain    on-CPU for SECONDS and MIN_CPU_S, never linked
Commands on stdin: "table" creates the table and announces it to the agents
listening (so a test can check it is found after the process started), then
prints "table N" (N agents registered it), "go" runs the threads and prints
"report <json>" (the threads then wait, idle, for "release"), "flood N"
appends N records of span F at once.
"""

import json
import mmap
import os
import socket
import struct
import sys
import threading
import time

NSLOTS = 64
RING = 64
HEADER = struct.Struct("<8sIIIIIIQII16x")
SLOT = struct.Struct("<II16s8sQ")
RECORD = struct.Struct("<II16s8sQQ")
RING_OFF = 64 + NSLOTS * 64
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 6.0
# The spinning threads run on until they have had this much CPU: on a loaded
# host SECONDS of wall time can be a small share of a CPU, and the test's
# sample counts and rates are then too few to tell a bias from chance.
MIN_CPU_S = 1.0

table = None
claim = threading.Lock()   # claiming a free slot
ring_lock = threading.Lock()
since = {}


def create_table():
    global table
    fd = os.memfd_create("flamecam-tracectx", os.MFD_CLOEXEC)
    size = RING_OFF + RING * 48
    os.ftruncate(fd, size)
    table = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    HEADER.pack_into(table, 0, b"FCTRACE1", 1, 64, NSLOTS, 64, RING, 48, 0, os.getpid(), 0)
    return announce()


def announce():
    """As docs/TRACE_CONTEXT.md asks: one message to each agent listening on
    an abstract socket named flamecam-tracectx.*, one byte back (1: registered)."""
    with open("/proc/net/unix") as f:
        names = {line.split()[7][1:] for line in f.readlines()[1:]
                 if len(line.split()) == 8 and line.split()[7].startswith("@flamecam-tracectx.")
                 and int(line.split()[3], 16) & 0x10000}
    # The mapping's address: the line of /proc/self/maps that names the memfd.
    with open("/proc/self/maps") as f:
        base = int(next(line for line in f if "/memfd:flamecam-tracectx" in line)
                   .split("-")[0], 16)
    msg = struct.pack("<8sIIIIQ", b"FCTRACE1", 1, os.getpid(), threading.get_native_id(),
                      NSLOTS, base)
    registered = 0
    for name in names:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5.0)
            s.connect("\0" + name)
            s.sendall(msg)
            registered += s.recv(1) == b"\x01"
    return registered


def slot_of(tid):
    with claim:
        for i in range(8):
            off = 64 + ((tid + i) & (NSLOTS - 1)) * 64
            owner = struct.unpack_from("<I", table, off)[0]
            if owner == tid:
                return off
            if owner == 0:
                struct.pack_into("<II", table, off, tid, 0)
                return off
    raise RuntimeError("no free slot")


def write_slot(trace, span, now):
    tid = threading.get_native_id()
    off = slot_of(tid)
    seq = struct.unpack_from("<I", table, off + 4)[0]
    struct.pack_into("<I", table, off + 4, seq + 1)      # odd: being written
    struct.pack_into("<16s8sQ", table, off + 8, trace, span, now)
    struct.pack_into("<I", table, off + 4, seq + 2)      # even: stable


def append(tid, trace, span, start, end):
    with ring_lock:
        head = struct.unpack_from("<Q", table, 32)[0]
        # offset 4 commits record `head` (docs/TRACE_CONTEXT.md): readers stop before
        # a record whose commit field does not match its number
        RECORD.pack_into(table, RING_OFF + (head & (RING - 1)) * 48, tid, head & 0x7FFFFFFF,
                         trace, span, start, end)
        struct.pack_into("<Q", table, 32, head + 1)      # after the record


def _mono_to_real() -> int:
    """This process's CLOCK_REALTIME minus CLOCK_MONOTONIC, from the tightest
    of a few bracketed reads. A span's wall ends are its monotonic ends plus
    this: reading the wall clock after the monotonic one at each end let a GIL
    switch in between (another busy thread's turn, 5 ms and more) put the wall
    end 15 ms late on a loaded host."""
    best = None
    for _ in range(8):
        m0 = time.monotonic_ns()
        real = time.time_ns()
        m1 = time.monotonic_ns()
        if best is None or m1 - m0 < best[0]:
            best = (m1 - m0, real - (m0 + m1) // 2)
    return best[1]


MONO_TO_REAL = _mono_to_real()


class Span:
    """attach on enter, detach on exit; remembers both clocks at each end."""

    def __init__(self, trace, span, log):
        self.trace, self.span, self.log = trace, span, log

    def __enter__(self):
        self.cpu0 = time.thread_time_ns()
        self.mono0 = time.monotonic_ns()
        self.real0 = self.mono0 + MONO_TO_REAL
        write_slot(self.trace, self.span, self.mono0)
        return self

    def __exit__(self, *exc):
        mono1 = time.monotonic_ns()
        real1 = mono1 + MONO_TO_REAL
        write_slot(bytes(16), bytes(8), 0)
        append(threading.get_native_id(), self.trace, self.span, self.mono0, mono1)
        self.log.append({"trace": self.trace.hex(), "span": self.span.hex(),
                         "tid": threading.get_native_id(),
                         "mono": [self.mono0, mono1], "real": [self.real0, real1],
                         "cpu_ns": time.thread_time_ns() - self.cpu0,
                         "short": getattr(self, "short", 0), "long": getattr(self, "long", 0)})


def ids(n):
    return bytes([n]) * 16, bytes([n ^ 0x0F]) * 8


def spin(seconds, min_cpu=0.0):
    end = time.monotonic() + seconds
    cpu_end = time.thread_time() + min_cpu
    x = 0
    while time.monotonic() < end or time.thread_time() < cpu_end:
        for i in range(2000):
            x += i * i
    return x


def busy(log, out):
    t0 = time.thread_time_ns()
    with Span(*ids(0xA1), log):
        spin(SECONDS, MIN_CPU_S)
    out["busy"] = {"tid": threading.get_native_id(), "cpu_ns": time.thread_time_ns() - t0}


def sleeper(log, out):
    end = time.monotonic() + SECONDS
    while time.monotonic() < end:
        for n in (0xB1, 0xB2):
            with Span(*ids(n), log) as s:
                s.short = s.long = 0
                for _ in range(20):
                    time.sleep(0.0002)
                    s.short += 1
                for _ in range(3):
                    time.sleep(0.02)
                    s.long += 1
            spin(0.005)  # on-CPU between spans, serving none
    out["sleeper"] = {"tid": threading.get_native_id()}


def plain(log, out):
    t0 = time.thread_time_ns()
    spin(SECONDS, MIN_CPU_S)
    out["plain"] = {"tid": threading.get_native_id(), "cpu_ns": time.thread_time_ns() - t0}


release = threading.Event()


def parked(work, log, out):
    """Does the work, then stays alive (idle) until released: its ids stay valid."""
    work(log, out)
    release.wait()


def main():
    print("ready", os.getpid(), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd == ["table"]:
            print("table", create_table(), flush=True)
        elif cmd == ["go"]:
            log, out = [], {}
            threads = [threading.Thread(target=parked, args=(f, log, out), name=f.__name__)
                       for f in (busy, sleeper, plain)]
            for t in threads:
                t.start()
            while len(out) < len(threads):
                time.sleep(0.01)
            print("report", json.dumps({"threads": out, "spans": log}), flush=True)
        elif cmd == ["release"]:
            release.set()
            for t in threads:
                t.join()
            print("released", flush=True)
        elif cmd and cmd[0] == "flood":
            trace, span = ids(0xF1)
            now = time.monotonic_ns()
            tid = threading.get_native_id()
            for i in range(int(cmd[1])):
                append(tid, trace, span, now + i, now + i + 1)
            print("flooded", flush=True)


if __name__ == "__main__":
    main()
