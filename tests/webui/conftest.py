"""Fixtures for the web UI tests: a real server, filled by the real agent
profiling a known workload, and headless Chromium driven by Playwright.

The workload (tests/workloads/threads.c) runs twice, as releases 1.0 and 2.0 of the service
`webui-demo`; 2.0 spends more in `burn_b`. The agent labels them from their
OTEL_* environment. If eBPF cannot be loaded here (not root, no BPF), the
same shape of samples is pushed through the agent ingest endpoint instead
and the tests say so in their output.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM
from tests.otel.conftest import otel_venvs  # noqa: F401
from tests.runtimes.conftest import wait_for_line
from tests.traces.test_known_answer import APP, Agent, drive, settled
from tests.traces.test_known_answer import SERVICE as TRACE_SERVICE
from tests.workloads import Workload as BaseWorkload
from tests.workloads import compile_c, die_with_pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ARTIFACTS = ROOT / "test-artifacts" / "webui"
SERVICE = "webui-demo"
XSS_SERVICE = "webui-xss"
XSS_NAME = "<img src=x onerror=alert(1)>"
PROFILE_SECONDS = float(os.environ.get("FLAMECAM_WEBUI_PROFILE_SECONDS", "12"))
VERSIONS = {"1.0": "3", "2.0": "12"}  # release -> burn_b units (burn_a is 7)
MANY_SERVICE = "webui-many"  # tests/workloads/idlers.c: more threads than a screen shows
MANY_THREADS = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url: str, timeout: float = 10) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def http_post(url: str, body: bytes, content_type: str, encoding: str = "") -> int:
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status


def _checkout_env(tree: Path = ROOT) -> dict[str, str]:
    """This checkout (or `tree`, another one) first on the path: an older
    editable install may predate some of its packages (webui/, symbolizer/)."""
    path = os.pathsep.join(p for p in (str(tree), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path)


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log: Path

    def api(self, path: str, **params: str) -> dict:
        return http_json(f"{self.url}{path}?{urllib.parse.urlencode(params)}")


def start_server(work: Path, log: Path, *extra: str, tree: Path = ROOT) -> Server:
    """`flamecam server` (python -m profiler.server) on a fresh SQLite file in
    `work`, from this checkout or `tree` (a benchmark's before/after run)."""
    port = _free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "profiler.server", "--host", "127.0.0.1", "--port", str(port),
             "--db", f"sqlite:///{work}/flamecam.db", *extra],
            cwd=work, stdout=out, stderr=subprocess.STDOUT,
            env=_checkout_env(tree),
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            http_json(url + "/healthz", timeout=2)
            return Server(url, proc, log)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("flamecam server did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.3)


def stop_server(server: Server, page=None) -> None:
    """Stop a server a test started; `page` (showing that server) leaves the
    app first: a view still loading would log the refused or reset connection
    as a page error at the page's teardown."""
    if page is not None:
        page.goto("about:blank")
    server.proc.terminate()
    try:
        server.proc.wait(15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian's chromium is needed: apt-get install chromium")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    srv = start_server(tmp_path_factory.mktemp("server"), ARTIFACTS / "server.log")
    yield srv
    stop_server(srv)


class Workload(BaseWorkload):
    """One release of the workload, labelled through its environment."""

    def __init__(self, exe: Path, version: str, b_units: str):
        env = dict(os.environ, OTEL_SERVICE_NAME=SERVICE,
                   OTEL_RESOURCE_ATTRIBUTES=f"service.version={version},deployment.environment=test")
        self.version = version
        super().__init__(exe, "0", b_units, env=env)

    def threads(self) -> dict[str, int]:
        return self.tids()


@dataclass
class Profiled:
    mode: str
    workloads: list[Workload] = field(default_factory=list)
    threads: dict[str, int] = field(default_factory=dict)
    many: dict[str, int] = field(default_factory=dict)  # the idlers' threads (none: synthetic)


def _agent_cli_help() -> str:
    r = subprocess.run([sys.executable, "-m", "profiler.cli", "agent", "--help"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60, env=_checkout_env())
    return r.stdout if r.returncode == 0 else ""


def _run_agent_cli(url: str, pids: list[int], help_text: str, work: Path) -> None:
    """`flamecam agent --server URL` for PROFILE_SECONDS, then SIGINT (it drains)."""
    args = [sys.executable, "-m", "profiler.cli", "agent", "--server", url]
    if "--pid" in help_text:
        for pid in pids:
            args += ["--pid", str(pid)]
    if "--frequency" in help_text:
        args += ["--frequency", "49"]
    if "--interval" in help_text:
        args += ["--interval", "3"]
    if "--spool-dir" in help_text:
        args += ["--spool-dir", str(work / "spool")]
    if "--metrics-port" in help_text:
        args += ["--metrics-port", "0"]
    log = ARTIFACTS / "agent.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, cwd=work, stdout=out, stderr=subprocess.STDOUT,
                                env=_checkout_env())
    # Loading the eBPF programs takes a while on a busy machine: profile for
    # PROFILE_SECONDS from the moment the agent says it is sampling.
    deadline = time.monotonic() + 180
    while "shipping to" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"flamecam agent did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    time.sleep(PROFILE_SECONDS)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.returncode not in (0, -signal.SIGINT, 130):
        raise RuntimeError(f"flamecam agent failed ({proc.returncode}):\n{log.read_text()[-3000:]}")


def _run_agent_in_process(url: str, pids: list[int], work: Path) -> None:
    """The agent's loop (`run_agent`) over the real Recorder, for these pids."""
    from profiler.agent.run import AgentOptions, run_agent
    from profiler.recorder import Recorder
    from profiler.sampler.options import SamplerOptions

    stop = threading.Event()
    with Recorder(SamplerOptions(pids=pids, hz=49)) as rec:
        timer = threading.Timer(PROFILE_SECONDS, stop.set)
        timer.start()
        try:
            run_agent(url, rec, AgentOptions(interval_s=3, spool_dir=str(work / "spool"),
                                             metrics_port=None, drain_on_stop_s=20), stop)
        finally:
            timer.cancel()


def _push_synthetic(url: str, workloads: list[Workload]) -> None:
    """Samples shaped like the workload, through POST /api/v1/agent/push."""
    from profiler.agent.batch import encode_batch
    from profiler.model import Frame, Sample

    def f(name: str, kind: str = "native") -> Frame:
        return Frame(name, kind, module="workload")

    base = (f("_start"), f("__libc_start_call_main"), f("start_thread"))
    now = time.time_ns() - int(PROFILE_SECONDS * 1e9)
    samples = []
    for w in workloads:
        tids = w.threads()
        b = int(VERSIONS[w.version])
        for k in range(int(PROFILE_SECONDS * 49)):
            ts = now + k * 20_408_163
            leaf = "burn_a" if (k % (7 + b)) < 7 else "burn_b"
            samples.append(Sample("cpu", ts, w.pid, tids["burner"], 0, "workload", "burner",
                                  base + (f("burner"), f("work"), f(leaf)), 20_408_163,
                                  labels={"service.version": w.version}))
            if k % 3 == 0:
                samples.append(Sample("offcpu", ts, w.pid, tids["sleeper"], 0, "workload",
                                      "sleeper", base + (f("sleeper"), f("nap"),
                                                         f("clock_nanosleep"),
                                                         f("do_nanosleep", "kernel")),
                                      50_000_000, reason="sleep"))
                samples.append(Sample("offcpu", ts, w.pid, tids["waiter"], 1, "workload",
                                      "waiter", base + (f("waiter"), f("wait_for_lock"),
                                                        f("futex_wait", "kernel")),
                                      20_000_000, reason="lock"))
                samples.append(Sample("cpu", ts, w.pid, tids["holder"], 1, "workload", "holder",
                                      base + (f("holder"), f("nanosleep")), 20_408_163))
        labels = {"service_name": SERVICE, "service_version": w.version, "host": "synthetic"}
        body = encode_batch(samples, lambda s, labels=labels: labels, agent_id="webui-test",
                            seq=int(time.time() * 1e6))
        http_post(url + "/api/v1/agent/push", body, "application/x-flamecam-batch", "zstd")
        samples = []


def _wait_for_data(server: Server, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    versions: list[str] = []
    while time.monotonic() < deadline:
        versions = server.api("/api/v1/labels/service_version/values", **{
            "from": "now-1h", "until": "now", "query": f'cpu{{service_name="{SERVICE}"}}'
        }).get("values", [])
        top = server.api("/api/v1/top", query=f'cpu{{service_name="{SERVICE}"}}',
                         **{"from": "now-1h", "until": "now"})
        names = {r["name"] for r in top.get("functions", [])}
        if {"1.0", "2.0"} <= set(versions) and {"burn_a", "burn_b"} <= names:
            return
        time.sleep(1)
    raise AssertionError(f"profiles of {SERVICE} never showed up (versions {versions})")


@pytest.fixture(scope="session")
def profiled(server: Server, tmp_path_factory) -> Profiled:
    """The workload's two releases, profiled and uploaded; plus the XSS frame."""
    work = tmp_path_factory.mktemp("agent")
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the workload: apt-get install gcc")
    exe = compile_c("threads.c", work, name="workload")
    workloads = [Workload(exe, v, units) for v, units in VERSIONS.items()]
    result = Profiled(mode="", workloads=workloads, threads=workloads[0].threads())
    others: list[BaseWorkload] = []
    try:
        mode = os.environ.get("FLAMECAM_WEBUI_AGENT", "auto")
        help_text = _agent_cli_help() if mode in ("auto", "cli") else ""
        pids = [w.pid for w in workloads]
        if mode != "synthetic" and (help_text or os.geteuid() == 0):
            # MANY_THREADS threads asleep a second at a time, as another service
            idlers = BaseWorkload(compile_c("idlers.c", work), str(MANY_THREADS), "1000",
                                  env=dict(os.environ, OTEL_SERVICE_NAME=MANY_SERVICE))
            others.append(idlers)
            pids.append(idlers.pid)
            result.many = {k: v for k, v in idlers.tids().items() if k.startswith("idle-")}
        if help_text:
            result.mode = "flamecam agent (CLI)"
            _run_agent_cli(server.url, pids, help_text, work)
        elif mode != "synthetic" and os.geteuid() == 0:
            result.mode = "run_agent + Recorder (in process)"
            _run_agent_in_process(server.url, pids, work)
        else:
            result.mode = "synthetic samples via /api/v1/agent/push (no eBPF here)"
            _push_synthetic(server.url, workloads)
        print(f"\nwebui tests: data from {result.mode}")
        folded = f"main;render_page;{XSS_NAME} 250\nmain;render_page;safe_leaf 50\n"
        name = f"{XSS_SERVICE}.cpu{{env=test}}"
        query = urllib.parse.urlencode({"name": name, "format": "folded"})
        http_post(f"{server.url}/ingest?{query}", folded.encode(), "text/plain")
        _wait_for_data(server)
    finally:
        # Recorded and stored: the busy workloads stop here, so that they do not
        # load the machine under every later test of the session.
        for w in [*workloads, *others]:
            w.stop()
    yield result


@pytest.fixture
def page(browser, server):
    """A fresh 1280x800 page; fails the test on any script error or dialog."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    server_errors: list[str] = []

    def on_console(message):
        if message.type != "error":
            return
        if "status of 5" in message.text:
            # the page retries a failed GET once; content checks catch the rest
            server_errors.append(message.text)
        else:
            problems.append(f"console: {message.text}")

    pg.on("console", on_console)
    pg.on("response", lambda r: r.status >= 500 and server_errors.append(f"{r.status} {r.url}"))

    def on_dialog(dialog):
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    pg.on("dialog", on_dialog)
    pg.problems = problems
    yield pg
    context.close()
    if server_errors:
        print(f"\nwebui tests: server errors the page retried: {server_errors}")
    assert not problems, problems


def open_app(page, url: str) -> None:
    """Go to `url` and wait until the page's app has started.

    app.js awaits the server's vocabulary at its top level before it builds the
    app, and the browser's load event does not wait for a module's top-level
    await: when page.goto returns, window.flamecam may not exist yet.
    """
    page.goto(url)
    page.wait_for_function("() => window.flamecam !== undefined")


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def longest_interval(page, tracks: str, tid: int, reason: str) -> dict | None:
    """The longest off-CPU interval of `reason` on thread `tid` in the thread
    tracks at JS expression `tracks`: its length (ms) and the client
    coordinates of its middle, with the page scrolled to show it."""
    return page.evaluate(f"""([tid, reason]) => {{
        const tr = {tracks};
        const ti = tr.tracks.findIndex((t) => t.thread.tid === tid);
        if (ti < 0) return null;
        const t = tr.tracks[ti];
        const row = t.rows[1];
        let best = -1;
        for (let k = 0; k < row.n; k++) {{
            if (t.src.reasons[row.code[k]] !== reason) continue;
            if (best < 0 || row.end[k] - row.start[k] > row.end[best] - row.start[best]) best = k;
        }}
        if (best < 0) return null;
        const g = tr.geometry();
        // Scrolled into view first, as a user scrolls to a track to point at it.
        const rowTop = () => tr.canvas.getBoundingClientRect().top + tr.trackY(ti) + tr.rowY(1);
        const out = rowTop() < 0 || rowTop() + 12 > window.innerHeight;
        if (out) window.scrollBy(0, rowTop() - window.innerHeight / 2);
        const r = tr.canvas.getBoundingClientRect();
        const mid = Math.max(tr.lo, Math.min(tr.hi, (row.start[best] + row.end[best]) / 2));
        return {{ ms: row.end[best] - row.start[best],
                  x: r.left + (r.width - g.plotW) + (mid - tr.lo) * g.k,
                  y: r.top + tr.trackY(ti) + tr.rowY(1) + 6 }};
    }}""", [tid, reason])


@dataclass
class Traced:
    """The known-answer app's requests as its traces reached a server: `slow` and
    `fast` are the app's own reports of each request, `views` the settled trace
    views of the slow ones, `slowest` the slowest slow request that came whole
    (with its lock wait), `first` the fast request sent before them all."""

    url: str
    slow: list[dict]
    fast: list[dict]
    views: dict[str, dict]
    slowest: dict
    first: dict  # the fast request sent before the others (it registers the app's table)


@pytest.fixture(scope="module")
def traced(request, tmp_path_factory, otel_venvs) -> Traced:  # noqa: F811
    """A fresh server holding the traces of the known-answer Flask app
    (tests/workloads/trace_app.py: OpenTelemetry SDK, OTLP/HTTP exporter,
    flamecam_otel) profiled by the real agent: the module's `SLOW_REQUESTS`
    slow requests (default 3) amid concurrent fast ones, after one fast
    request that registers the app's table. Every slow trace has settled (its
    thread spans, samples and blocks are in), the process's other threads'
    blocks too; the app and the agent are stopped before the tests run. The
    server's log goes to the module's `SHOTS` folder."""
    if os.geteuid() != 0:
        pytest.skip("loading eBPF programs needs root")
    work = tmp_path_factory.mktemp("traced")
    shots = getattr(request.module, "SHOTS", work)
    shots.mkdir(parents=True, exist_ok=True)
    srv = start_server(work, shots / "server.log")
    venv = otel_venvs("3.12")
    agent = None
    try:
        with open(work / "app.log", "wb") as log:
            app = subprocess.Popen(
                [str(venv / "bin" / "python"), str(APP)], stdout=subprocess.PIPE, stderr=log,
                start_new_session=True, preexec_fn=die_with_pytest,
                env={"PATH": "/usr/bin:/bin", "OTEL_SERVICE_NAME": TRACE_SERVICE,
                     "OTEL_EXPORTER_OTLP_ENDPOINT": srv.url, "OTEL_BSP_SCHEDULE_DELAY": "500"})
        try:
            port = int(wait_for_line(app, "ready", timeout=60).split()[1])
            first = json.loads(
                urllib.request.urlopen(f"http://127.0.0.1:{port}/fast", timeout=10).read())
            agent = Agent(srv.url, app.pid, work / "spool")
            agent.wait_started(180)
            slow, fast = drive(port, slow=getattr(request.module, "SLOW_REQUESTS", 3))
            views = {}
            for body in slow:
                views[body["trace_id"]] = settled(srv.url, body)
                assert views[body["trace_id"]] is not None, \
                    f"trace {body['trace_id']} never came whole"
            # a few seconds more: the other threads' blocks ride in later batches
            time.sleep(3)
        finally:
            if agent is not None:
                agent.stop()
            try:
                os.killpg(app.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            app.wait(10)
            app.stdout.close()
        whole = [s for s in slow if views[s["trace_id"]]["breakdown"].get("lock")]
        assert whole, f"no slow trace came whole: {views}"
        slowest = max(whole, key=lambda s: next(sp["duration_ms"] for sp in
                                                views[s["trace_id"]]["spans"]
                                                if not sp["parent_id"]))
        yield Traced(srv.url, slow, fast, views, slowest, first)
    finally:
        stop_server(srv)
