"""Why it waited, end to end: the real Recorder on tests/workloads/waits.c, the
agent's batch encoder, the server's push route and store, and the query API
(`/api/v1/waits`, pprof export labels)."""

from __future__ import annotations

import gzip

import pytest

from profiler.agent.batch import encode_batch
from profiler.formats.proto import profile_pb2
from tests.sampler.test_waits import record_waits

pytestmark = pytest.mark.bpf


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    samples, port, _ = record_waits(tmp_path_factory.mktemp("waits_api"), seconds=2.0)
    return samples, port


@pytest.fixture
def pushed(client, recorded):
    samples, port = recorded
    body = encode_batch(samples, lambda s: {"service_name": "waits"}, agent_id="a", seq=1)
    r = client.post("/api/v1/agent/push", data=body,
                    headers={"Content-Type": "application/x-flamecam-batch",
                             "Content-Encoding": "zstd"})
    assert r.status_code == 200, r.data
    lo = min(s.ts_ns for s in samples) // 1000 - 1
    hi = max(s.ts_ns for s in samples) // 1000 + 1
    return client, samples, port, f"from={lo}&until={hi}"


def _tid(samples, name: str) -> int:
    return next(s.tid for s in samples if s.thread_name == name)


def test_waits_table_ranks_targets(pushed):
    client, samples, port, rng = pushed
    rows = client.get(f'/api/v1/waits?query=offcpu{{service_name="waits"}}&{rng}').get_json()
    rows = rows["waits"]
    assert rows == sorted(rows, key=lambda r: -r["total_ns"])
    tcp = [r for r in rows if r["target"].endswith(f"-> 127.0.0.1:{port}")]
    assert len(tcp) == 1 and tcp[0]["syscall"] == "recvfrom" and tcp[0]["reason"] == "net"
    assert 25e6 <= tcp[0]["p50_ns"] <= tcp[0]["p99_ns"] < 1e9  # the server answers after 30 ms
    sleeps = [r for r in rows if r["syscall"] == "clock_nanosleep"]
    assert sleeps and sleeps[0]["target"] == "" and sleeps[0]["reason"] == "sleep"
    futex = [r for r in rows if r["syscall"] == "futex"]
    assert len(futex) == 1 and futex[0]["target"].startswith("futex 0x")
    # Per thread, too.
    one = client.get(f'/api/v1/waits?query=offcpu{{}}&tid={_tid(samples, "recver")}&{rng}')
    assert {r["syscall"] for r in one.get_json()["waits"]} <= {"recvfrom", "sendto"}


def test_pprof_export_has_the_wait_labels(pushed):
    client, samples, _, rng = pushed
    r = client.get(f'/api/v1/export?query=offcpu{{service_name="waits"}}&format=pprof'
                   f'&tid={_tid(samples, "locker")}&{rng}')
    assert r.status_code == 200
    msg = profile_pb2.Profile()
    msg.ParseFromString(gzip.decompress(r.data))
    st = list(msg.string_table)
    labels = [{st[lb.key]: st[lb.str] for lb in s.label if lb.str} for s in msg.sample]
    woken = [lab for lab in labels if lab.get("syscall") == "futex"]
    assert woken
    assert all(lab["waker_comm"] == "holder" and lab["waker_tid"] for lab in woken)


def test_thread_events_carry_the_wait_and_its_waker(pushed):
    client, samples, _, rng = pushed
    locker, holder = _tid(samples, "locker"), _tid(samples, "holder")
    r = client.get(f'/api/v1/thread-events?query=offcpu{{service_name="waits"}}'
                   f'&tids={locker},{holder}&{rng}').get_json()
    ev, threads = r["events"], r["threads"]
    assert r["waits"][0] is None
    locks = [r["waits"][w] for i, w in enumerate(ev["wait"])
             if threads[ev["thread"][i]]["tid"] == locker
             and r["reasons"][ev["reason"][i]] == "lock"]
    assert locks and all(w is not None for w in locks)
    for w in locks:
        assert w["syscall"] == "futex" and w["target"].startswith("futex 0x")
        waker = w["waker"]
        assert (waker["kind"], waker["tid"], waker["thread"]) == ("thread", holder, "holder")
        assert waker["pid"] == threads[0]["pid"]
        assert "hold_lock" in waker["stack"] and "futex_wake_[k]" in waker["stack"]
    # Run-queue parts and on-CPU samples say nothing of a wait.
    assert all(r["waits"][w] is None for i, w in enumerate(ev["wait"])
               if r["reasons"][ev["reason"][i]] == "runqueue")
