"""Pyroscope-compatible ingest: Connect `Push` (push.v1) and legacy `/ingest`.

Both turn a request into `SeriesBatch`es without touching the store, so the
route can validate everything first and then write it in one transaction.
"""

from __future__ import annotations

import json
import re
import time

from profiler.formats import folded, pprof, speedscope
from profiler.formats.proto import push_pb2
from profiler.ingest import jfr
from profiler.ingest.labels import check_time, validate_labels
from profiler.ingest.pprof_columns import pprof_groups
from profiler.model import CPU, OFFCPU, Frame, Sample, type_id
from profiler.store import SeriesBatch
from profiler.store.columns import ColumnBatch
from profiler.web.connect import parse_message
from profiler.web.errors import BadRequest
from profiler.web.limits import Limits
from profiler.web.params import QueryError, parse_int, parse_time

# ---------------------------------------------------------------- push.v1



def parse_push(body: bytes, content_type: str) -> push_pb2.PushRequest:
    return parse_message(body, content_type, push_pb2.PushRequest())


def push_batches(msg: push_pb2.PushRequest, limits: Limits) -> list[ColumnBatch]:
    """Validate and decode every series and profile of a PushRequest."""
    if len(msg.series) > limits.max_series_per_request:
        raise BadRequest(400, f"more than {limits.max_series_per_request} series in one push")
    now = time.time_ns()
    out: list[ColumnBatch] = []
    total = 0
    # One budget of inflated bytes for the whole request, not one per profile:
    # 250 profiles of 60 MiB each made one 15 MB push inflate 14.6 GiB.
    budget = limits.max_decompressed
    for series in msg.series:
        pairs = [(lp.name, lp.value) for lp in series.labels]
        labels = validate_labels(pairs, limits)
        hint = next((v for k, v in pairs if k == "__name__"), "")
        for raw in series.samples:
            if not raw.raw_profile:
                continue
            try:
                data = pprof.inflate(raw.raw_profile, budget)
            except pprof.PprofTooLarge as e:
                raise BadRequest(413, f"profile too large: {e}") from None
            except pprof.PprofError as e:
                raise BadRequest(400, f"bad pprof profile: {e}") from None
            budget -= len(data)
            batches = pprof_batches(data, labels, limits, now, now, hint=hint,
                                    bad_status=400, max_decompressed=len(data))
            total += sum(len(b.cols) for b in batches)
            out.extend(batches)
            if total > limits.max_samples * 4:
                raise BadRequest(413, "too many samples in one push")
    # Sample labels become series labels: bound the series they make, not just
    # the request's own series list.
    if len({(b.kind, tuple(sorted(b.labels.items()))) for b in out}) > \
            limits.max_series_per_request:
        raise BadRequest(400, f"more than {limits.max_series_per_request} series in one push "
                              "(a sample label that varies per request belongs in "
                              "span_id/trace_id/request_id)")
    return out


def pprof_batches(data: bytes, labels: dict[str, str], limits: Limits, now: int,
                  default_ts_ns: int, *, hint: str = "",
                  display_names: dict[str, str] | None = None,
                  bad_status: int = 400,
                  max_decompressed: int | None = None) -> list[ColumnBatch]:
    """One pprof profile as batches: one per profile type and set of dynamic tags.

    `max_decompressed` bounds what `data` may inflate to (default: the
    request limit); a caller that shares one budget across profiles passes
    what is left of it.
    """
    if max_decompressed is None:
        max_decompressed = limits.max_decompressed
    try:
        groups = pprof_groups(data, max_decompressed=max_decompressed,
                              max_samples=limits.max_samples, default_ts_ns=default_ts_ns,
                              hint=hint, display_names=display_names)
    except pprof.PprofTooLarge as e:
        raise BadRequest(413, f"profile too large: {e}") from None
    except pprof.PprofError as e:
        raise BadRequest(bad_status, f"bad pprof profile: {e}") from None
    out: list[ColumnBatch] = []
    for _kind, tags, batch in groups:
        if not len(batch.cols):
            continue
        check_time(min(batch.cols.ts), limits, now)
        check_time(max(batch.cols.ts), limits, now)
        # Dynamic tags (tag_wrapper) become series labels, as in Pyroscope;
        # trace and span ids stay per sample so cardinality stays bounded.
        if tags:
            tags = tuple((_label_name(k), v) for k, v in tags)
        batch.labels = validate_labels(
            [*labels.items(), *(t for t in dict(tags).items() if t[0] not in labels)],
            limits,
        ) if tags else labels
        out.append(batch)
    return out


_BAD_LABEL_CHARS = re.compile(r"[^A-Za-z0-9_.]")


def _label_name(name: str) -> str:
    """A pprof sample label key as a series label name (clients use `-` and `/`)."""
    name = _BAD_LABEL_CHARS.sub("_", name)[:1024] or "_"
    return name if not name[0].isdigit() and name[0] != "." else "_" + name


# ---------------------------------------------------------------- /ingest

