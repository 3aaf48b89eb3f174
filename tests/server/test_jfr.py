"""JFR pushed as Pyroscope's Java client pushes it (issue 18).

A real JVM records tests/workloads/jfr/JfrWork.java with
`-XX:StartFlightRecording` (settings=profile: ExecutionSample every 10 ms);
the recording goes to `/ingest?format=jfr`, as the body and as a multipart
`jfr` part. The JDK's own `jfr print --json` is the oracle: per type the
stored total equals the recording's, nothing but execution samples is CPU,
and the top function is the workload's.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest

from profiler.formats.proto import jfr_labels_pb2

SOURCE = Path(__file__).resolve().parents[1] / "workloads" / "jfr" / "JfrWork.java"
PROFILE_PERIOD_NS = 10_000_000  # jdk.ExecutionSample in the JDK's `profile` settings
ALLOC = "memory:alloc_space:bytes:space:bytes"
LOCKS = "mutex:lock_count:count:contentions:count"
LOCK_TIME = "mutex:lock_time:nanoseconds:contentions:count"


def record_jvm(work: Path, source: Path, *args: str) -> Path:
    """Compiles `source` in `work` and runs it under JFR (`profile` settings); the recording."""
    for tool in ("javac", "java", "jfr"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing: apt-get install openjdk-17-jdk-headless")
    pytest.importorskip("jpype")
    shutil.copy(source, work)
    subprocess.run(["javac", source.name], cwd=work, check=True, timeout=120,
                   capture_output=True)
    subprocess.run(["java", f"-XX:StartFlightRecording:filename={work / 'rec.jfr'},"
                    "settings=profile", source.stem, *args], cwd=work, check=True, timeout=120,
                   capture_output=True)
    return work / "rec.jfr"


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    return record_jvm(tmp_path_factory.mktemp("jfr"), SOURCE, "2000")


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


# ------------------------------------------------- the client's dynamic labels
LABELS_SOURCE = SOURCE.parent / "JfrLabels.java"
CLIENT_WALL = "wall:wall:nanoseconds:wall:nanoseconds"
# JfrLabels.java: samples under context 1 (checkout), 2 (search), none (idle).
PER_CONTEXT = {1: 30, 2: 20, 0: 10}


@pytest.fixture(scope="module")
def labeled_recording(tmp_path_factory) -> Path:
    return record_jvm(tmp_path_factory.mktemp("jfrlabels"), LABELS_SOURCE,
                      *(str(PER_CONTEXT[c]) for c in (1, 2, 0)))


def labels_snapshot() -> bytes:
    """What Pyroscope's Java client sends for contexts 1 and 2 (strings by id)."""
    snap = jfr_labels_pb2.LabelsSnapshot()
    for i, s in {1: "endpoint", 2: "checkout", 3: "search"}.items():
        snap.strings[i] = s
    snap.contexts[1].labels[1] = 2
    snap.contexts[2].labels[1] = 3
    return snap.SerializeToString()


def test_jfr_labels_part_labels_each_sample(client, labeled_recording):
    events = jfr_events(labeled_recording, "profiler.WallClockSample")
    assert Counter(e["contextId"] for e in events) == PER_CONTEXT  # the JDK's own reading
    # As the Java client sends it by default: both parts gzipped.
    r = client.post("/ingest?name=shop&format=jfr", data={
        "jfr": (io.BytesIO(gzip.compress(labeled_recording.read_bytes())), "jfr"),
        "labels": (io.BytesIO(gzip.compress(labels_snapshot())), "labels")},
        content_type="multipart/form-data")
    assert r.status_code == 200, r.data

    series = client.get(f"/api/v1/series?query={quote(CLIENT_WALL + '{}')}&from=now-1h"
                        "&until=now%2B1h").get_json()["series"]
    endpoints = sorted(s["labels"].get("endpoint", "") for s in series)
    assert endpoints == ["", "checkout", "search"], series
    assert all(s["labels"]["service_name"] == "shop" for s in series)

    whole = get(client, "/api/v1/render", CLIENT_WALL + "{}")["flamebearer"]
    per_sample = whole["numTicks"] // len(events)
    assert whole["numTicks"] == per_sample * len(events) and per_sample > 0
    for ctx, name in ((1, "checkout"), (2, "search")):
        fb = get(client, "/api/v1/render", CLIENT_WALL + f'{{endpoint="{name}"}}')["flamebearer"]
        assert fb["numTicks"] == PER_CONTEXT[ctx] * per_sample, name
        assert f"JfrLabels.{name}" in fb["names"], fb["names"]
        other = "search" if name == "checkout" else "checkout"
        assert f"JfrLabels.{other}" not in fb["names"]


def test_jfr_labels_part_unreadable_is_a_400(client, labeled_recording):
    bad = jfr_labels_pb2.LabelsSnapshot()
    bad.contexts[1].labels[1] = 9  # a string the snapshot does not hold
    for part, why in ((b"\xff\xff\xff", "not a LabelsSnapshot"),
                      (bad.SerializeToString(), "does not hold")):
        r = client.post("/ingest?name=shop&format=jfr", data={
            "jfr": (io.BytesIO(labeled_recording.read_bytes()), "jfr"),
            "labels": (io.BytesIO(part), "labels")}, content_type="multipart/form-data")
        assert r.status_code == 400 and why in r.get_json()["error"], r.data
    assert client.get("/api/v1/profile-types?from=now-1h").get_json()["types"] == []


NO_JDK_SERVER = """
import json, sys
from profiler.server.app import ServerConfig, create_app
c = create_app(ServerConfig(db_url=sys.argv[1], maintenance=False)).test_client()
r = c.post("/ingest?name=javaapp&format=jfr", data=open(sys.argv[2], "rb").read(),
           content_type="application/octet-stream")
types = c.get("/api/v1/profile-types?from=now-1h&until=now%2B1h").get_json()["types"]
print(json.dumps({"status": r.status_code, "body": r.get_json(), "types": types}))
"""


def test_no_jdk_is_a_501_that_says_what_to_install(recording, tmp_path):
    """On a machine without a JDK (here: /usr/lib/jvm hidden under an empty tmpfs in a
    mount namespace of the server's own), a JFR push says what is missing, stores nothing."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("hiding the JDK needs root and unshare(1)")
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = "/usr/bin:/bin"
    script = tmp_path / "nojdk.py"
    script.write_text(NO_JDK_SERVER)
    r = subprocess.run(
        ["unshare", "-m", "sh", "-c", 'mount -t tmpfs none /usr/lib/jvm && exec "$@"', "sh",
         sys.executable, str(script), f"sqlite:///{tmp_path / 'db.sqlite'}", str(recording)],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True,
        timeout=120)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["status"] == 501, got
    assert "needs a JDK (apt-get install openjdk-17-jdk-headless)" in got["body"]["error"], got
    assert got["types"] == []
