"""Every profile type a client sends is stored as what it is (issue 18).

The profiles are made in the test by the runtimes themselves: Go's
`runtime/pprof` (heap, allocs, mutex, block, goroutine and CPU, from
tests/workloads/goprofiles), and a Node.js app using `@pyroscope/nodejs` from
npm (wall and heap), pushed as the clients push them. For each: the total per
type equals the profile's own total (read straight from its protobuf), nothing
leaks into `cpu`, and the top function is the profile's own.
"""

from __future__ import annotations

import gzip
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest

from profiler.formats.proto import profile_pb2, push_pb2, querier_pb2
from tests.server.test_pprof_fast import decode as fast_decode
from tests.server.test_pprof_fast import rows as fast_rows
from tests.workloads.go_profiles import go_profiles as build_go_profiles

NODE_CLIENT = "@pyroscope/nodejs@0.6.4"
PROTO = {"Content-Type": "application/proto"}
RANGE = {"from": "now-1h", "until": "now%2B1h"}


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


# ----------------------------------------------------------- the profiles' own view


def own(data: bytes) -> profile_pb2.Profile:
    msg = profile_pb2.Profile()
    msg.ParseFromString(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    return msg


def own_totals(msgs: list[profile_pb2.Profile]) -> dict[str, int]:
    """Sample type -> the sum of its column over the profiles."""
    out: Counter = Counter()
    for m in msgs:
        st = m.string_table
        for i, t in enumerate(m.sample_type):
            out[st[t.type]] += sum(s.value[i] for s in m.sample)
    return dict(out)


def own_top(msgs: list[profile_pb2.Profile], sample_type: str) -> str:
    """The function with the largest self value of a column (the innermost line of the leaf)."""
    self_of: Counter = Counter()
    for m in msgs:
        st = m.string_table
        idx = [st[t.type] for t in m.sample_type].index(sample_type)
        fn = {f.id: st[f.name] for f in m.function}
        loc = {loc.id: loc for loc in m.location}
        for s in m.sample:
            if s.value[idx] > 0 and s.location_id:
                self_of[fn[loc[s.location_id[0]].line[0].function_id]] += s.value[idx]
    return self_of.most_common(1)[0][0]


# ------------------------------------------------------------------ the queries


def render(client, query: str) -> dict:
    r = client.get(f"/api/v1/render?query={quote(query)}&from=now-1h&until=now%2B1h")
    assert r.status_code == 200, r.data
    return r.get_json()


def total(client, query: str) -> int:
    return render(client, query)["flamebearer"]["numTicks"]


def top(client, query: str) -> list[dict]:
    r = client.get(f"/api/v1/top?query={quote(query)}&from=now-1h&until=now%2B1h")
    assert r.status_code == 200, r.data
    return r.get_json()["functions"]


def types(client) -> dict[str, dict]:
    r = client.get("/api/v1/profile-types?from=now-1h&until=now%2B1h")
    assert r.status_code == 200, r.data
    return {t["id"]: t for t in r.get_json()["types"]}


def push(client, name: str, service: str, *profiles: bytes) -> None:
    """A Connect Push as Grafana Alloy and newer clients send it (`__name__`: the family)."""
    req = push_pb2.PushRequest()
    s = req.series.add()
    s.labels.add(name="__name__", value=name)
    s.labels.add(name="service_name", value=service)
    for i, p in enumerate(profiles):
        s.samples.add(raw_profile=p, ID=str(i))
    r = client.post("/push.v1.PusherService/Push", data=req.SerializeToString(), headers=PROTO)
    assert r.status_code == 200, r.data


# ------------------------------------------------------------------------ Go


@pytest.fixture(scope="module")
def go_profiles(tmp_path_factory) -> dict[str, bytes]:
    """Go's own profiles of tests/workloads/goprofiles, written by runtime/pprof."""
    return build_go_profiles(tmp_path_factory.mktemp("goprofiles"))


GO_TYPES = {
    "heap": ("memory", {"alloc_objects": "memory:alloc_objects:count:space:bytes",
                        "alloc_space": "memory:alloc_space:bytes:space:bytes",
                        "inuse_objects": "memory:inuse_objects:count:space:bytes",
                        "inuse_space": "memory:inuse_space:bytes:space:bytes"}),
    "mutex": ("mutex", {"contentions": "mutex:contentions:count:contentions:count",
                        "delay": "mutex:delay:nanoseconds:contentions:count"}),
    "block": ("block", {"contentions": "block:contentions:count:contentions:count",
                        "delay": "block:delay:nanoseconds:contentions:count"}),
    "goroutine": ("goroutine", {"goroutine": "goroutines:goroutine:count:goroutine:count"}),
}


def test_go_profiles_each_type_its_own_series(client, go_profiles):
    for name, (family, _ids) in GO_TYPES.items():
        push(client, family, f"go-{name}", go_profiles[name])
    push(client, "process_cpu", "go-cpu", go_profiles["cpu"])

    stored = types(client)
    every = {i for _f, ids in GO_TYPES.values() for i in ids.values()}
    assert set(stored) == every | {"cpu"}
    assert stored["memory:alloc_space:bytes:space:bytes"]["unit"] == "bytes"
    assert stored["memory:inuse_space:bytes:space:bytes"]["aggregation"] == "average"
    assert stored["mutex:delay:nanoseconds:contentions:count"]["unit"] == "nanoseconds"
    assert stored["goroutines:goroutine:count:goroutine:count"]["unit"] == "count"

    for name, (_family, ids) in GO_TYPES.items():
        msg = own(go_profiles[name])
        want = own_totals([msg])
        service = f'{{service_name="go-{name}"}}'
        for sample_type, type_id in ids.items():
            assert total(client, type_id + service) == want[sample_type], (name, sample_type)
            assert top(client, type_id + service)[0]["name"] == own_top([msg], sample_type)
        # Nothing of it is CPU or off-CPU time.
        assert total(client, "wall" + service) == 0, name

    # CPU stays CPU, and only the CPU profile's time is there.
    cpu_msg = own(go_profiles["cpu"])
    assert total(client, "cpu{}") == own_totals([cpu_msg])["cpu"]
    assert top(client, 'cpu{service_name="go-cpu"}')[0]["name"] == own_top([cpu_msg], "cpu")


def test_go_profiles_name_what_the_program_did(client, go_profiles):
    for name, (family, _ids) in GO_TYPES.items():
        push(client, family, "goapp", go_profiles[name])
    heap = render(client, 'memory:alloc_space:bytes:space:bytes{service_name="goapp"}')
    assert heap["metadata"]["units"] == "bytes"
    assert heap["profile_type"]["name"] == "memory"
    by_name = {r["name"]: r for r in top(client, 'memory:alloc_space:bytes:space:bytes{}')}
    # 200 buffers of 64 KiB, kept alive: most of what was allocated.
    assert by_name["main.allocateBuffers"]["total"] >= 200 * (64 << 10) * 0.9
    gor = {r["name"]: r for r in top(client, "goroutines:goroutine:count:goroutine:count{}")}
    assert gor["main.waitOnChannel"]["total"] == 8
    assert "main.contendMutex" in render(
        client, "mutex:contentions:count:contentions:count{}")["flamebearer"]["names"]
    assert "main.waitOnChannel" in render(
        client, "block:delay:nanoseconds:contentions:count{}")["flamebearer"]["names"]


def test_go_mutex_and_block_told_apart_on_legacy_ingest(client, go_profiles):
    """pyroscope-go's /ingest upload: multipart with a `sample_type_config` part."""
    for name in ("mutex", "block"):
        config = (b'{"contentions": {"display-name": "%s_count", "units": "lock_samples"},'
                  b' "delay": {"display-name": "%s_duration", "units": "lock_nanoseconds"}}'
                  % (name.encode(), name.encode()))
        r = client.post("/ingest?name=goapp&spyName=gospy&format=pprof", data={
            "profile": (_file(go_profiles[name]), "profile.pprof"),
            "sample_type_config": (_file(config), "sample_type_config.json")},
            content_type="multipart/form-data")
        assert r.status_code == 200, r.data
    want_mutex = own_totals([own(go_profiles["mutex"])])
    want_block = own_totals([own(go_profiles["block"])])
    assert total(client, "mutex:delay:nanoseconds:contentions:count{}") == want_mutex["delay"]
    assert total(client, "block:delay:nanoseconds:contentions:count{}") == want_block["delay"]
    assert total(client, "wall{}") == 0


def test_gauges_average_over_profiles_sums_add_up(client, go_profiles):
    """The same heap pushed three times, 10 s apart: in-use is one heap, allocations three."""
    heap = own(go_profiles["heap"])
    want = own_totals([heap])
    t0 = time.time_ns() - 180 * 10**9
    t0 -= t0 % (60 * 10**9)
    for i in range(3):
        heap.time_nanos = t0 + i * 10**10 + 10**9
        push(client, "memory", "goapp", heap.SerializeToString())
    inuse = "memory:inuse_space:bytes:space:bytes{}"
    assert total(client, inuse) == pytest.approx(want["inuse_space"], rel=1e-6)
    assert total(client, "memory:alloc_space:bytes:space:bytes{}") == 3 * want["alloc_space"]
    r = client.get(f"/api/v1/timeline?query={quote(inuse)}&from={t0 // 10**9}"
                   f"&until={t0 // 10**9 + 120}&step=60")
    points = [v for _t, v in r.get_json()["points"]]  # one minute holds all three
    assert points == [pytest.approx(want["inuse_space"], rel=1e-6), 0]


def test_connect_profile_types_lists_the_stored_types(client, go_profiles):
    """querier.v1.QuerierService/ProfileTypes, as Grafana's Pyroscope data source asks it."""
    push(client, "memory", "goapp", go_profiles["heap"])
    push(client, "process_cpu", "goapp", go_profiles["cpu"])
    now_ms = time.time_ns() // 10**6
    req = querier_pb2.ProfileTypesRequest(start=now_ms - 3_600_000, end=now_ms + 3_600_000)
    r = client.post("/querier.v1.QuerierService/ProfileTypes", data=req.SerializeToString(),
                    headers=PROTO)
    assert r.status_code == 200 and r.content_type == "application/proto", r.data
    got = querier_pb2.ProfileTypesResponse.FromString(r.data)
    by_id = {t.ID: t for t in got.profile_types}
    assert set(by_id) == {"process_cpu:cpu:nanoseconds:cpu:nanoseconds",
                          *GO_TYPES["heap"][1].values()}
    cpu = by_id["process_cpu:cpu:nanoseconds:cpu:nanoseconds"]
    assert (cpu.name, cpu.sample_type, cpu.sample_unit, cpu.period_type, cpu.period_unit) == (
        "process_cpu", "cpu", "nanoseconds", "cpu", "nanoseconds")
    space = by_id["memory:alloc_space:bytes:space:bytes"]
    assert (space.name, space.sample_type, space.sample_unit, space.period_type,
            space.period_unit) == ("memory", "alloc_space", "bytes", "space", "bytes")

    # The JSON encoding (Connect's other one), under Pyroscope's path prefix; no
    # range: the last hour.
    r = client.post("/pyroscope/querier.v1.QuerierService/ProfileTypes", data="{}",
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.data
    ids = {t["ID"] for t in r.get_json()["profileTypes"]}
    assert ids == set(by_id)
    assert {"sampleType", "sampleUnit", "periodType", "periodUnit"} <= set(
        r.get_json()["profileTypes"][0])

    # A range before anything was pushed holds no type.
    old = querier_pb2.ProfileTypesRequest(start=10**12, end=10**12 + 60_000)
    r = client.post("/querier.v1.QuerierService/ProfileTypes", data=old.SerializeToString(),
                    headers=PROTO)
    assert querier_pb2.ProfileTypesResponse.FromString(r.data).profile_types == []

    # Bad requests: a Connect error naming why, never a 500.
    r = client.post("/querier.v1.QuerierService/ProfileTypes", data=b"\xff\xff",
                    headers=PROTO)
    assert r.status_code == 400 and r.get_json()["code"] == "invalid_argument", r.data
    bad = querier_pb2.ProfileTypesRequest(start=now_ms, end=now_ms - 1)
    r = client.post("/querier.v1.QuerierService/ProfileTypes", data=bad.SerializeToString(),
                    headers=PROTO)
    assert r.status_code == 400 and "after start" in r.get_json()["message"], r.data
    r = client.post("/querier.v1.QuerierService/ProfileTypes", data=b"",
                    headers={"Content-Type": "text/plain"})
    assert r.status_code == 415, r.data


def test_series_and_labels_carry_the_type(client, go_profiles):
    push(client, "memory", "goapp", go_profiles["heap"])
    push(client, "process_cpu", "goapp", go_profiles["cpu"])
    names = client.get("/api/v1/labels?from=now-1h").get_json()["names"]
    assert "__profile_type__" in names
    values = client.get("/api/v1/labels/__profile_type__/values?from=now-1h").get_json()["values"]
    assert "memory:inuse_space:bytes:space:bytes" in values
    assert "process_cpu:cpu:nanoseconds:cpu:nanoseconds" in values
    q = quote('{__profile_type__="memory:inuse_space:bytes:space:bytes"}')
    series = client.get(f"/api/v1/series?query={q}&from=now-1h").get_json()["series"]
    # a bare selector is wall (cpu + offcpu): no memory series there
    assert series == []
    q = quote('memory:inuse_space:bytes:space:bytes{__profile_type__=~"memory:.*"}')
    series = client.get(f"/api/v1/series?query={q}&from=now-1h").get_json()["series"]
    assert [s["labels"]["__profile_type__"] for s in series] == [
        "memory:inuse_space:bytes:space:bytes"]
    # Exports keep the type: pprof with its sample type, folded in its unit.
    r = client.get("/api/v1/export?query=memory:alloc_space:bytes:space:bytes{}"
                   "&from=now-1h&until=now%2B1h&format=pprof")
    back = own(r.data)
    st = back.string_table
    assert ("alloc_space", "bytes") in [(st[t.type], st[t.unit]) for t in back.sample_type]
    assert own_totals([back])["alloc_space"] == own_totals([own(go_profiles["heap"])])[
        "alloc_space"]
    diff = client.get("/api/v1/render-diff?leftQuery=memory:alloc_space:bytes:space:bytes{}"
                      "&leftFrom=now-1h&leftUntil=now%2B1h&rightQuery="
                      "memory:alloc_space:bytes:space:bytes{}&rightFrom=now-1h"
                      "&rightUntil=now%2B1h").get_json()
    assert diff["metadata"]["units"] == "bytes"
    assert diff["leftTicks"] == own_totals([own(go_profiles["heap"])])["alloc_space"]


def _file(data: bytes):
    import io

    return io.BytesIO(data)


# ---------------------------------------------------------------------- Node.js


class _Capture(http.server.BaseHTTPRequestHandler):
    """Keeps every request a client sends, answers 200."""

    got: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.got.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


NODE_APP = """
const Pyroscope = require('@pyroscope/nodejs');
Pyroscope.init({ serverAddress: process.argv[2], appName: 'nodeapp', flushIntervalMs: 1000,
  wall: { samplingDurationMs: 1000, samplingIntervalMicros: 1000 },
  heap: { samplingIntervalBytes: 1024 } });
Pyroscope.start();
const keep = [];
function allocateObjects() { for (let i = 0; i < 2000; i++) keep.push(new Array(64).fill(i)); }
function burn(ms) {
  const end = Date.now() + ms; let x = 0;
  while (Date.now() < end) x += Math.sqrt(x + 1);
  return x;
}
const t = setInterval(() => { allocateObjects(); burn(50); }, 60);
setTimeout(async () => { clearInterval(t); await Pyroscope.stop(); process.exit(0); }, 3000);
"""


@pytest.fixture(scope="module")
def node_pushes(tmp_path_factory) -> list[tuple[str, dict[str, str], bytes]]:
    """What `@pyroscope/nodejs` sends, captured: its wall and heap profiles."""
    node, npm = _need("node"), _need("npm")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / \
        "flamecam-tests" / NODE_CLIENT.replace("/", "_")
    if not (cache / "node_modules" / "@pyroscope" / "nodejs").exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(cache),
                        NODE_CLIENT], check=True, timeout=300, capture_output=True)
    app = tmp_path_factory.mktemp("nodeapp") / "app.js"
    app.write_text(NODE_APP)
    handler = type("Capture", (_Capture,), {"got": []})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        subprocess.run([node, str(app), f"http://127.0.0.1:{srv.server_address[1]}"],
                       check=True, timeout=60, capture_output=True,
                       env={**os.environ, "NODE_PATH": str(cache / "node_modules")})
    finally:
        srv.shutdown()
        srv.server_close()
    assert handler.got, "the Node.js client sent nothing"
    return handler.got


