"""Why it waited, end to end: the real Recorder on tests/workloads/waits.c, the
agent's batch encoder, the server's push route and store, and the query API
(`/api/v1/waits`, pprof export labels)."""

from __future__ import annotations

import gzip
from dataclasses import replace
from urllib.parse import urlencode

import pytest

from profiler.agent.batch import encode_batch
from profiler.formats.proto import profile_pb2
from tests.runtimes.conftest import python_bin
from tests.sampler.test_waits import record_py_lock_wait, record_waits, waiter_lock_line

pytestmark = pytest.mark.bpf


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    samples, port, _ = record_waits(tmp_path_factory.mktemp("waits_api"), seconds=2.0)
    return samples, port


@pytest.fixture
def pushed(client, recorded):
    samples, port = recorded
    return client, samples, port, _push(client, samples, "waits")


def _push(client, samples, service: str, agent_id: str = "a") -> str:
    """Pushes `samples` as one agent batch; the query range that holds them all."""
    body = encode_batch(samples, lambda s: {"service_name": service}, agent_id=agent_id, seq=1)
    r = client.post("/api/v1/agent/push", data=body,
                    headers={"Content-Type": "application/x-flamecam-batch",
                             "Content-Encoding": "zstd"})
    assert r.status_code == 200, r.data
    lo = min(s.ts_ns for s in samples) // 1000 - 1
    hi = max(s.ts_ns for s in samples) // 1000 + 1
    return f"from={lo}&until={hi}"


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


def _only(row: dict) -> str:
    """The query string that filters to one row of the waits table."""
    return urlencode({"target": row["target"], "syscall": row["syscall"]})


def _paths(answer: dict) -> dict[tuple[str, ...], int]:
    """A flamebearer's stacks (root first, without "total") with their self values."""
    fb = answer["flamebearer"]
    names, out, rows = fb["names"], {}, []
    for depth, level in enumerate(fb["levels"]):
        x, row = 0, []
        for i in range(0, len(level), 4):
            x += level[i]
            total, own, name = level[i + 1], level[i + 2], names[level[i + 3]]
            parent = next((p for p in rows[depth - 1] if p[0] <= x < p[0] + p[1]), None) \
                if depth else None
            path = (*parent[2], name) if parent else ()
            row.append((x, total, path))
            if own and path:
                out[path] = out.get(path, 0) + own
            x += total
        rows.append(row)
    return out


def test_a_target_filters_the_flame_graph_to_its_waits(pushed):
    client, samples, _, rng = pushed
    q = f'query=offcpu{{service_name="waits"}}&{rng}'
    futex = next(r for r in client.get(f"/api/v1/waits?{q}").get_json()["waits"]
                 if r["syscall"] == "futex")
    r = client.get(f"/api/v1/render?{q}&{_only(futex)}").get_json()
    assert r["flamebearer"]["numTicks"] == futex["total_ns"]
    paths = _paths(r)
    assert paths and all(p[-1] == "[off-cpu:lock]" and "locker" in p for p in paths), paths
    assert "timeline" not in r  # a part of the selection: no whole-range timeline
    # The waits on no target (sleeps) are a row too.
    sleeps = client.get(f"/api/v1/render?{q}&target=&syscall=clock_nanosleep").get_json()
    assert all(p[-1] == "[off-cpu:sleep]" for p in _paths(sleeps))
    assert client.get(f"/api/v1/render?{q}&view=nope").status_code == 400
    assert client.get(f"/api/v1/render?{q}&target={'x' * 5000}").status_code == 400


