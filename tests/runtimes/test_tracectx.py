"""Trace links on this kernel, through the real recorder (bpf/tracectx.h).

Real CPython 3.11/3.12/3.13 processes (and one in its own pid namespace)
write the thread-context table themselves (tracectx_workload.py) with known
spans on known threads. One recording over all of them, with the agent's
rates (19 Hz, 99 Hz for traced threads), checks that on-CPU samples and
off-CPU intervals carry the span their thread served and nothing else, that
the kernel's sums of short intervals are split per span with exact counts,
that traced threads are sampled faster with weights that keep totals
unbiased, and that the rings arrive as ThreadSpans on the samples' clock.
"""

from __future__ import annotations

import ctypes
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tests.workloads import die_with_pytest

from .conftest import host_tids, in_new_pid_namespace, namespaced_child, python_bin

pytestmark = pytest.mark.bpf

WORKLOAD = Path(__file__).with_name("tracectx_workload.py")
SECONDS = 6.0
HZ, TRACE_HZ = 19, 99
FLOOD = 192  # records appended at once to a ring of 64
FOUND_WITHIN_S = 1.0  # from a table's creation to the recorder knowing it


class Target:
    """A workload process; its stdout lines arrive in a queue (read by a thread)."""

    def __init__(self, name: str, argv: list, namespaced: bool = False):
        self.name = name
        self.proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True, preexec_fn=die_with_pytest)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.ns_pid = int(self.expect("ready").split()[1])
        self.pid = namespaced_child(self.proc.pid) if namespaced else self.proc.pid
        self.namespaced = namespaced
        self.report: dict = {}

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def send(self, cmd: str) -> None:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def expect(self, prefix: str, timeout: float = 30.0, poll=None) -> str:
        """The next line starting with `prefix`, calling `poll()` while waiting."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.05)
            except queue.Empty:
                if poll:
                    poll()
                if self.proc.poll() is not None:
                    raise AssertionError(f"{self.name} exited: {self.proc.stderr.read()}") from None
                continue
            if line.startswith(prefix):
                return line
        raise AssertionError(f"{self.name}: no {prefix!r} line within {timeout}s")

    def map_tids(self) -> None:
        """Namespace -> host ids of the reported threads, while they live."""
        ns = {r["tid"] for r in self.report["spans"]} | {
            v["tid"] for v in self.report["threads"].values()}
        self._host = dict(zip(ns, host_tids(self.pid, list(ns)) if self.namespaced else ns,
                              strict=True))

    def host_tid(self, tid: int) -> int:
        return self._host[tid]

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def recording():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    try:
        from profiler.recorder import Recorder
        from profiler.sampler.options import SamplerOptions
    except ImportError as e:
        pytest.skip(f"recorder not importable: {e}")
    targets: list[Target] = []
    try:
        for minor in ("3.11", "3.12", "3.13"):
            targets.append(Target(minor, [python_bin(minor), WORKLOAD, SECONDS]))
        if shutil.which("unshare"):
            targets.append(Target("ns", in_new_pid_namespace(
                [python_bin("3.12"), WORKLOAD, SECONDS]), namespaced=True))
        rec = Recorder(SamplerOptions(pids=[t.pid for t in targets], hz=HZ,
                                      trace_hz=TRACE_HZ))
        rec.start()
        attached = attached_tracepoints(os.getpid())
        samples, spans = [], []
        next_take = [time.monotonic() + 1.0]
        try:
            def poll() -> None:
                # As the agent does: poll often, take once a second.
                rec.poll(50)
                if time.monotonic() >= next_take[0]:
                    samples.extend(rec.take())
                    next_take[0] += 1.0

            # The processes make their tables after the recorder's first look:
            # each is registered in the kernel while it announces (over the
            # recorder's socket), not at the next periodic rescan, so an app's
            # first request is linked.
            assert rec.traces.pids == []
            rescan_due = time.monotonic() + rec.traces.rescan_s
            procs = rec._b[b"trace_procs"]
            for t in targets:
                t.send("table")
                # No poll: registered before the process heard back.
                assert int(t.expect("table").split()[1]) >= 1, f"{t.name}: not registered"
                assert ctypes.c_uint32(t.pid) in procs, f"{t.name}: announced table not registered"
                made = time.monotonic()
                while t.pid not in rec.traces.pids:
                    waited = time.monotonic() - made
                    assert waited < FOUND_WITHIN_S, (
                        f"{t.name}: table not found {waited:.2f} s after it was made "
                        f"(found: {rec.traces.pids})")
                    poll()
            assert time.monotonic() < rescan_due, "inconclusive: the periodic rescan was due"
            for t in targets:
                t.send("go")
            for t in targets:
                t.report = json.loads(t.expect("report", timeout=120, poll=poll).split(None, 1)[1])
                t.map_tids()
            end = time.monotonic() + 0.5  # the rings are drained at every poll
            while time.monotonic() < end:
                poll()
            lost_before = rec.traces.lost_records
            for t in targets:
                t.send(f"flood {FLOOD}")
                t.expect("flooded", poll=poll)
            for t in targets:
                t.send("release")
                t.expect("released", poll=poll)
            end = time.monotonic() + 0.5
            while time.monotonic() < end:
                poll()
            samples.extend(rec.take(final=True))
            spans = rec.take_thread_spans()
            stats = rec.stats
        finally:
            rec.close()
        yield {"targets": targets, "samples": samples, "spans": spans, "stats": stats,
               "flood_lost": rec.traces.lost_records - lost_before, "attached": attached}
    finally:
        for t in targets:
            t.kill()


def attached_tracepoints(pid: int) -> list[str]:
    """The tracepoints that process `pid`'s BPF programs are attached to, as
    the kernel reports them (`bpftool perf`: every perf-event fd with a program)."""
    if not shutil.which("bpftool"):
        pytest.skip("bpftool not installed")
    out = subprocess.run(["bpftool", "perf", "-j"], capture_output=True, text=True, check=True)
    return sorted(a["tracepoint"] for a in json.loads(out.stdout or "[]")
                  if a.get("pid") == pid and "tracepoint" in a)


def test_no_system_call_tracepoint_is_attached(recording):
    """Any syscalls:* or raw_syscalls tracepoint, even with an empty program,
    sends every system call of every task on the host through the kernel's
    slow path (about 6% of a loop of small reads here): the agent uses none.
    Tables are announced over a socket, so no rename pays either."""
    attached = recording["attached"]
    assert "sched_switch" in attached, attached  # the listing works
    assert not [tp for tp in attached if tp.startswith(("sys_enter", "sys_exit"))], attached
    assert "task_rename" not in attached, attached


def _ids(n: int) -> tuple[str, str]:
    return (bytes([n]) * 16).hex(), (bytes([n ^ 0x0F]) * 8).hex()


SPAN_A, SPAN_B1, SPAN_B2, SPAN_F = _ids(0xA1), _ids(0xB1), _ids(0xB2), _ids(0xF1)


def _by_tid(rec, t: Target, role: str, kind: str) -> list:
    tid = t.host_tid(t.report["threads"][role]["tid"])
    return [s for s in rec["samples"] if s.pid == t.pid and s.tid == tid and s.kind == kind]


def test_on_cpu_samples_carry_the_span_their_thread_served(recording):
    for t in recording["targets"]:
        busy = _by_tid(recording, t, "busy", "cpu")
        plain = _by_tid(recording, t, "plain", "cpu")
        assert len(busy) >= 20 and len(plain) >= 5, (t.name, len(busy), len(plain))
        links = Counter((s.trace_id, s.span_id) for s in busy)
        # Only the instants between thread start and attach, or detach and
        # exit, may go unlinked; no sample carries another thread's span.
        assert links[SPAN_A] >= 0.97 * len(busy), (t.name, links)
        assert set(links) <= {SPAN_A, ("", "")}, (t.name, links)
        assert all(s.trace_id == "" and s.span_id == "" for s in plain), t.name
        sleeper = _by_tid(recording, t, "sleeper", "cpu")
        assert {(s.trace_id, s.span_id) for s in sleeper} <= {SPAN_B1, SPAN_B2, ("", "")}


def test_off_cpu_intervals_and_sums_carry_the_span_exactly(recording):
    for t in recording["targets"]:
        off = _by_tid(recording, t, "sleeper", "offcpu")
        by_span: dict[tuple[str, str], list] = defaultdict(list)
        for s in off:
            by_span[(s.trace_id, s.span_id)].append(s)
        assert set(by_span) <= {SPAN_B1, SPAN_B2, ("", "")}, (t.name, set(by_span))
        # The thread sleeps only inside its spans.
        assert not [s for s in by_span[("", "")] if s.reason == "sleep"], t.name
        for span in (SPAN_B1, SPAN_B2):
            done = [r for r in t.report["spans"] if (r["trace"], r["span"]) == span]
            sleeps = sum(r["short"] + r["long"] for r in done)
            got = by_span[span]
            # A sleep is at most one switch-out under the span: the kernel's
            # sums (count > 1) and single intervals together count each once.
            # Not every sleep blocks: time.sleep's deadline is absolute, and
            # a thread preempted for 0.2 ms after computing it (releasing the
            # GIL wakes a spinner) finds it passed (~5% on this loaded VM).
            slept = sum(s.count for s in got if s.reason == "sleep")
            assert 0.8 * sleeps <= slept <= sleeps, (
                t.name, span, sleeps, sorted(Counter(s.reason for s in got
                                                     for _ in range(s.count)).items()))
            assert any(s.count > 1 for s in got), "short sleeps were summed in the kernel"
            # Off-CPU under the span is all of its time the thread was not running.
            off_ns = sum(s.value_ns for s in got)
            wall = sum(r["mono"][1] - r["mono"][0] for r in done)
            cpu = sum(r["cpu_ns"] for r in done)
            assert abs(off_ns - (wall - cpu)) <= 0.03 * wall + 2e6 * len(done), (
                t.name, span, off_ns, wall, cpu)


def test_traced_threads_are_sampled_faster_with_unbiased_weights(recording):
    busy_n = plain_n = 0
    busy_cpu = plain_cpu = busy_w = plain_w = 0
    for t in recording["targets"]:
        busy = [s for s in _by_tid(recording, t, "busy", "cpu") if s.span_id]
        plain = _by_tid(recording, t, "plain", "cpu")
        busy_n += len(busy)
        plain_n += len(plain)
        busy_w += sum(s.value_ns for s in busy)
        plain_w += sum(s.value_ns for s in plain)
        busy_cpu += sum(r["cpu_ns"] for r in t.report["spans"] if r["span"] == SPAN_A[1])
        plain_cpu += t.report["threads"]["plain"]["cpu_ns"]
        assert {s.value_ns for s in busy} == {round(1e9 / TRACE_HZ)}
        assert {s.value_ns for s in plain} == {round(1e9 / TRACE_HZ * (TRACE_HZ // HZ))}
    busy_hz, plain_hz = busy_n / (busy_cpu / 1e9), plain_n / (plain_cpu / 1e9)
    assert TRACE_HZ * 0.85 <= busy_hz <= TRACE_HZ * 1.1, busy_hz
    assert TRACE_HZ / (TRACE_HZ // HZ) * 0.7 <= plain_hz <= TRACE_HZ / (TRACE_HZ // HZ) * 1.3, (
        plain_hz, plain_n)
    # Weighted, both estimate the threads' CPU time.
    assert 0.85 <= busy_w / busy_cpu <= 1.1, busy_w / busy_cpu
    assert 0.7 <= plain_w / plain_cpu <= 1.3, plain_w / plain_cpu


def test_rings_arrive_as_thread_spans_on_the_samples_clock(recording):
    spans = recording["spans"]
    for t in recording["targets"]:
        got = {(s.tid, s.trace_id, s.span_id, s.start_ns): s for s in spans if s.pid == t.pid}
        assert t.report["spans"]
        for r in t.report["spans"]:
            tid = t.host_tid(r["tid"])
            # The samples' clock: within 5 ms of the process's own
            # CLOCK_REALTIME at both ends, and exactly its monotonic length.
            match = [v for k, v in got.items() if k[:3] == (tid, r["trace"], r["span"])
                     and abs(v.start_ns - r["real"][0]) < 5_000_000]
            assert len(match) == 1, (t.name, r, match)
            s = match[0]
            assert abs(s.end_ns - r["real"][1]) < 5_000_000
            assert s.end_ns - s.start_ns == r["mono"][1] - r["mono"][0]
            assert s.thread_name, s
    flood = [s for s in spans if (s.trace_id, s.span_id) == SPAN_F]
    n = len(recording["targets"])
    assert recording["flood_lost"] > 0
    assert len(flood) + recording["flood_lost"] == FLOOD * n
    assert recording["stats"]["tracectx_lost_records"] >= recording["flood_lost"]
