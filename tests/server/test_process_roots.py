"""Whole-host views have a process level (issue 14 item 7): a view spanning
processes roots every stack at a frame naming its process (`comm`, kind
`process`), in the flame graph, diffs and every export; a view of one process
(or one pid/tid) reads as before. Real agent batches through the real server."""

from __future__ import annotations

import gzip
import json
import time

from profiler.agent.batch import encode_batch
from profiler.formats import pprof
from profiler.model import Frame, Sample

AGENT = {"Content-Type": "application/x-flamecam-batch", "Content-Encoding": "zstd"}
START = Frame("start_thread", "native")
CLONE = Frame("clone3", "native")
WORK = {"nginx": Frame("ngx_worker", "native"), "postgres": Frame("PostgresMain", "native"),
        "python3": Frame("handle (app.py)", "python")}
# Per process: (pid, samples of 10 ms); a shared stack under clone3/start_thread.
PROCS = {"nginx": (200, 7), "postgres": (300, 5), "python3": (400, 3)}
MS10 = 10**7


def _samples(t0: int) -> list[Sample]:
    out = []
    for comm, (pid, n) in PROCS.items():
        for i in range(n):
            out.append(Sample("cpu", t0 + i * MS10, pid, pid + 1, 0, comm, comm,
                              (CLONE, START, WORK[comm]), MS10))
            # The same stack in every process: split by process, not merged.
            out.append(Sample("cpu", t0 + i * MS10 + 1000, pid, pid + 1, 0, comm, comm,
                              (CLONE, START), MS10))
    return out


def _push(client, samples, seq=1) -> None:
    body = encode_batch(samples, lambda s: {"service_name": "host", "host": "h1"},
                        agent_id="a", seq=seq)
    r = client.post("/api/v1/agent/push", data=body, headers=AGENT)
    assert r.status_code == 200, r.get_data(as_text=True)


def _paths(fb: dict) -> dict[tuple[str, ...], int]:
    """Every node of a flamebearer as its path of names (root excluded) -> total."""
    names, levels = fb["flamebearer"]["names"], fb["flamebearer"]["levels"]
    out: dict[tuple[str, ...], int] = {}
    opened: list[tuple[int, int, tuple[str, ...]]] = [(0, 10**18, ())]
    for depth, lv in enumerate(levels):
        x = 0
        row = []
        for i in range(0, len(lv), 4):
            x += lv[i]
            total, name = lv[i + 1], names[lv[i + 3]]
            parent = next(p for p in opened if p[0] <= x < p[0] + max(p[1], 1)) \
                if depth else (0, 0, ())
            path = parent[2] + (name,) if depth else ()
            if depth:
                out[path] = total
            row.append((x, total, path))
            x += total
        opened = row
    return out


def test_whole_host_view_roots_stacks_at_processes(client):
    t0 = time.time_ns() - 5 * 10**9
    _push(client, _samples(t0))
    q = "/api/v1/render?query=cpu{}&from=now-1h&until=now%2B1m"
    fb = client.get(q).get_json()
    paths = _paths(fb)
    kinds = dict(zip(fb["flamebearer"]["names"], fb["kinds"], strict=True))
    for comm, (_pid, n) in PROCS.items():
        assert kinds[comm] == "process"
        assert paths[(comm,)] == 2 * n * MS10
        assert paths[(comm, "clone3", "start_thread")] == 2 * n * MS10
        assert paths[(comm, "clone3", "start_thread", WORK[comm].name)] == n * MS10
    assert ("clone3",) not in paths, "no stack merges across processes"
    assert fb["flamebearer"]["numTicks"] == sum(2 * n * MS10 for _, n in PROCS.values())
    assert "process" in client.get("/api/v1/meta").get_json()["frame_kinds"]

    # One process (pid): the stacks as stored, no process level.
    one = _paths(client.get(q + "&pid=300").get_json())
    assert one[("clone3",)] == 10 * MS10 and not any(p[0] in PROCS for p in one)

    # Exports name the process the same way.
    folded = client.get("/api/v1/export?query=cpu{}&from=now-1h&until=now%2B1m"
                        "&format=folded").get_data(as_text=True)
    lines = dict(line.rsplit(" ", 1) for line in folded.splitlines())
    assert int(lines["nginx;clone3;start_thread;ngx_worker"]) == 7 * MS10
    assert int(lines["postgres;clone3;start_thread"]) == 5 * MS10
    assert all(line.split(";")[0] in PROCS for line in lines)
    raw = client.get("/api/v1/export?query=cpu{}&from=now-1h&until=now%2B1m"
                     "&format=pprof").data
    roots = {}
    for s in pprof.decode(gzip.decompress(raw)):
        roots[s.stack[0].name] = roots.get(s.stack[0].name, 0) + s.value_ns
    assert roots == {comm: 2 * n * MS10 for comm, (_pid, n) in PROCS.items()}
    doc = json.loads(client.get("/api/v1/export?query=cpu{}&from=now-1h&until=now%2B1m"
                                "&format=speedscope").data)
    frames = [f["name"] for f in doc["shared"]["frames"]]
    firsts = {frames[p["samples"][0][0]] for p in doc["profiles"]}
    assert firsts <= set(PROCS) and firsts


def test_stacks_naming_alike_merge(client):
    """Distinct stored frames of one name (a function's call sites: other return
    addresses) are one node: their stacks' values add up, under a process level
    and in a view of one process alike."""
    t0 = time.time_ns() - 5 * 10**9
    sites = [Frame("ngx_process_events", "native", "/usr/sbin/nginx", "", 0x400 + 16 * i)
             for i in range(3)]
    samples = [Sample("cpu", t0 + i * MS10, 200, 201, 0, "nginx", "nginx",
                      (CLONE, START, sites[i % 3], WORK["nginx"]), MS10) for i in range(9)]
    samples.append(Sample("cpu", t0 + 10 * MS10, 300, 301, 0, "postgres", "postgres",
                          (CLONE, START, WORK["postgres"]), MS10))
    _push(client, samples)
    q = "/api/v1/render?query=cpu{}&from=now-1h&until=now%2B1m"
    for path, pid in (("nginx", "clone3", "start_thread", "ngx_process_events"), ""), (
            ("clone3", "start_thread", "ngx_process_events"), "&pid=200"):
        paths = _paths(client.get(q + pid).get_json())
        assert paths[path] == 9 * MS10
        assert paths[(*path, "ngx_worker")] == 9 * MS10
        assert sum(1 for p in paths if p[-1] == "ngx_process_events") == 1


def test_diff_roots_both_sides_when_either_spans_processes(client):
    t0 = time.time_ns() - 5 * 10**9
    samples = _samples(t0)
    _push(client, [s for s in samples if s.comm == "nginx"], seq=1)
    _push(client, [s for s in samples if s.comm != "nginx"], seq=2)
    # Left: only nginx (one process); right: the other two. Both rooted.
    r = client.get("/api/v1/render-diff?leftQuery=cpu{}&leftFrom=now-1h&leftUntil=now%2B1m"
                   "&rightQuery=cpu{}&rightFrom=now-1h&rightUntil=now%2B1m").get_json()
    names = r["flamebearer"]["names"]
    depth1 = r["flamebearer"]["levels"][1]
    assert {names[depth1[i + 6]] for i in range(0, len(depth1), 7)} == set(PROCS)