def test_offwake_stacks_the_wakers_stack_on_the_blocked_one(pushed):
    client, samples, port, rng = pushed
    holder, locker = _tid(samples, "holder"), _tid(samples, "locker")
    r = client.get(f'/api/v1/render?query=offcpu{{service_name="waits"}}&view=offwake'
                   f'&tid={locker}&{rng}').get_json()
    paths = _paths(r)
    lock = {p: v for p, v in paths.items() if "[off-cpu:lock]" in p}
    assert lock, paths
    for p in lock:
        # blocked stack (root first) up to its reason, then the waker's stack
        # innermost first (the unlock's wakeup), its thread start last, then who.
        assert p[-1] == f"woken by holder (tid {holder})", p
        i = p.index("[off-cpu:lock]")
        assert "locker" in p[:i] and "hold_lock" in p[i:], p
        assert p.index("futex_wake_[k]") < p.index("hold_lock") < p.index("holder"), p
    kind = dict(zip(r["flamebearer"]["names"], r["kinds"], strict=True))
    assert (kind[f"woken by holder (tid {holder})"], kind["hold_lock"], kind["futex_wake_[k]"]) \
        == ("waker", "native", "kernel")
    kept = sum(s.value_ns for s in samples if s.tid == locker and s.labels.get("waker_kind"))
    assert r["offwake"]["woken_ns"] == r["flamebearer"]["numTicks"] == kept
    # A pipe reader is woken by its writer; a TCP client by the server thread's send.
    pipe = _paths(client.get(f'/api/v1/render?query=offcpu{{}}&view=offwake'
                             f'&tid={_tid(samples, "piperead")}&{rng}').get_json())
    assert any(p[-1].startswith("woken by pipewrite") and "write_pipe" in p for p in pipe)
    tcp = client.get(f'/api/v1/render?query=offcpu{{}}&view=offwake&tid={_tid(samples, "recver")}'
                     f'&{rng}').get_json()
    assert r["offwake"]["kept_ns"] >= r["offwake"]["woken_ns"]
    assert any(p[-1].startswith("woken by server") for p in _paths(tcp)), _paths(tcp)


def _pprof_samples(data: bytes) -> list[tuple[dict, int, list[str]]]:
    """A pprof export's samples: (string labels, off-CPU value, function names root first)."""
    msg = profile_pb2.Profile()
    msg.ParseFromString(gzip.decompress(data))
    st = list(msg.string_table)
    fn = {f.id: st[f.name] for f in msg.function}
    loc = {lc.id: fn[lc.line[0].function_id] for lc in msg.location}
    off = [st[t.type] for t in msg.sample_type].index("off_cpu")
    return [({st[lb.key]: st[lb.str] for lb in s.label if lb.str}, s.value[off],
             [loc[i] for i in reversed(s.location_id)]) for s in msg.sample]


def _folded(text: str) -> dict[tuple[str, ...], int]:
    out: dict[tuple[str, ...], int] = {}
    for line in text.splitlines():
        stack, value = line.rsplit(" ", 1)
        out[tuple(stack.split(";"))] = out.get(tuple(stack.split(";")), 0) + int(value)
    return out


def test_exports_carry_the_wait_fields(pushed):
    """pprof labels every kept wait with its system call, target and waker;
    the folded file keeps FlameGraph's form: the reason as the last frame."""
    client, samples, _, rng = pushed
    q = f'query=offcpu{{service_name="waits"}}&{rng}&tid={_tid(samples, "locker")}'
    locks = [lab for lab, _, _ in _pprof_samples(
        client.get(f"/api/v1/export?{q}&format=pprof").data) if lab.get("reason") == "lock"]
    assert locks
    for lab in locks:
        assert lab["syscall"] == "futex" and lab["target"].startswith("futex 0x"), lab
        assert lab["waker_comm"] == "holder" and lab["waker_tid"].isdigit(), lab
    folded = _folded(client.get(f"/api/v1/export?{q}&format=folded").get_data(as_text=True))
    assert folded and all(p[-1].startswith("[off-cpu:") and "locker" in p for p in folded)
    assert sum(v for p, v in folded.items() if p[-1] == "[off-cpu:lock]") > 0