_APP = re.compile(r"^([A-Za-z0-9_./\-]+)(?:\{(.*)\})?$")
_KEY = re.compile(r"^[A-Za-z0-9_.]+$")
# `/ingest` name suffixes (`app.cpu`, Go's `app.alloc_objects`, `app.mutex_count`):
# the family (`__name__`) of what the client sends.
_SUFFIXES = {"cpu": "process_cpu", "itimer": "process_cpu", "wall": "wall", "off_cpu": "off_cpu",
             **dict.fromkeys(("alloc_objects", "alloc_space", "inuse_objects", "inuse_space"),
                             "memory"),
             "goroutines": "goroutines", "mutex_count": "mutex", "mutex_duration": "mutex",
             "block_count": "block", "block_duration": "block", "exceptions": "exceptions"}
# A text profile (folded, lines, speedscope) of a client's wall clock.
CLIENT_WALL = type_id("wall", "wall", "nanoseconds", "wall", "nanoseconds")


def parse_app_name(name: str, limits: Limits) -> tuple[str, dict[str, str], str]:
    """`app{k=v,...}` -> (kind of a text profile, labels with service_name, family hint)."""
    m = _APP.match((name or "").strip())
    if not m:
        raise BadRequest(400, f"bad name {name[:80]!r}: expected app{{key=value,...}}")
    app, body = m.group(1), m.group(2) or ""
    stem, dot, suffix = app.rpartition(".")
    hint = _SUFFIXES.get(suffix, "") if dot and stem else ""
    if hint:
        app = stem
    kind = OFFCPU if hint == "off_cpu" else CLIENT_WALL if hint == "wall" else CPU
    pairs = [("service_name", app)]
    for part in filter(None, (p.strip() for p in body.split(","))):
        k, sep, v = part.partition("=")
        k, v = k.strip(), v.strip()
        if not sep or not _KEY.match(k) or "}" in v:
            raise BadRequest(400, f"bad tag {part[:80]!r} in name")
        if k in ("__name__", "service_name"):
            continue
        pairs.append((k, v))
    return kind, validate_labels(pairs, limits), hint


def _display_names(config: bytes | None) -> dict[str, str]:
    """Sample type -> `display-name` from a `sample_type_config` part (unreadable: none)."""
    try:
        doc = json.loads(config) if config else {}
    except (ValueError, RecursionError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {k: v["display-name"] for k, v in doc.items()
            if isinstance(v, dict) and isinstance(v.get("display-name"), str)}


def legacy_batches(args, body: bytes, content_type: str, limits: Limits,
                   files: dict[str, bytes] | None = None) -> list[SeriesBatch | ColumnBatch]:
    """Decode a legacy /ingest request into batches."""
    kind, labels, hint = parse_app_name(args.get("name", ""), limits)
    now = time.time_ns()
    try:
        t_from = parse_time(args.get("from"), "now", now)
        t_until = parse_time(args.get("until"), "now", now)
    except QueryError as e:
        raise BadRequest(400, str(e)) from None
    check_time(t_from, limits, now)
    try:
        rate = parse_int(args.get("sampleRate") or "100", "sampleRate", 1, 1_000_000)
    except QueryError as e:
        raise BadRequest(400, str(e)) from None
    fmt = (args.get("format") or "folded").lower()
    if files is not None:
        fmt = "jfr" if "jfr" in files else "pprof"
    period = 1_000_000_000 // rate
    ts = t_from + max(0, t_until - t_from) // 2 if t_until > t_from else t_from
    if fmt == "jfr":  # Pyroscope's Java client: the body, or a multipart `jfr` part
        data = files.get("jfr") if files is not None else body
        contexts = jfr.context_labels(files.get("labels"), limits) if files else {}
        batches = jfr.jfr_batches(jfr.maybe_gunzip(data, limits), labels, limits.max_samples,
                                  contexts)
        for b in batches:
            for s in b.samples:
                check_time(s.ts_ns, limits, now)
        return batches
    if fmt == "pprof":
        data = files.get("profile") if files is not None else body
        if files is not None and "prev_profile" in files:
            raise BadRequest(400, "prev_profile (cumulative profiles) is not supported")
        if not data:
            raise BadRequest(400, "no profile in the request")
        display = _display_names(files.get("sample_type_config") if files else None)
        return pprof_batches(data, labels, limits, now, ts, hint=hint, display_names=display,
                             bad_status=422)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(422, "body is not UTF-8 text") from None
    try:
        if fmt == "speedscope":
            stacks = [(names, 1, value) for names, value in speedscope.parse(text, period)]
        elif fmt == "lines":
            stacks = [(line.strip().split(";"), 1, period) for line in text.splitlines()
                      if line.strip()]
        elif fmt in ("folded", "collapsed", ""):
            stacks = [(names, count, count * period)
                      for names, count in folded.parse(text.splitlines())]
        else:
            raise BadRequest(415, f"unsupported format {fmt!r}")
    except ValueError as e:  # the format's own one-line reason
        raise BadRequest(422, str(e)) from None
    if len(stacks) > limits.max_samples:
        raise BadRequest(413, f"more than {limits.max_samples} stacks")
    frames: dict[str, Frame] = {}
    samples = []
    for names, count, value in stacks:
        stack = tuple(frames.get(n) or frames.setdefault(n, folded.to_frame(n)) for n in names if n)
        if not stack or value <= 0:
            continue
        samples.append(Sample(kind, ts, 0, 0, 0, labels["service_name"], "", stack, value,
                              count=count, reason="other" if kind == OFFCPU else ""))
    return [SeriesBatch(kind, labels, samples)] if samples else []