def test_node_wall_and_heap(client, node_pushes):
    msgs = []
    for path, headers, body in node_pushes:
        r = client.post(path, data=body, headers={"Content-Type": headers["content-type"]})
        assert r.status_code == 200, r.data
        msgs.append(own(body))
    wall_msgs = [m for m in msgs if "wall" in m.string_table]
    heap_msgs = [m for m in msgs if "inuse_space" in m.string_table]
    assert wall_msgs and heap_msgs
    stored = types(client)
    wall_id = "wall:wall:nanoseconds:wall:nanoseconds"
    heap_id = "memory:inuse_space:bytes:inuse_space:bytes"
    assert {wall_id, heap_id, "memory:inuse_objects:count:inuse_space:bytes"} == set(stored)
    # A client's wall clock is its own type, never CPU time.
    assert total(client, "cpu{}") == 0
    assert total(client, wall_id + "{}") == own_totals(wall_msgs)["wall"]
    assert top(client, wall_id + "{}")[0]["name"] == own_top(wall_msgs, "wall")
    # In-use memory is a state: over several profiles, their average, not their sum.
    assert total(client, heap_id + "{}") == pytest.approx(
        own_totals(heap_msgs)["inuse_space"] / len(heap_msgs), rel=1e-6)
    # the client names functions `./app.js:allocateObjects:7`
    heap_top = [r for r in top(client, heap_id + "{}") if ":allocateObjects:" in r["name"]]
    assert heap_top and heap_top[0]["total"] > 0
    assert render(client, heap_id + "{}")["metadata"]["units"] == "bytes"
    # Counts of the wall profile are its samples.
    tl = client.get(f"/api/v1/timeline?query={quote(wall_id + '{}')}&from=now-1h"
                    "&until=now%2B1h").get_json()
    assert tl["units"] == "nanoseconds"
    assert sum(v for _t, v in tl["points"]) == own_totals(wall_msgs)["wall"]


