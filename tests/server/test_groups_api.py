"""GET /api/v1/groups (issue 16 item 7): the selection by process or thread, each
with its exact total and its value per step; known answers from the events of
tests/server/diff_data.py pushed as real agent batches (SQLite and PostgreSQL)."""

from __future__ import annotations

import time

from tests.server import diff_data
from tests.server.test_diff_weights import _post


def _groups(client, **args) -> tuple[int, dict]:
    r = client.get("/api/v1/groups", query_string={
        "query": f'wall{{service_name="{diff_data.SERVICE}"}}', "from": "now-1h",
        "until": "now+1m", **args})
    return r.status_code, r.get_json()


def _total(version: str) -> int:
    return sum(v for *_, v in diff_data.events(version, ("cpu", "offcpu")))


def test_groups_by_process_and_thread(client):
    diff_data.push(lambda body: _post(client, body), time.time_ns() - 60 * 10**9)
    status, answer = _groups(client, by="process")
    assert status == 200, answer
    want = {diff_data.PIDS[v]: _total(v) for v in diff_data.EVENTS}
    assert {g["pid"]: g["value"] for g in answer["groups"]} == want
    assert answer["total"] == sum(want.values()) and answer["count"] == 2
    assert [g["value"] for g in answer["groups"]] == sorted(want.values(), reverse=True)
    for g in answer["groups"]:
        assert g["name"] == "sigdemo" and sum(v for _, v in g["points"]) == g["value"]
        assert all(ms % answer["step_ms"] == 0 for ms, _ in g["points"])
    assert answer["units"] == "nanoseconds"
    # one thread per process here; limit keeps the largest; pid scopes
    status, answer = _groups(client, by="thread", limit="1")
    assert status == 200 and answer["count"] == 2 and len(answer["groups"]) == 1
    top = answer["groups"][0]
    assert top["tid"] == top["pid"] == diff_data.PIDS["2.0"] and top["value"] == _total("2.0")
    status, answer = _groups(client, by="process", pid=str(diff_data.PIDS["1.0"]))
    assert [g["pid"] for g in answer["groups"]] == [diff_data.PIDS["1.0"]]


def test_groups_refuses_what_it_cannot_group_by(client):
    for bad in ("", "host", "pid"):
        status, answer = _groups(client, by=bad)
        assert status == 400 and "by must be one of process, thread" in answer["error"]
