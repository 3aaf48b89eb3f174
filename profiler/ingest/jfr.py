"""JFR (Java Flight Recorder) files, as Pyroscope's Java client pushes them.

Read with the JDK's own `jdk.jfr.consumer` API through JPype rather than a
parser of our own: the format changes with each JDK. The JVM starts in this
process the first time a JFR arrives (never before), and stays. Each event
kind becomes its profile type:

- `jdk.ExecutionSample`: on-CPU time (`cpu`), each sample worth the
  recording's ExecutionSample period;
- `jdk.ObjectAllocationInNewTLAB` / `...OutsideTLAB`: allocations
  (`alloc_in_new_tlab_*`, `alloc_outside_tlab_*`: objects and bytes);
- `jdk.ObjectAllocationSample`: bytes allocated, as weighted (`alloc_space`);
- `jdk.JavaMonitorEnter`, `jdk.ThreadPark`: lock contentions and time
  (`lock_count`, `lock_time`);
- `profiler.WallClockSample` (async-profiler): the client's wall clock.

The client's dynamic labels (`Pyroscope.LabelsWrapper.run(new LabelsSet(...))`)
come in the multipart `labels` part, a LabelsSnapshot: an event whose
`contextId` field (async-profiler writes it) names a context there is stored
in the series of the push's labels plus that context's. Both parts may be
gzipped (the client's default).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable

from google.protobuf.message import DecodeError

from profiler.formats.proto import jfr_labels_pb2
from profiler.ingest.labels import validate_labels
from profiler.model import CPU, Frame, Sample, type_id
from profiler.store import SeriesBatch
from profiler.web.errors import BadRequest
from profiler.web.limits import Limits, gunzip

_JVM_LOCK = threading.Lock()

_ALLOC = "space", "bytes"
_LOCK = "contentions", "count"
# Event -> [(kind, value of the event)], the value from the event's fields.
_TYPES: dict[str, list[tuple[str, Callable]]] = {
    "jdk.ObjectAllocationInNewTLAB": [
        (type_id("memory", "alloc_in_new_tlab_objects", "count", *_ALLOC), lambda e: 1),
        (type_id("memory", "alloc_in_new_tlab_bytes", "bytes", *_ALLOC),
         lambda e: e.getLong("tlabSize"))],
    "jdk.ObjectAllocationOutsideTLAB": [
        (type_id("memory", "alloc_outside_tlab_objects", "count", *_ALLOC), lambda e: 1),
        (type_id("memory", "alloc_outside_tlab_bytes", "bytes", *_ALLOC),
         lambda e: e.getLong("allocationSize"))],
    "jdk.ObjectAllocationSample": [
        (type_id("memory", "alloc_space", "bytes", *_ALLOC), lambda e: e.getLong("weight"))],
    **dict.fromkeys(("jdk.JavaMonitorEnter", "jdk.ThreadPark"), [
        (type_id("mutex", "lock_count", "count", *_LOCK), lambda e: 1),
        (type_id("mutex", "lock_time", "nanoseconds", *_LOCK),
         lambda e: e.getDuration().toNanos())]),
}
# jdk.NativeMethodSample is not here: it samples threads waiting in native code.
_CPU_EVENTS = ("jdk.ExecutionSample",)
_WALL_EVENT = "profiler.WallClockSample"
_WALL = type_id("wall", "wall", "nanoseconds", "wall", "nanoseconds")
_DEFAULT_PERIOD_NS = 20_000_000  # JFR's default ExecutionSample period
_UNITS_NS = {"ns": 1, "us": 1000, "ms": 1_000_000, "s": 1_000_000_000}


def _jvm():
    """The JVM in this process, started on first use; BadRequest when there is no JDK."""
    try:
        import jpype
        import jpype.imports  # noqa: F401 (makes Java packages importable)
    except ImportError:
        raise BadRequest(501, "reading JFR needs the jpype1 package (pip install jpype1)") from None
    with _JVM_LOCK:
        if not jpype.isJVMStarted():
            try:
                jpype.startJVM(jpype.getDefaultJVMPath(), "-Xmx512m", convertStrings=True)
            except (jpype.JVMNotFoundException, OSError) as e:
                raise BadRequest(501, "reading JFR needs a JDK (apt-get install "
                                 f"openjdk-17-jdk-headless): {str(e).splitlines()[0]}") from None
    return jpype


def _period_ns(value: str) -> int:
    """`10 ms`, `20 ms`, `1 s` as ns; 0 when it is not a period."""
    num, _, unit = str(value).strip().partition(" ")
    try:
        return int(float(num) * _UNITS_NS[unit.strip()])
    except (KeyError, ValueError):
        return 0


def maybe_gunzip(data: bytes | None, limits: Limits) -> bytes:
    """A part as sent, or inflated when gzipped (bounded like any body)."""
    if data and data[:2] == b"\x1f\x8b":
        return gunzip(data, limits.max_decompressed)
    return data or b""


# Context id -> that context's labels (name -> value).
Contexts = dict[int, dict[str, str]]


def context_labels(part: bytes | None, limits: Limits) -> Contexts:
    """The `labels` part (a LabelsSnapshot, maybe gzipped): 400 when it cannot be read."""
    data = maybe_gunzip(part, limits)
    if not data:
        return {}
    snap = jfr_labels_pb2.LabelsSnapshot()
    try:
        snap.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError):
        raise BadRequest(400, "the labels part is not a LabelsSnapshot protobuf") from None
    if len(snap.contexts) > limits.max_series_per_request:
        raise BadRequest(400, f"more than {limits.max_series_per_request} label contexts")
    strings = snap.strings
    out: Contexts = {}
    for cid, ctx in snap.contexts.items():
        pairs = []
        for k, v in ctx.labels.items():
            missing = next((i for i in (k, v) if i not in strings), None)
            if missing is not None:
                raise BadRequest(400, f"labels context {cid} names string {missing}, "
                                 "which the snapshot does not hold")
            pairs.append((strings[k], strings[v]))
        validate_labels(pairs, limits)  # names and values as any label's (400 otherwise)
        out[cid] = {k: v for k, v in pairs if k != "service_name"}
    return out


def jfr_batches(data: bytes, labels: dict[str, str], max_samples: int,
                contexts: Contexts | None = None) -> list[SeriesBatch]:
    """One JFR recording as batches, one per profile type and label set; 422 when unreadable.

    `contexts` are the client's dynamic labels by context id (`context_labels`).
    """
    if not data:
        raise BadRequest(400, "no JFR in the request")
    jpype = _jvm()
    from java.io import IOException  # noqa: PLC0415 (Java packages exist once the JVM runs)
    from java.nio.file import Paths  # noqa: PLC0415
    from jdk.jfr.consumer import RecordingFile  # noqa: PLC0415

    fd, path = tempfile.mkstemp(prefix="flamecam-", suffix=".jfr")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            with RecordingFile(Paths.get(path)) as rec:
                return _read(rec, labels, max_samples, contexts or {})
        except (IOException, jpype.JException) as e:
            raise BadRequest(422, f"unreadable JFR: {str(e.getMessage())[:200]}") from None
    finally:
        os.unlink(path)


def _read(rec, labels: dict[str, str], max_samples: int,
          contexts: Contexts) -> list[SeriesBatch]:
    events = []
    period_of: dict[int, int] = {}
    type_ids: dict[str, int] = {}
    while rec.hasMoreEvents():
        e = rec.readEvent()
        etype = e.getEventType()
        name = str(etype.getName())
        type_ids.setdefault(name, int(etype.getId()))
        if name == "jdk.ActiveSetting":
            if str(e.getString("name")) == "period":
                ns = _period_ns(e.getString("value"))
                if ns:
                    period_of[int(e.getLong("id"))] = ns
        elif name in _TYPES or name in _CPU_EVENTS or name == _WALL_EVENT:
            events.append((name, e))
            if len(events) > max_samples:
                raise BadRequest(413, f"more than {max_samples} JFR samples")
    frames: dict[tuple, Frame] = {}
    stacks: dict[object, tuple[Frame, ...]] = {}
    out: dict[tuple[str, int], list[Sample]] = {}
    comm = labels.get("service_name", "")
    for name, e in events:
        if name in _CPU_EVENTS or name == _WALL_EVENT:
            period = period_of.get(type_ids[name], _DEFAULT_PERIOD_NS)
            kinds = [(CPU if name != _WALL_EVENT else _WALL, lambda _e, p=period: p)]
            thread = e.getThread("sampledThread")
        else:
            kinds = _TYPES[name]
            thread = e.getThread()
        stack = _stack(e.getStackTrace(), frames, stacks)
        if not stack:
            continue
        start = e.getStartTime()
        ts = int(start.getEpochSecond()) * 1_000_000_000 + int(start.getNano())
        tid = int(thread.getOSThreadId()) if thread is not None else 0
        tname = str(thread.getJavaName() or "") if thread is not None else ""
        ctx = int(e.getLong("contextId")) if e.hasField("contextId") else 0
        ctx = ctx if ctx in contexts else 0
        for kind, value_of in kinds:
            v = int(value_of(e))
            if v > 0:
                out.setdefault((kind, ctx), []).append(Sample(kind, ts, 0, tid, 0, comm, tname,
                                                              stack, v))
    # The push's own labels win over a context's (service_name above all).
    return [SeriesBatch(kind, {**contexts.get(ctx, {}), **labels}, samples)
            for (kind, ctx), samples in out.items()]


def _stack(trace, frames: dict, stacks: dict) -> tuple[Frame, ...]:
    """Root-first Frames of a JFR stack trace (JFR lists the top frame first)."""
    if trace is None:
        return ()
    out = []
    for fr in trace.getFrames():
        m = fr.getMethod()
        key = (str(m.getType().getName()), str(m.getName()), int(fr.getLineNumber()))
        f = frames.get(key)
        if f is None:
            cls, meth, line = key
            f = frames[key] = Frame(f"{cls}.{meth}", "java", file=cls, line=max(0, line))
        out.append(f)
    out.reverse()
    return tuple(out)