def test_node_labels_and_time(client, node_pushes):
    path, headers, body = node_pushes[0]
    r = client.post(path, data=body, headers={"Content-Type": headers["content-type"]})
    assert r.status_code == 200
    vals = client.get("/api/v1/labels/service_name/values?from=now-1h").get_json()["values"]
    assert vals == ["nodeapp"]
    assert abs(own(body).time_nanos - time.time_ns()) < 600 * 10**9


# ---------------------------------------------------------------------- py-spy

SPIN = """
import time
def spin_here(deadline):
    n = 0
    while time.time() < deadline:
        n += 1
    return n
spin_here(time.time() + 1.5)
"""


def _py_spy(tmp_path: Path, fmt: str) -> Path:
    py_spy = Path(sys.executable).with_name("py-spy")
    if not py_spy.exists():
        pytest.skip("py-spy is not installed")
    script = tmp_path / "spin.py"
    script.write_text(SPIN)
    out = tmp_path / f"out.{fmt}"
    subprocess.run([str(py_spy), "record", "-r", "100", "--format", fmt, "-o", str(out), "--",
                    sys.executable, str(script)], check=True, timeout=60, capture_output=True)
    return out


def test_py_spy_raw_and_speedscope(client, tmp_path):
    """py-spy's own files: counts at its rate, and speedscope weights in seconds."""
    raw = _py_spy(tmp_path, "raw").read_text()
    counts = Counter()
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if stack.strip():
            counts[stack.split(";")[-1].split(" (")[0]] += int(n)
    r = client.post("/ingest?name=pyapp.cpu&sampleRate=100&format=folded", data=raw)
    assert r.status_code == 200, r.data
    assert total(client, 'cpu{service_name="pyapp"}') == sum(counts.values()) * 10**7
    assert top(client, 'cpu{service_name="pyapp"}')[0]["name"].startswith(
        counts.most_common(1)[0][0])

    doc = _py_spy(tmp_path, "speedscope").read_text()
    # py-spy writes a sample without frames now and then (no Python frame yet):
    # nothing to attribute it to, so it is not stored.
    seconds = sum(w for p in json.loads(doc)["profiles"]
                  for stack, w in zip(p["samples"], p["weights"], strict=True) if stack)
    r = client.post("/ingest?name=pyspeed&format=speedscope", data=doc)
    assert r.status_code == 200, r.data
    assert total(client, 'cpu{service_name="pyspeed"}') == pytest.approx(seconds * 1e9, rel=1e-6)


