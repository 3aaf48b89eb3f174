"""flamecam_otel in real CPython 3.11/3.12/3.13 apps, read from outside.

The app (threads_app.py) uses the real OpenTelemetry SDK and threading
instrumentation; the test reads its table through /proc/PID/maps and
/proc/PID/mem, as the agent does, and checks every slot and interval against
the spans and thread ids the app reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest

from profiler import tracectx
from profiler.recorder import mono_to_wall_ns

from . import tables
from .conftest import wait_for_line

APP = Path(__file__).with_name("threads_app.py")
VERSIONS = ["3.11", "3.12", "3.13"]
MS = 1_000_000


def start(spawn, venv: Path, mode: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHON"))}
    argv = [venv / "bin" / "python", APP, mode]
    if mode == "auto":
        argv = [venv / "bin" / "opentelemetry-instrument", *argv]
    if mode == "context":
        env["OTEL_PYTHON_CONTEXT"] = "flamecam"
    return spawn(argv, stdin=subprocess.PIPE, env=env)


def said(p: subprocess.Popen, tag: str) -> dict | list:
    return json.loads(wait_for_line(p, tag + " ", timeout=60).split(" ", 1)[1])


def tell(p: subprocess.Popen, cmd: str) -> None:
    p.stdin.write(cmd.encode() + b"\n")
    p.stdin.flush()


def snapshot(pid: int) -> tables.Snapshot:
    found = tables.find_tables(pid)
    assert len(found) == 1, f"pid {pid}: {len(found)} table mappings"
    snap = tables.read_table(pid, found[0][0])
    assert snap.header.pid == pid  # no pid namespace here: the app's pid is ours
    return snap


def slot_ids(slot: tracectx.Slot) -> tuple[str, str]:
    return slot.trace_id.hex(), slot.span_id.hex()


@pytest.mark.parametrize("mode", ["code", "auto", "context"])
@pytest.mark.parametrize("minor", VERSIONS)
def test_slots_and_intervals_match_the_spans(spawn, otel_venvs, minor, mode):
    p = start(spawn, otel_venvs(minor), mode)
    ready = said(p, "ready")
    pid = ready["pid"]
    # Span times are CLOCK_REALTIME, intervals CLOCK_MONOTONIC; the two clocks'
    # distance is the host's, read here from the tightest of bracketed reads.
    # (The app's one unbracketed pair, preempted between its reads on a loaded
    # host, put every interval early by the preemption, against 1 ms allowed.)
    offset = mono_to_wall_ns()

    # While spans are open: each thread's slot names the span it serves now.
    held = said(p, "holding")
    snap = snapshot(p.pid)
    now = time.monotonic_ns()
    assert pid == p.pid
    for name in ("main", "t1", "t2", "pool"):
        slot = snap.slot_of(held[name]["tid"])
        assert slot is not None, f"{name}: no slot"
        assert slot.stable and not slot.approximate
        assert slot_ids(slot) == (held[name]["trace"], held[name]["span"]), name
        assert 0 < slot.since_ns <= now
    assert held["pool"]["span"] == held["main"]["span"]  # the worker serves the submitter's span
    assert held["t1"]["trace"] == held["main"]["trace"] != held["t2"]["trace"]
    assert snap.slot_of(held["plain"]["tid"]) is None  # a thread that never attached has none
    assert not snap.header.approximate and snap.header.unslotted == 0

    tell(p, "release")
    done = said(p, "done")
    snap = snapshot(p.pid)
    ring = snap.ring()
    assert ring.lost == 0 and ring.tail == snap.header.ring_head > 0
    spans = {s["span"]: s for s in done["spans"]}
    by_name = {s["name"]: s for s in done["spans"]}
    served: dict[tuple[int, str], list[tracectx.Interval]] = defaultdict(list)
    for iv in ring.intervals:
        span = spans.get(iv.span_id.hex())
        assert span is not None, f"interval of a span the app never reported: {iv}"
        assert iv.trace_id.hex() == span["trace"]
        assert not iv.approximate
        # Within the span's own lifetime (span times are CLOCK_REALTIME).
        begin, end = iv.start_ns + offset, iv.end_ns + offset
        assert span["start"] - MS <= begin <= end <= span["end"] + MS, (span, iv)
        served[iv.tid, span["name"]].append(iv)

    # Every span was served by the thread that ran it.
    for name in ("main", "t1", "t2"):
        assert served[held[name]["tid"], name], name
    pool_tid = held["pool"]["tid"]
    assert len(served[pool_tid, "main"]) == 1  # one task, one interval

    # A pool worker serves a request for exactly the time it worked on it.
    for t in done["tasks"]:
        assert t["tid"] == pool_tid != done["main_tid"]
        # req-i, then its child work-i, then req-i again: back to back, nothing else.
        before, after = served[pool_tid, f"req-{t['i']}"]
        (work,) = served[pool_tid, f"work-{t['i']}"]
        assert work.span_id.hex() == t["work"] == by_name[f"work-{t['i']}"]["span"]
        assert before.end_ns == work.start_ns and work.end_ns == after.start_ns
        assert t["submitted"] <= before.start_ns <= t["t0"]
        assert t["t1"] <= after.end_ns <= t["returned"]
        # ...while the requester's thread, blocked on the future, serves it throughout.
        (waiting,) = served[done["main_tid"], f"req-{t['i']}"]
        assert waiting.start_ns <= t["submitted"] and waiting.end_ns >= t["returned"]
        assert waiting.start_ns <= before.start_ns

    # Threads that ended freed their slots; main serves nothing now.
    tids = {s.tid for s in snap.slots()}
    assert not tids & {held[n]["tid"] for n in ("t1", "t2", "pool")}
    main = snap.slot_of(done["main_tid"])
    assert main is not None and not main.serving and main.stable
    tell(p, "exit")


@pytest.mark.parametrize("minor", VERSIONS)
def test_asyncio_marks_links_approximate(spawn, otel_venvs, minor):
    p = start(spawn, otel_venvs(minor), "code")
    said(p, "ready")
    said(p, "holding")
    tell(p, "release")
    said(p, "done")
    before = snapshot(p.pid)
    assert not before.header.approximate
    tell(p, "async")
    reqs = said(p, "async")
    snap = snapshot(p.pid)
    assert snap.header.approximate
    new = snap.ring(before.header.ring_head)
    assert new.lost == 0
    mine = {r["span"] for r in reqs}
    got = [iv for iv in new.intervals if iv.span_id.hex() in mine]
    assert {iv.span_id.hex() for iv in got} == mine
    assert all(iv.approximate for iv in got)
    tell(p, "exit")


def test_fork_child_gets_its_own_table(spawn, otel_venvs):
    p = start(spawn, otel_venvs("3.12"), "code")
    said(p, "ready")
    said(p, "holding")
    tell(p, "release")
    done = said(p, "done")
    tell(p, "fork")
    child = said(p, "forked")
    try:
        snap = snapshot(child["pid"])  # one mapping: the parent's was unmapped
        slot = snap.slot_of(child["tid"])
        assert slot is not None and slot_ids(slot) == (child["trace"], child["span"])
        assert len(snap.slots()) == 1 and snap.header.ring_head == 0
        parent = snapshot(p.pid)
        assert parent.slot_of(child["tid"]) is None
        assert {s.tid for s in parent.slots()} == {done["main_tid"]}
    finally:
        os.kill(child["pid"], 9)
    tell(p, "exit")
