"""Exports shaped as the web UI's graph (issue 16 item 5): `focus` keeps the
stacks through a frame, `hide` drops a frame from every stack, as pprof's
-focus and -hide do, so each file totals what the shaped graph shows. Real
agent batches through the real server, every format decoded."""

from __future__ import annotations

import json
import time

import pytest

from profiler.formats import pprof
from tests.server.test_process_roots import MS10, PROCS, _push, _samples

EXPORT = "/api/v1/export?query=cpu{}&from=now-1h&until=now%2B1m"


def folded(client, extra: str) -> dict[str, int]:
    r = client.get(f"{EXPORT}&format=folded{extra}")
    assert r.status_code == 200, r.get_data(as_text=True)
    return {stack: int(v) for stack, v in
            (line.rsplit(" ", 1) for line in r.get_data(as_text=True).splitlines())}


def pprof_stacks(client, extra: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in pprof.decode(client.get(f"{EXPORT}&format=pprof{extra}").data):
        key = ";".join(s.folded_stack())
        out[key] = out.get(key, 0) + s.value_ns
    return out


def speedscope_stacks(client, extra: str) -> dict[str, int]:
    doc = json.loads(client.get(f"{EXPORT}&format=speedscope{extra}").data)
    names = [f["name"] for f in doc["shared"]["frames"]]
    out: dict[str, int] = {}
    for p in doc["profiles"]:
        for stack, w in zip(p["samples"], p["weights"], strict=True):
            key = ";".join(names[i] for i in stack)
            out[key] = out.get(key, 0) + w
    return out


def test_focus_and_hide_shape_every_format_alike(client):
    _push(client, _samples(time.time_ns() - 5 * 10**9))
    nginx = PROCS["nginx"][1] * MS10
    # focus on a function: only the stacks through it
    want = {"nginx;clone3;start_thread;ngx_worker": nginx}
    for read in (folded, pprof_stacks, speedscope_stacks):
        assert read(client, "&focus=ngx_worker") == want, read.__name__
    # focus on a process, hide a frame: its time stays with its caller, and the
    # stacks it made equal are one
    want = {"nginx;clone3;ngx_worker": nginx, "nginx;clone3": nginx}
    for read in (folded, pprof_stacks, speedscope_stacks):
        assert read(client, "&focus=nginx&hide=start_thread") == want, read.__name__
    # two focus frames: the stacks through both; hiding two frames
    assert folded(client, "&focus=nginx&focus=ngx_worker&hide=clone3&hide=start_thread") == {
        "nginx;ngx_worker": nginx}
    # hiding changes no total
    whole = sum(folded(client, "").values())
    assert sum(folded(client, "&hide=clone3").values()) == whole
    assert sum(pprof_stacks(client, "&hide=clone3").values()) == whole


@pytest.mark.parametrize("extra", ["&focus=", "&hide=" + "x" * 4097,
                                   "".join(f"&hide=f{i}" for i in range(101)),
                                   "&format=svg"])
def test_bad_shapes_and_formats_are_400(client, extra):
    r = client.get(EXPORT + extra)
    assert r.status_code == 400 and "\n" not in r.get_json()["error"]