# --------------------------------------------------- client quirks, as Pyroscope reads them
# No .NET runtime or pyroscope-rs build of the old py-spy integration runs
# here, so these profiles are built with the protobuf messages in the shapes
# those clients write (a line naming a function the profile lacks; a period
# in milliseconds; names that are not UTF-8).


def _quirky(period_unit: str = "milliseconds", missing_function: bool = False,
            bad_utf8: bool = False) -> bytes:
    p = profile_pb2.Profile()
    strings = ["", "samples", "count", "cpu", period_unit, "main", "work\u00e9", "/app.py"]
    p.sample_type.add(type=1, unit=2)
    p.period_type.type, p.period_type.unit, p.period = 3, 4, 10
    p.function.add(id=1, name=5, filename=7)
    p.function.add(id=2, name=6, filename=7)
    p.location.add(id=1, address=0x1000).line.add(function_id=1, line=1)
    p.location.add(id=41, address=0x2a2a).line.add(function_id=99 if missing_function else 2,
                                                   line=2)
    p.sample.add(location_id=[41, 1], value=[781])
    p.sample.add(location_id=[1], value=[19])
    p.time_nanos = time.time_ns()
    p.string_table.extend(strings)
    raw = p.SerializeToString()
    if bad_utf8:
        raw = raw.replace("work\u00e9".encode(), b"work\xff\xfe")
    return raw


