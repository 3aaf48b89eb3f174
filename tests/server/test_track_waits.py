"""The thread-events answer carries why each kept interval waited, read from
the interval's own labels as the recorder writes them (profiler/recorder.py)."""

from __future__ import annotations

import json

from profiler.query.tracks import TrackColumns, thread_events_answer, wait_of

LOCK = json.dumps({"syscall": "futex", "target": "futex 0x7f00", "waker_kind": "thread",
                   "waker_pid": "10", "waker_tid": "12", "waker_comm": "holder",
                   "waker_thread": "holder", "waker_stack": "main;hold_lock;futex_wake_[k]"})
TIMER = json.dumps({"syscall": "clock_nanosleep", "waker_kind": "interrupt",
                    "waker_comm": "timer", "waker_stack": "hrtimer_wakeup_[k]"})


def _no_stacks(ids):
    return {}, {}


def test_waits_are_a_column_of_distinct_waits():
    ev = TrackColumns(cpu=[1, 0, 0, 0, 0], ts_ns=[10**9 + i for i in range(5)],
                      dur_ns=[1, 5, 7, 9, 2], pid=[10] * 5, tid=[11] * 5, stack_id=[0] * 5,
                      reason=["", "lock", "lock", "sleep", "runqueue"], span_id=[""] * 5,
                      names={(10, 11): ("waiter", "waiter")},
                      labels=["", LOCK, LOCK, TIMER, ""])
    a = thread_events_answer(ev, False, 10**9, 2 * 10**9, _no_stacks)
    waits = [a["waits"][w] for w in a["events"]["wait"]]
    assert waits[0] is None and waits[4] is None
    assert waits[1] == waits[2] == {
        "syscall": "futex", "target": "futex 0x7f00",
        "waker": {"kind": "thread", "pid": 10, "tid": 12, "comm": "holder", "thread": "holder",
                  "stack": ["main", "hold_lock", "futex_wake_[k]"]}}
    assert waits[3] == {"syscall": "clock_nanosleep",
                        "waker": {"kind": "interrupt", "comm": "timer", "thread": "timer",
                                  "stack": ["hrtimer_wakeup_[k]"]}}
    assert len(a["waits"]) == 3  # none, the lock wait once, the sleep


def test_an_engine_without_labels_answers_no_waits():
    ev = TrackColumns([0], [10**9], [5], [1], [2], [0], ["lock"], [""], {})
    a = thread_events_answer(ev, False, 10**9, 2 * 10**9, _no_stacks)
    assert a["events"]["wait"] == [0] and a["waits"] == [None]


def test_labels_of_other_kinds_say_nothing_of_a_wait():
    assert wait_of(json.dumps({"request": "GET /"})) is None
    assert wait_of("") is None


def test_a_wakers_frame_kinds_come_with_its_stack():
    lab = json.loads(LOCK)
    w = wait_of(json.dumps({**lab, "waker_kinds": "110"}))
    assert w["waker"]["kinds"] == ["native", "native", "kernel"]
    # kinds that do not match the stack (or none: an older agent) are left out
    assert "kinds" not in wait_of(json.dumps({**lab, "waker_kinds": "11"}))["waker"]
    assert "kinds" not in wait_of(LOCK)["waker"]


def test_sockets_are_grouped_by_peer():
    from profiler.query.waits import WaitFilter, by_peer

    assert by_peer("tcp 127.0.0.1:41234 -> 127.0.0.1:8080") == "tcp -> 127.0.0.1:8080"
    assert by_peer("tcp6 [::1]:5 -> [::1]:80") == "tcp6 -> [::1]:80"
    for same in ("futex 0x7f00", "tcp 0.0.0.0:80 (listen)", "/tmp/a b -> c", "the GIL", ""):
        assert by_peer(same) == same  # a path with " -> " in it is no socket
    only = WaitFilter("tcp -> 127.0.0.1:8080", "recvfrom")
    assert only.matches({"target": "tcp 127.0.0.1:5 -> 127.0.0.1:8080", "syscall": "recvfrom"})
    assert not only.matches({"target": "tcp 127.0.0.1:5 -> 127.0.0.1:8081",
                             "syscall": "recvfrom"})