def test_a_targets_filter_and_the_offwake_view_apply_to_exports(pushed):
    """`target`/`syscall` and `view=offwake` choose the same part of the
    selection in the pprof and folded exports (and /render's formats) as in
    the rendered graph: the same stacks and totals."""
    client, samples, _, rng = pushed
    q = f'query=offcpu{{service_name="waits"}}&{rng}'
    futex = next(r for r in client.get(f"/api/v1/waits?{q}").get_json()["waits"]
                 if r["syscall"] == "futex")
    only = f"{q}&{_only(futex)}"
    graph = _paths(client.get(f"/api/v1/render?{only}").get_json())
    for url in (f"/api/v1/export?{only}&format=folded", f"/api/v1/render?{only}&format=folded"):
        assert _folded(client.get(url).get_data(as_text=True)) == graph
    assert sum(graph.values()) == futex["total_ns"]
    pp = _pprof_samples(client.get(f"/api/v1/export?{only}&format=pprof").data)
    assert {lab["target"] for lab, _, _ in pp} == {futex["target"]}
    assert sum(v for _, v, _ in pp) == futex["total_ns"]
    doc = client.get(f"/api/v1/export?{only}&format=speedscope").get_json()
    assert sum(sum(p["weights"]) for p in doc["profiles"]) == futex["total_ns"]

    wake = f"{q}&view=offwake&tid={_tid(samples, 'locker')}"
    shown = client.get(f"/api/v1/render?{wake}").get_json()
    want = _paths(shown)
    assert want and shown["offwake"]["woken_ns"] == sum(want.values())
    assert _folded(client.get(f"/api/v1/export?{wake}&format=folded").get_data(as_text=True)) \
        == want
    pp = _pprof_samples(client.get(f"/api/v1/export?{wake}&format=pprof").data)
    holder = f"woken by holder (tid {_tid(samples, 'holder')})"
    assert sum(v for _, v, _ in pp) == sum(want.values())
    locks = [(lab, names) for lab, _, names in pp if "[off-cpu:lock]" in names]
    assert locks
    for lab, names in locks:  # pprof names kernel functions without FlameGraph's `_[k]`
        assert names[-1] == holder and "hold_lock" in names[names.index("[off-cpu:lock]"):]
        assert lab["waker_comm"] == "holder"
    assert client.get(f"/api/v1/export?{wake}&format=speedscope").status_code == 400
    assert client.get(f"/api/v1/export?{q}&view=nope&format=folded").status_code == 400


TRACE, SPAN = "5" * 32, "6" * 16