def _decode_both(data: bytes, monkeypatch) -> dict[str, list[tuple]]:
    """Both decode paths (C scan and protobuf), equal; kind -> sorted (names, value, count)."""
    fast = fast_rows(fast_decode(data, monkeypatch, True))
    assert fast == fast_rows(fast_decode(data, monkeypatch, False))
    return {kind: sorted((tuple(f.name for f in row[1]), row[2], row[3])
                         for row in counter.elements())
            for (kind, _tags), counter in fast.items()}


def test_period_in_milliseconds_is_converted(client, monkeypatch):
    """py-spy through pyroscope-rs: samples/count, period 10 ms: 781 samples are 7.81 s."""
    got = _decode_both(_quirky(), monkeypatch)
    assert got == {"cpu": [(("main",), 19 * 10**7, 19),
                           (("main", "work\u00e9"), 781 * 10**7, 781)]}
    push(client, "process_cpu", "pyspy", _quirky())
    assert total(client, "cpu{}") == 800 * 10**7
    push(client, "process_cpu", "pyspy-us", _quirky("microseconds"))
    assert total(client, 'cpu{service_name="pyspy-us"}') == 800 * 10**4


def test_missing_function_is_an_unnamed_frame(client, monkeypatch):
    """.NET clients write lines naming functions the profile lacks: kept, with the address."""
    got = _decode_both(_quirky(missing_function=True), monkeypatch)
    assert (("main", "[unknown] 0x2a2a"), 781 * 10**7, 781) in got["cpu"]
    push(client, "process_cpu", "dotnet", _quirky(missing_function=True))
    assert {r["name"] for r in top(client, "cpu{}")} == {"main", "[unknown] 0x2a2a"}


def test_bad_utf8_is_replaced(client, monkeypatch):
    got = _decode_both(_quirky(bad_utf8=True), monkeypatch)
    assert (("main", "work\ufffd\ufffd"), 781 * 10**7, 781) in got["cpu"]
    push(client, "process_cpu", "latin1", _quirky(bad_utf8=True))
    assert total(client, "cpu{}") == 800 * 10**7
