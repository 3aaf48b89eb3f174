"""Known-answer traced app: Flask on waitress (threaded), the real OTel SDK with
Flask instrumentation and the OTLP/HTTP exporter (OTEL_EXPORTER_OTLP_ENDPOINT),
plus flamecam_otel. Prints "ready PORT" when serving. With
TRACE_APP_PROFILER=pyroscope it uses the SDK path instead: the real
pyroscope-io client (PYROSCOPE_SERVER_ADDRESS) with pyroscope-otel's span
processor, which labels the samples of each root span's thread.

/slow: ~30 ms CPU in slow_path, ~50 ms blocked on a threading.Lock a
background thread holds, then ~2 ms on the run queue (the holder, real-time
when root, keeps the woken handler's CPU busy: runq_ms), 20 ms asleep (`nap`),
~20 ms CPU in pool_work on a ThreadPoolExecutor worker (context propagated),
which releases the lock the handler waits on. /fast: ~5 ms CPU in fast_path.
CPU amounts are measured thread CPU time (handler_cpu_ms: all the handler
burnt), so load does not change them; each response reports what was measured and the ids, as JSON.
The blocked times (lock_ms, pool_wait_ms) run until the other thread let go
(the holder's release, the worker's), which GIL contention can delay past 50
and 20 ms; the GIL wait after the wake-up is not in them (Flamecam calls it
"gil").

The GIL switch interval is long (SWITCH_INTERVAL_S): a thread running Python
keeps the GIL until it blocks, as no thread here runs Python for anywhere near
that long. So slow_path's and pool_work's CPU runs in one go while concurrent
fast requests wait (their wait is theirs), and no forced switch falls between
a timestamp and the lock operation after it. With the default 5 ms, two
clients sending /fast back to back took the GIL from slow_path every 5 ms:
~20 ms of GIL waits inside its 30 ms of CPU, more than its own time, which is
not the known answer (slow requests spend their extra time in slow_path and on
the lock).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import heapq
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "otel-addon" / "src"))

import flamecam_otel  # noqa: E402
import waitress  # noqa: E402
from flask import Flask, jsonify  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.instrumentation.flask import FlaskInstrumentor  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402

provider = TracerProvider(resource=Resource.create({
    "service.name": os.environ.get("OTEL_SERVICE_NAME", "trace-app"),
    "process.pid": os.getpid()}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)
if os.environ.get("TRACE_APP_PROFILER") == "pyroscope":
    import pyroscope
    from pyroscope.otel import PyroscopeSpanProcessor

    pyroscope.configure(application_name=provider.resource.attributes["service.name"],
                        server_address=os.environ["PYROSCOPE_SERVER_ADDRESS"],
                        sample_rate=int(os.environ.get("PYROSCOPE_SAMPLE_RATE", "100")),
                        upload_interval=1)
    provider.add_span_processor(PyroscopeSpanProcessor())
else:
    flamecam_otel.instrument()
app = Flask(__name__)
FlaskInstrumentor().instrument_app(app)
pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pool")
releases: queue.Queue = queue.Queue()
SWITCH_INTERVAL_S = 0.1  # see the module's docstring
sys.setswitchinterval(SWITCH_INTERVAL_S)


RUNQ_MS = 2.0  # the lock holder's busy time on the CPU of the request it woke


@contextlib.contextmanager
def realtime_on(cpu: int) -> Iterator[bool]:
    """The calling thread on `cpu` alone, as a real-time (SCHED_FIFO) thread
    when allowed (root): a normal thread woken on that CPU meanwhile waits on
    its run queue however the scheduler weighs wakeups. Yields whether it is
    real-time; restores the thread's CPUs and policy after."""
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        realtime = True
    except OSError:
        realtime = False
    try:
        yield realtime
    finally:
        if realtime:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        os.sched_setaffinity(0, cpus)


# libc through PyDLL: its calls keep the GIL (a file read of /proc would give
# it up, and a waiting fast request would take it for its whole run).
_libc = ctypes.PyDLL(None)


def current_cpu() -> int:
    """The CPU the calling thread runs on (sched_getcpu)."""
    return _libc.sched_getcpu()


# libc through CDLL: its calls let go of the GIL, as time.sleep does.
_libc_nogil = ctypes.CDLL(None, use_errno=True)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def nap(seconds: float) -> None:
    """Asleep in the kernel for `seconds`, counted from the system call
    (nanosleep is relative). time.sleep is not: it fixes an absolute deadline
    before it lets go of the GIL, and the fast request woken by that release
    can take the CPU first; a 3.7 ms run-queue wait there left 16.4 ms of the
    20 asleep (Flamecam right: runqueue, then sleep), and the known answer
    wrong."""
    left = _Timespec(int(seconds), round(seconds % 1 * 1e9))
    while _libc_nogil.nanosleep(ctypes.byref(left), ctypes.byref(left)) != 0:
        if ctypes.get_errno() != errno.EINTR:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