def test_a_traces_intervals_carry_their_waits(client, recorded):
    """The real recording's locker and holder threads linked to one trace (as
    an agent links a request's threads): the trace's own tracks, waits table
    and off-wake graph read the waits from its linked samples."""
    samples, _ = recorded
    holder, locker = _tid(samples, "holder"), _tid(samples, "locker")
    linked = [replace(s, trace_id=TRACE, span_id=SPAN) if s.tid in (holder, locker) else s
              for s in samples]
    body = encode_batch(linked, lambda s: {"service_name": "waits"}, agent_id="t", seq=1)
    r = client.post("/api/v1/agent/push", data=body,
                    headers={"Content-Type": "application/x-flamecam-batch",
                             "Content-Encoding": "zstd"})
    assert r.status_code == 200, r.data
    q = f"trace_id={TRACE}"
    ev = client.get(f"/api/v1/thread-events?query=offcpu{{}}&{q}").get_json()
    assert {t["tid"] for t in ev["threads"]} == {holder, locker}
    waits = [ev["waits"][w] for i, w in enumerate(ev["events"]["wait"])
             if ev["threads"][ev["events"]["thread"][i]]["tid"] == locker
             and ev["reasons"][ev["events"]["reason"][i]] == "lock"]
    assert waits and all(w["waker"]["tid"] == holder and "hold_lock" in w["waker"]["stack"]
                         for w in waits)
    rows = client.get(f"/api/v1/waits?query=offcpu{{}}&{q}").get_json()["waits"]
    want = [s for s in samples if s.tid in (holder, locker)
            and (s.labels.get("syscall") or s.labels.get("waker_kind"))]
    assert sum(r["count"] for r in rows) == len(want)
    assert sum(r["total_ns"] for r in rows) == sum(s.value_ns for s in want)
    assert {r["syscall"] for r in rows} == {s.labels.get("syscall", "") for s in want}
    futex = next(r for r in rows if r["syscall"] == "futex")
    graph = client.get(f"/api/v1/render?query=offcpu{{}}&{q}&{_only(futex)}").get_json()
    assert graph["flamebearer"]["numTicks"] == futex["total_ns"]
    folded = client.get(f"/api/v1/export?query=offcpu{{}}&{q}&{_only(futex)}&format=folded")
    assert _folded(folded.get_data(as_text=True)) == _paths(graph)
    wake = _paths(client.get(f"/api/v1/render?query=wall{{}}&view=offwake&{q}&tid={locker}"
                             ).get_json())
    assert wake and all(p[-1] == f"woken by holder (tid {holder})" for p in wake
                        if "[off-cpu:lock]" in p)
    # The span's scope, and a thread of the trace, read the same waits.
    one = client.get(f"/api/v1/waits?query=offcpu{{}}&{q}&span_id={SPAN}&tid={holder}")
    assert {r["syscall"] for r in one.get_json()["waits"]} == {
        s.labels.get("syscall", "") for s in want if s.tid == holder}
    # A trace's pprof export carries the same labels.
    r = client.get(f"/api/v1/export?query=offcpu{{}}&format=pprof&{q}&tid={locker}")
    msg = profile_pb2.Profile()
    msg.ParseFromString(gzip.decompress(r.data))
    st = list(msg.string_table)
    labels = [{st[lb.key]: st[lb.str] for lb in s.label if lb.str} for s in msg.sample]
    woken = [lab for lab in labels if lab.get("syscall") == "futex"]
    assert woken and all(lab["waker_tid"] == str(holder) and lab["waker_comm"] == "holder"
                         for lab in woken)


@pytest.fixture(scope="module", params=["3.11", "3.12", "3.13"])
def py_lock_waits(request) -> list:
    """tests/workloads/py_lock_wait.py recorded under each pyenv CPython."""
    return record_py_lock_wait(python_bin(request.param), seconds=2.0)


def test_a_python_locks_waits_are_one_row_named_by_its_line(client, py_lock_waits):
    """The waiter's waits on the threading.Lock are one row of the waits
    table, named by the lock's kind and the line that waits on it; that row
    filters the flame graph to exactly them."""
    rng = _push(client, py_lock_waits, "pylock")
    target = f"threading.Lock at py_lock_wait.py:{waiter_lock_line()} (in waiter)"
    mine = [s for s in py_lock_waits if s.labels.get("target") == target]
    assert mine and {s.thread_name for s in mine} == {"waiter"}
    q = f'query=offcpu{{service_name="pylock"}}&{rng}'
    rows = client.get(f"/api/v1/waits?{q}").get_json()["waits"]
    lock = [r for r in rows if r["syscall"] == "futex" and r["target"] != "the GIL"]
    assert [(r["target"], r["reason"]) for r in lock] == [(target, "lock")], rows
    weight = [int(s.labels.get("kept_1_in", 1)) for s in mine]
    assert lock[0]["count"] == sum(weight)
    assert lock[0]["total_ns"] == sum(s.value_ns * n for s, n in zip(mine, weight, strict=True))
    r = client.get(f"/api/v1/render?{q}&{_only(lock[0])}").get_json()
    assert r["flamebearer"]["numTicks"] == lock[0]["total_ns"]
    assert all("py_lock_wait.waiter" in p for p in _paths(r)), _paths(r)
