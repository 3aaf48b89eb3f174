"""An app with spans on several threads and a thread pool, for tests/otel.

    python threads_app.py code|auto|context

code: flamecam_otel.instrument() and ThreadingInstrumentor in code; auto: run
under `opentelemetry-instrument`, no Flamecam code here; context: started with
OTEL_PYTHON_CONTEXT=flamecam, ThreadingInstrumentor in code.

Reports on stdout, one JSON line per phase, what it did (thread ids, span ids,
CLOCK_MONOTONIC times around the work); the test compares that with the table
it reads from outside. Commands on stdin: release, async, fork, exit.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

MODE = sys.argv[1]
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
if MODE in ("code", "context"):
    from opentelemetry.instrumentation.threading import ThreadingInstrumentor

    ThreadingInstrumentor().instrument()
if MODE == "code":
    import flamecam_otel

    flamecam_otel.instrument()
tracer = trace.get_tracer("threads_app")


def ids(span: trace.Span | None = None) -> dict:
    sc = (span or trace.get_current_span()).get_span_context()
    return {"tid": threading.get_native_id(), "trace": f"{sc.trace_id:032x}",
            "span": f"{sc.span_id:016x}"}


def say(tag: str, payload: object) -> None:
    print(tag, json.dumps(payload), flush=True)


def command() -> str:
    return sys.stdin.readline().strip()


def busy(ms: float) -> None:
    end = time.thread_time() + ms / 1000
    while time.thread_time() < end:
        sum(range(200))


release = threading.Event()
held: dict[str, dict] = {}
lock = threading.Lock()


def hold(name: str) -> None:
    with lock:
        held[name] = ids()
    release.wait()


def t1_body() -> None:  # started inside "main": ThreadingInstrumentor carries main's context
    with tracer.start_as_current_span("t1"):
        hold("t1")


def t2_body() -> None:  # started outside any span
    with tracer.start_as_current_span("t2"):
        hold("t2")


def no_otel() -> None:
    with lock:
        held["plain"] = {"tid": threading.get_native_id()}
    release.wait()


def task(i: int) -> dict:
    t0 = time.monotonic_ns()
    with tracer.start_as_current_span(f"work-{i}") as span:
        busy(5)
    t1 = time.monotonic_ns()
    return {"i": i, "tid": threading.get_native_id(), "t0": t0, "t1": t1,
            "work": ids(span)["span"]}


def phase_hold(pool: ThreadPoolExecutor) -> list[threading.Thread]:
    threads = [threading.Thread(target=t2_body, name="t2"),
               threading.Thread(target=no_otel, name="plain")]
    for t in threads:
        t.start()
    with tracer.start_as_current_span("main"):
        threads.append(threading.Thread(target=t1_body, name="t1"))
        threads[-1].start()
        held_by_pool = pool.submit(hold, "pool")  # the worker serves "main" while it holds
        held_main = ids()
        while True:
            with lock:
                if len(held) == 4:
                    break
            time.sleep(0.005)
        held["main"] = held_main
        say("holding", held)
        assert command() == "release"
        release.set()
        for t in threads:
            t.join()
        held_by_pool.result()
    return threads


def phase_pool(pool: ThreadPoolExecutor) -> list[dict]:
    results = []
    for i in range(3):
        with tracer.start_as_current_span(f"req-{i}") as req:
            submitted = time.monotonic_ns()
            out = pool.submit(task, i).result()
            out.update(req=ids(req)["span"], submitted=submitted, returned=time.monotonic_ns())
            results.append(out)
    return results


def finished_spans() -> list[dict]:
    out = []
    for s in exporter.get_finished_spans():
        parent = s.parent
        out.append({"name": s.name, "trace": f"{s.context.trace_id:032x}",
                    "span": f"{s.context.span_id:016x}",
                    "parent": f"{parent.span_id:016x}" if parent else None,
                    "start": s.start_time, "end": s.end_time})
    return out


async def phase_async() -> list[dict]:
    async def request(i: int) -> dict:
        with tracer.start_as_current_span(f"async-{i}") as span:
            await asyncio.sleep(0.01)
            return ids(span)

    return list(await asyncio.gather(*(request(i) for i in range(3))))


def phase_fork() -> None:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        with tracer.start_as_current_span("in-child"):
            os.write(w, json.dumps({"pid": os.getpid(), **ids()}).encode() + b"\n")
            time.sleep(600)  # the test reads this process's table, then kills it
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        child = json.loads(f.readline())
    say("forked", child)


def main() -> None:
    say("ready", {"pid": os.getpid()})
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pool") as pool:
        if MODE == "context":
            # Without flamecam_otel.instrument(), ThreadingInstrumentor gives a
            # pool thread the context current when it starts, for life: start
            # it before any span, as the README advises.
            pool.submit(int).result()
        phase_hold(pool)
        tasks = phase_pool(pool)
    say("done", {"tasks": tasks, "spans": finished_spans(), "main_tid": threading.get_native_id()})
    while (cmd := command()) != "exit":
        if cmd == "async":
            say("async", asyncio.run(phase_async()))
        elif cmd == "fork":
            phase_fork()


if __name__ == "__main__":
    main()
