"""JFR pushed as Pyroscope's Java client pushes it (issue 18).

A real JVM records tests/workloads/jfr/JfrWork.java with
`-XX:StartFlightRecording` (settings=profile: ExecutionSample every 10 ms);
the recording goes to `/ingest?format=jfr`, as the body and as a multipart
`jfr` part. The JDK's own `jfr print --json` is the oracle: per type the
stored total equals the recording's, nothing but execution samples is CPU,
and the top function is the workload's.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "workloads" / "jfr" / "JfrWork.java"
PROFILE_PERIOD_NS = 10_000_000  # jdk.ExecutionSample in the JDK's `profile` settings
ALLOC = "memory:alloc_space:bytes:space:bytes"
LOCKS = "mutex:lock_count:count:contentions:count"
LOCK_TIME = "mutex:lock_time:nanoseconds:contentions:count"


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    for tool in ("javac", "java", "jfr"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing: apt-get install openjdk-17-jdk-headless")
    pytest.importorskip("jpype")
    work = tmp_path_factory.mktemp("jfr")
    shutil.copy(SOURCE, work)
    subprocess.run(["javac", "JfrWork.java"], cwd=work, check=True, timeout=120,
                   capture_output=True)
    subprocess.run(["java", f"-XX:StartFlightRecording:filename={work / 'rec.jfr'},"
                    "settings=profile", "JfrWork", "2000"], cwd=work, check=True, timeout=120,
                   capture_output=True)
    return work / "rec.jfr"


def jfr_events(path: Path, event: str) -> list[dict]:
    """The JDK's own reading of the recording (`jfr print --json`), events with a stack."""
    out = subprocess.run(["jfr", "print", "--json", "--events", event, str(path)],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    return [e["values"] for e in json.loads(out)["recording"]["events"]
            if e["values"].get("stackTrace")]


def iso_ns(duration: str) -> int:
    """`PT1M0.5S` -> ns (what `jfr print --json` writes)."""
    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?", duration)
    h, mi, s = m.groups()
    whole, _, frac = (s or "0").partition(".")
    return ((int(h or 0) * 60 + int(mi or 0)) * 60 + int(whole)) * 10**9 + \
        int((frac + "000000000")[:9])


def leaf(e: dict) -> str:
    top = e["stackTrace"]["frames"][0]["method"]
    return f'{top["type"]["name"]}.{top["name"]}'


def get(client, path: str, query: str) -> dict:
    r = client.get(f"{path}?query={quote(query)}&from=now-1h&until=now%2B1h")
    assert r.status_code == 200, r.data
    return r.get_json()


def test_jfr_body_each_event_its_type(client, recording):
    r = client.post("/ingest?name=javaapp.cpu&format=jfr&spyName=javaspy",
                    data=recording.read_bytes(), content_type="application/octet-stream")
    assert r.status_code == 200, r.data
    cpu = jfr_events(recording, "jdk.ExecutionSample")
    alloc = jfr_events(recording, "jdk.ObjectAllocationSample")
    locks = jfr_events(recording, "jdk.JavaMonitorEnter") + \
        jfr_events(recording, "jdk.ThreadPark")
    types = {t["id"] for t in client.get(
        "/api/v1/profile-types?from=now-1h&until=now%2B1h").get_json()["types"]}
    assert types == {"cpu", ALLOC, LOCKS, LOCK_TIME}

    fb = get(client, "/api/v1/render", "cpu{}")
    assert fb["flamebearer"]["numTicks"] == len(cpu) * PROFILE_PERIOD_NS
    top = get(client, "/api/v1/top", "cpu{}")["functions"]
    assert top[0]["name"] == Counter(map(leaf, cpu)).most_common(1)[0][0] == "JfrWork.burnCpu"

    weights = sum(e["weight"] for e in alloc)
    assert get(client, "/api/v1/render", ALLOC + "{}")["flamebearer"]["numTicks"] == weights
    assert get(client, "/api/v1/render", ALLOC + "{}")["metadata"]["units"] == "bytes"
    assert get(client, "/api/v1/render", LOCKS + "{}")["flamebearer"]["numTicks"] == len(locks)
    lock_time = get(client, "/api/v1/render", LOCK_TIME + "{}")["flamebearer"]["numTicks"]
    assert lock_time == sum(iso_ns(e["duration"]) for e in locks)
    lock_top = {r["name"]: r for r in get(client, "/api/v1/top", LOCKS + "{}")["functions"]}
    assert lock_top["JfrWork.contendLock"]["total"] == len(locks)


def test_jfr_multipart_as_the_java_client_sends_it(client, recording):
    r = client.post("/ingest?name=javaapp&format=jfr", data={
        "jfr": (io.BytesIO(recording.read_bytes()), "jfr"),
        "labels": (io.BytesIO(b""), "labels")}, content_type="multipart/form-data")
    assert r.status_code == 200, r.data
    cpu = jfr_events(recording, "jdk.ExecutionSample")
    fb = get(client, "/api/v1/render", 'cpu{service_name="javaapp"}')
    assert fb["flamebearer"]["numTicks"] == len(cpu) * PROFILE_PERIOD_NS


def test_unreadable_jfr_is_a_422(client, recording):
    r = client.post("/ingest?name=javaapp&format=jfr", data=b"FLR\0not really",
                    content_type="application/octet-stream")
    assert r.status_code == 422, r.data
    assert "JFR" in r.get_json()["error"]
    assert client.get("/api/v1/profile-types?from=now-1h").get_json()["types"] == []