def lock_holder() -> None:
    """Releases each handed-over lock when its time comes (holds overlap), on
    the CPU the blocked request is pinned to, and then keeps that CPU busy for
    RUNQ_MS: the woken request waits that long on the run queue, the known
    run-queue delay of a slow request. `released` gets the release's time and
    the end of that delay (equal when not allowed real-time)."""
    due: list[tuple[float, int, threading.Lock, list[float], int]] = []
    n = 0
    while True:
        timeout = max(0.0, due[0][0] - time.monotonic()) if due else None
        try:
            at, lock, released, cpu = releases.get(timeout=timeout)
            heapq.heappush(due, (at, n, lock, released, cpu))
            n += 1
        except queue.Empty:
            pass
        while due and due[0][0] <= time.monotonic():
            _, _, lock, released, cpu = heapq.heappop(due)
            with realtime_on(cpu) as realtime:
                released.append(time.monotonic())
                lock.release()
                end = time.thread_time() + RUNQ_MS / 1000
                while realtime and time.thread_time() < end:
                    pass
                released.append(time.monotonic())


threading.Thread(target=lock_holder, name="lock-holder", daemon=True).start()


# slow_path, pool_work and fast_path each burn in their own body, not through a
# shared helper: the known answers (and the slow-vs-fast table, ranked by own
# time) name each as the leaf that spent the CPU.
def slow_path() -> float:
    t0 = time.thread_time()
    end = t0 + 0.030
    while time.thread_time() < end:
        sum(i * i for i in range(300))
    return (time.thread_time() - t0) * 1000


def pool_work(done: threading.Lock, work: dict) -> None:
    """Burns ~20 ms and then releases `done` itself, its last act: the handler
    blocked on `done` waits on this one lock until then. (A future's result()
    also waits, after that, for the worker to leave the future's condition; a
    worker that lost the GIL in between kept the woken handler blocked on a
    second lock for 12 ms under load, which no timestamp of the app saw.)"""
    t0 = time.thread_time()
    try:
        end = t0 + 0.020
        while time.thread_time() < end:
            sum(i * i for i in range(300))
        work["tid"] = threading.get_native_id()
    finally:
        work["cpu_ms"] = (time.thread_time() - t0) * 1000
        work["end"] = time.monotonic()
        done.release()


def fast_path() -> float:
    t0 = time.thread_time()
    end = t0 + 0.005
    while time.thread_time() < end:
        sum(i * i for i in range(300))
    return (time.thread_time() - t0) * 1000


def ids() -> dict:
    sc = trace.get_current_span().get_span_context()
    return {"trace_id": f"{sc.trace_id:032x}", "span_id": f"{sc.span_id:016x}",
            "pid": os.getpid(), "tid": threading.get_native_id()}


@app.get("/slow")
def slow():
    c0 = time.thread_time()
    out = ids()
    out["slow_path_cpu_ms"] = slow_path()
    lock = threading.Lock()
    lock.acquire()
    released: list[float] = []
    # Pinned to its CPU while blocked (no move: the CPU it runs on), woken
    # there, behind the lock holder.
    cpus = os.sched_getaffinity(0)
    cpu = current_cpu()
    os.sched_setaffinity(0, {cpu})
    releases.put((time.monotonic() + 0.050, lock, released, cpu))  # released in 50 ms
    t0 = time.monotonic()
    lock.acquire()
    os.sched_setaffinity(0, cpus)
    out["lock_ms"] = (released[0] - t0) * 1000
    out["runq_ms"], out["runq_cpu"] = (released[1] - released[0]) * 1000, cpu
    t0 = time.monotonic()
    nap(0.020)
    out["sleep_ms"] = (time.monotonic() - t0) * 1000
    done = threading.Lock()
    done.acquire()
    work: dict = {}
    pool.submit(pool_work, done, work)
    t0 = time.monotonic()
    done.acquire()  # the handler waits on a lock meanwhile, until the worker's release
    out["pool_wait_ms"] = (work["end"] - t0) * 1000
    out["pool_cpu_ms"], out["pool_tid"] = work["cpu_ms"], work["tid"]
    # All the handler burnt, not only slow_path: the first requests also start
    # pool workers (5 ms of the handler's CPU once under load).
    out["handler_cpu_ms"] = (time.thread_time() - c0) * 1000
    return jsonify(out)


@app.get("/fast")
def fast():
    out = ids()
    out["fast_path_cpu_ms"] = fast_path()
    return jsonify(out)


def main() -> None:
    server = waitress.create_server(app, host="127.0.0.1", port=int(os.environ.get("PORT", 0)),
                                    threads=8)
    # The pool's worker starts now, not inside the first /slow: its start made
    # that handler wait on the new thread's start-up (a lock, ~4 ms under two
    # spinners) and run its first context attach, which no figure of the app
    # measured. The agent still meets the first request first.
    pool.submit(int).result()
    print("ready", server.effective_port, flush=True)
    try:
        server.run()
    finally:
        provider.shutdown()


if __name__ == "__main__":
    main()
