"""Trace storage: spans from OTLP, thread spans and linked samples from agents.

`TraceStore` sits beside `Store` on the same engine and shares its frame and
stack tables. Every write is one transaction, and a failed write stores
nothing. Agents' rows are idempotent (unique keys, insert-or-ignore), so an
agent that resends after a timeout stores nothing twice. An OTLP span that is
stored already refuses its request whole: a request is one transaction, so an
exporter's resend of a stored request finds all of its spans stored and loses
nothing by the refusal.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Collection, Iterable, Sequence

from sqlalchemy import (
    BigInteger,
    LargeBinary,
    Text,
    and_,
    case,
    cast,
    delete,
    func,
    literal,
    not_,
    or_,
    select,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from profiler.model import CPU, OFFCPU, Frame, Sample, Span, ThreadSpan
from profiler.store import schema
from profiler.store.columns import ColumnBatch, SeriesBatch, labels_json
from profiler.store.interface import (
    AgentLoss,
    KeptWait,
    LinkedColumns,
    LinkedSample,
    LinkedTotal,
    RootFilter,
    Served,
    SpanConflict,
    TraceRoot,
)
from profiler.store.sqlcols import Coded, Column, driver_sql, read_columns
from profiler.store.store import (
    ByteBoundedCache,
    Store,
    _frame_row,
    _pack,
    _unavailable,
    frame_key,
)
from profiler.store.trace_tables import spans, thread_spans, trace_samples

SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUSES = ("unset", "ok", "error")
KINDS = (CPU, OFFCPU)
_I64 = (1 << 63) - 1
_CHUNK = 500
_INSERT_ROWS = 2000


# Span id filters longer than this are applied in Python (SQL parameter limits).
_MAX_SQL_SPANS = 5000


def _b(hex_id: str) -> bytes:
    return bytes.fromhex(hex_id) if hex_id else b""


def _int64(v: int, what: str) -> int:
    if not -_I64 - 1 <= v <= _I64:
        raise ValueError(f"{what} {v} is out of int64 range")
    return v


def _span_identity(row: dict) -> tuple:
    """What makes a stored span the same span: its parent, name and times."""
    return (row["parent_id"], row["name"], row["start_ns"], row["duration_ns"])


def _linked_stack_bytes(stack: tuple[Frame, ...], _sid: int) -> int:
    """A cached stack's bytes: its tuple, and its frames as if held by it alone."""
    return 160 + sum(420 + len(f.name) + len(f.module) + len(f.file) for f in stack)


class TraceStore:
    """Spans, thread spans and linked samples over the `Store`'s engine."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine
        # False: read columns through the driver even where the C reader runs
        # (the tests compare both ways)
        self.native_reads = True
        # Linked samples' stack ids by their frames, bounded by bytes as the store's caches.
        self._stack_ids = ByteBoundedCache(32 << 20, _linked_stack_bytes)

    # ------------------------------------------------------------------ write

    @_unavailable
    def write_spans(self, tenant: str, rows: Sequence[Span],
                    remote_parent: frozenset[str] | set[str] = frozenset()) -> int:
        """Store spans; returns how many were new. A span stored already with the
        same data (an exporter's resend) is kept once; one stored with other
        data raises `SpanConflict`, and nothing of `rows` is stored.

        A span is a local root of its service when it has no parent, or when its
        span id is in `remote_parent` (its parent ran in another process).
        """
        out = []
        for s in rows:
            attrs = dict(s.attributes)
            out.append({
                "tenant": tenant, "trace_id": _b(s.trace_id), "span_id": _b(s.span_id),
                "parent_id": _b(s.parent_id),
                "root": int(not s.parent_id or s.span_id in remote_parent),
                "name": s.name, "route": attrs.get("http.route", ""),
                "kind": SPAN_KINDS.index(s.kind) if s.kind in SPAN_KINDS else 0,
                "status": STATUSES.index(s.status) if s.status in STATUSES else 0,
                "start_ns": _int64(s.start_ns, "start"),
                "duration_ns": _int64(s.end_ns - s.start_ns, "duration"),
                "service": s.service, "service_version": s.service_version,
                "attributes": json.dumps(attrs, separators=(",", ":"), ensure_ascii=False),
                "pid": _int64(s.pid, "pid"), "host": s.host,
            })
        out.sort(key=lambda r: (r["trace_id"], r["span_id"]))  # one lock order for all writers
        try:  # plain inserts: the usual request has no stored span, and pays no read
            with self._writing() as (conn, _):
                for i in range(0, len(out), _INSERT_ROWS):
                    conn.execute(spans.insert(), out[i:i + _INSERT_ROWS])
            return len(out)
        except IntegrityError:
            pass
        with self._writing() as (conn, _):
            stored = self._stored_spans(conn, tenant, out)
            by_key = {(r["trace_id"], r["span_id"]): r for r in out}
            conflicts = sorted(k for k, v in stored.items() if v != _span_identity(by_key[k]))
            if conflicts:
                t, s = conflicts[0]
                raise SpanConflict(t.hex(), s.hex(), len(conflicts) - 1)
            new = [r for k, r in by_key.items() if k not in stored]
            self._insert(conn, spans, new)  # insert-or-ignore: a concurrent resend
        return len(new)

    def _stored_spans(self, conn: Connection, tenant: str, rows: list[dict]
                      ) -> dict[tuple[bytes, bytes], tuple]:
        """The identity (`_span_identity`) of those of `rows` that are stored."""
        keys = {(r["trace_id"], r["span_id"]) for r in rows}
        traces = sorted({t for t, _ in keys})
        c = spans.c
        found = {}
        for i in range(0, len(traces), _CHUNK):
            q = select(c.trace_id, c.span_id, c.parent_id, c.name, c.start_ns,
                       c.duration_ns).where(c.tenant == tenant,
                                            c.trace_id.in_(traces[i:i + _CHUNK]))
            for t, sid, parent, name, start, dur in conn.execute(q):
                k = (bytes(t), bytes(sid))
                if k in keys:
                    found[k] = (bytes(parent or b""), name, start, dur)
        return found

    @_unavailable
    def write_thread_spans(self, tenant: str, rows: Sequence[ThreadSpan]) -> int:
        """Store which thread served which span, when; returns len(rows)."""
        with self._writing() as (conn, _):
            self._insert_thread_spans(conn, tenant, rows)
        return len(rows)

    @_unavailable
    def write_linked_samples(self, tenant: str, samples: Sequence[Sample]) -> int:
        """Store the samples that carry a trace id; returns how many did."""
        with self._writing() as (conn, pending):
            return self._insert_samples(conn, tenant, samples, pending)

    @_unavailable
    def write_links(self, tenant: str, samples: Sequence[Sample],
                    rows: Sequence[ThreadSpan]) -> int:
        """Linked samples and thread spans, in one transaction."""
        with self._writing() as (conn, pending):
            self._insert_thread_spans(conn, tenant, rows)
            return self._insert_samples(conn, tenant, samples, pending)

    @_unavailable
    def write_batch(self, tenant: str, batches: Sequence[ColumnBatch | SeriesBatch],
                    samples: Sequence[Sample], rows: Sequence[ThreadSpan] = (), *,
                    agent_id: str = "", seq: int = -1, losses: Sequence[AgentLoss] = (),
                    max_series: int | None = None) -> int:
        """One ingest request whole (an agent batch, a Push): its profile blocks
        (`Store.write`), the losses its agent reported, its linked samples and
        its thread spans, in the
        store's one transaction. A batch the store already has (agent_id, seq)
        is acknowledged with 0 and writes nothing; a failure anywhere stores
        none of it, so a resend finds nothing half-written. Returns the
        profile samples stored."""
        pending: dict[tuple[Frame, ...], int] = {}

        def links(conn: Connection) -> None:
            pending.clear()  # the store may run this again after a lost race
            self._insert_thread_spans(conn, tenant, rows)
            self._insert_samples(conn, tenant, samples, pending)

        stored = self.store.write(tenant, batches, agent_id=agent_id, seq=seq, losses=losses,
                                  within=links if samples or rows else None,
                                  max_series=max_series)
        self._remember(pending)
        return stored

    def _writing(self):
        return _Writing(self)

    def _remember(self, pending: dict[tuple[Frame, ...], int]) -> None:
        """Stack ids of a committed transaction join the cache."""
        with self.store._cache_lock:
            for st, sid in pending.items():
                self._stack_ids.put(st, sid)

    def _insert(self, conn: Connection, table, rows: list[dict]) -> None:
        ins = self.store.insert(table)
        for i in range(0, len(rows), _INSERT_ROWS):
            conn.execute(ins, rows[i:i + _INSERT_ROWS])

    def _insert_thread_spans(self, conn: Connection, tenant: str,
                             rows: Sequence[ThreadSpan]) -> None:
        out = [{"tenant": tenant, "trace_id": _b(r.trace_id), "span_id": _b(r.span_id),
                "pid": _int64(r.pid, "pid"), "tid": _int64(r.tid, "tid"),
                "thread_name": r.thread_name, "start_ns": _int64(r.start_ns, "start"),
                "end_ns": _int64(max(r.end_ns, r.start_ns), "end"),
                "approximate": int(r.approximate)}
               for r in rows if r.trace_id]
        out.sort(key=lambda r: (r["trace_id"], r["tid"], r["start_ns"]))
        self._insert(conn, thread_spans, out)

    def _insert_samples(self, conn: Connection, tenant: str, samples: Sequence[Sample],
                        pending: dict[tuple[Frame, ...], int]) -> int:
        linked = [s for s in samples if s.trace_id]
        if not linked:
            return 0
        keys = [_stack_key(s) for s in linked]
        ids = self._resolve_stacks(conn, keys, pending)
        out = [{"tenant": tenant, "trace_id": _b(s.trace_id), "span_id": _b(s.span_id),
                "kind": KINDS.index(s.kind), "ts_ns": _int64(s.ts_ns, "ts"),
                "pid": _int64(s.pid, "pid"), "tid": _int64(s.tid, "tid"),
                "cpu": max(0, min(s.cpu, (1 << 31) - 1)), "comm": s.comm,
                "thread_name": s.thread_name, "stack_id": ids[k],
                "value_ns": _int64(max(0, s.value_ns), "value"),
                "count": max(0, min(s.count, (1 << 31) - 1)),
                "reason": (s.reason or ("other" if s.kind == OFFCPU else ""))[:16],
                "labels": labels_json(s.labels) if s.labels else ""}
               for s, k in zip(linked, keys, strict=True)]
        out.sort(key=lambda r: (r["trace_id"], r["tid"], r["ts_ns"]))
        self._insert(conn, trace_samples, out)
        return len(out)

    def _resolve_stacks(self, conn: Connection, stacks: list[tuple[Frame, ...]],
                        pending: dict[tuple[Frame, ...], int]
                        ) -> dict[tuple[Frame, ...], int]:
        """Stack ids in the store's stacks table, inserting the new ones.

        Ids found here join `pending` and reach the cache after commit, so a
        rollback never leaves the cache an id the database does not have.
        """
        out = {}
        missing = set()
        for st in stacks:
            sid = self._stack_ids.get(st)
            if sid is None:
                missing.add(st)
            else:
                out[st] = sid
        if not missing:
            return out
        frames = {f for st in missing for f in st}
        fkeys = {f: frame_key(f) for f in frames}
        fids = _ids_by_key(self.store, conn, schema.frames,
                           {k: _frame_row(k, f) for f, k in fkeys.items()})
        packed = {st: _pack(fids[fkeys[f]] for f in st) for st in missing}
        skeys = {st: hashlib.blake2b(p, digest_size=16).digest() for st, p in packed.items()}
        sids = _ids_by_key(self.store, conn, schema.stacks,
                           {skeys[st]: {"key": skeys[st], "frames": packed[st]}
                            for st in missing})
        for st in missing:
            out[st] = sids[skeys[st]]
        pending.update({st: out[st] for st in missing})
        return out

    @_unavailable
    def expire(self, cutoff_ns: int) -> int:
        """Delete spans, thread spans and linked samples older than the cutoff;
        returns the spans deleted."""
        with self._writing() as (conn, _):
            n = conn.execute(delete(spans).where(spans.c.start_ns < cutoff_ns)).rowcount
            conn.execute(delete(thread_spans).where(thread_spans.c.end_ns < cutoff_ns))
            conn.execute(delete(trace_samples).where(trace_samples.c.ts_ns < cutoff_ns))
        return n or 0

    # ------------------------------------------------------------------- read

    @_unavailable
    def roots(self, tenant: str, service: str, lo: int, hi: int, *, endpoint: str = "",
              min_ns: int = 0, limit: int = 100) -> list[TraceRoot]:
        """Local roots of the service's traces started in [lo, hi), longest first.

        One row per trace (its longest local root). The ids come from the roots
        index alone; only the `limit` rows shown are read from the table.
        """
        c = spans.c
        q = (select(c.id, c.trace_id)
             .where(c.tenant == tenant, c.service == service, c.root == 1,
                    c.start_ns >= lo, c.start_ns < hi)
             .order_by(c.duration_ns.desc()))
        if min_ns > 0:
            q = q.where(c.duration_ns >= min_ns)
        if endpoint:
            q = q.where(or_(c.name == endpoint, c.route == endpoint))
        c2 = (c.trace_id, c.span_id, c.name, c.route, c.service, c.start_ns, c.duration_ns)
        with self.engine.connect() as conn:
            # Several local roots of one trace in one service are rare: read a
            # few more than asked, and all of them only if duplicates ate those up.
            page = max(1, limit) + 16
            ids = conn.execute(q.limit(page)).all()
            if len(ids) == page and len({t for _, t in ids}) < limit:
                ids = conn.execute(q).all()
            rows = []
            for chunk in _chunks([i for i, _ in ids]):
                rows.extend(conn.execute(select(*c2).where(c.id.in_(chunk))))
        rows.sort(key=lambda r: (-r[6], r[0]))
        return _one_per_trace(rows, limit)

    @_unavailable
    def root_durations(self, tenant: str, service: str, lo: int, hi: int,
                       endpoint: str = "") -> dict[str, list[int]]:
        """Root name -> durations (ns, ascending) of the service's local roots started
        in [lo, hi) (of one endpoint, by name or route, when given).

        Read from the roots index alone, one joined string per name: 360k
        roots an hour as rows would be most of the time taken.
        """
        c = spans.c
        q = (select(c.name, func.aggregate_strings(cast(c.duration_ns, Text), ","))
             .where(*_root_range(tenant, service, lo, hi)).group_by(c.name))
        if endpoint:
            q = q.where(or_(c.name == endpoint, c.route == endpoint))
        with self.engine.connect() as conn:
            return {name: sorted(map(int, joined.split(","))) for name, joined in conn.execute(q)}

    @_unavailable
    def root_grid(self, tenant: str, service: str, lo: int, hi: int, x_bins: int,
                  y_bins: int, endpoint: str = "") -> dict | None:
        """Counts of the service's local roots started in [lo, hi) on a grid over
        their own extent: start time in `x_bins` columns, duration in `y_bins`
        rows from 0. None when there are none."""
        c = spans.c
        where = [*_root_range(tenant, service, lo, hi)]
        if endpoint:
            where.append(or_(c.name == endpoint, c.route == endpoint))
        with self.engine.connect() as conn:
            t0, t1, dmax = conn.execute(select(func.min(c.start_ns), func.max(c.start_ns),
                                               func.max(c.duration_ns)).where(*where)).one()
            if t0 is None:
                return None
            t1, dmax = t1 + 1, dmax + 1
            x = (c.start_ns - t0) * x_bins // (t1 - t0)
            y = c.duration_ns * y_bins // dmax
            counts = [0] * (x_bins * y_bins)
            for xi, yi, n in conn.execute(select(x, y, func.count()).where(*where)
                                          .group_by(x, y)):
                counts[int(yi) * x_bins + int(xi)] += n
        return {"from_ns": t0, "until_ns": t1, "max_ns": dmax, "counts": counts}

    @_unavailable
    def services(self, tenant: str, lo: int, hi: int) -> list[str]:
        """Services with a local root started in [lo, hi), by name."""
        c = spans.c
        q = (select(c.service).where(c.tenant == tenant, c.root == 1, c.start_ns >= lo,
                                     c.start_ns < hi).group_by(c.service).order_by(c.service))
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(q)]

    @_unavailable
    def select_roots(self, tenant: str, where: RootFilter, limit: int
                     ) -> tuple[list[TraceRoot], int]:
        """The `limit` latest roots matching `where` (one per trace), and how many match.

        Latest, not longest: a side of a comparison is then a fair sample of
        its requests, whatever their durations.
        """
        c = spans.c
        cond = [*_root_range(tenant, where.service, where.lo, where.hi)]
        if where.endpoint:
            cond.append(or_(c.name == where.endpoint, c.route == where.endpoint))
        if where.min_ns > 0:
            cond.append(c.duration_ns >= where.min_ns)
        if where.max_ns is not None:
            cond.append(c.duration_ns <= where.max_ns)
        if where.outside is not None:
            b = where.outside
            cond.append(not_(and_(c.start_ns >= b.lo, c.start_ns < b.hi,
                                  c.duration_ns >= b.min_ns, c.duration_ns <= b.max_ns)))
        cols = (c.trace_id, c.span_id, c.name, c.route, c.service, c.start_ns, c.duration_ns)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(spans).where(*cond)).scalar()
            rows = conn.execute(select(*cols).where(*cond)
                                .order_by(c.start_ns.desc(), c.id.desc())
                                .limit(max(1, limit) + 16)).all()
        return _one_per_trace(rows, limit), int(total or 0)

    @_unavailable
    def stack_values_of(self, tenant: str, trace_ids: Iterable[str],
                        kinds: Iterable[str]) -> dict[int, int]:
        """Stack id -> summed value of the traces' linked samples of those kinds."""
        c = trace_samples.c
        kind_codes = [KINDS.index(k) for k in kinds]
        out: dict[int, int] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks([_b(t) for t in trace_ids]):
                q = (select(c.stack_id, func.sum(c.value_ns))
                     .where(c.tenant == tenant, c.trace_id.in_(chunk), c.kind.in_(kind_codes))
                     .group_by(c.stack_id))
                for sid, v in conn.execute(q):
                    out[sid] = out.get(sid, 0) + int(v)
        return out

    @_unavailable
    def spans_of(self, tenant: str, trace_id: str) -> list[Span]:
        """Every stored span of the trace, by start time."""
        c = spans.c
        q = select(c.trace_id, c.span_id, c.parent_id, c.name, c.kind, c.status, c.start_ns,
                   c.duration_ns, c.service, c.service_version, c.attributes, c.pid,
                   c.host).where(c.tenant == tenant, c.trace_id == _b(trace_id))
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        out = [Span(t.hex(), s.hex(), p.hex(), name, SPAN_KINDS[kind], STATUSES[status],
                    start, start + dur, svc, ver, tuple(json.loads(attrs).items()), pid, host)
               for t, s, p, name, kind, status, start, dur, svc, ver, attrs, pid, host in rows]
        out.sort(key=lambda s: (s.start_ns, s.span_id))
        return out

    @_unavailable
    def thread_spans_of(self, tenant: str, trace_ids: Iterable[str]) -> list[ThreadSpan]:
        """Thread spans of the traces, by thread and time."""
        c = thread_spans.c
        out = []
        with self.engine.connect() as conn:
            for chunk in _chunks([_b(t) for t in trace_ids]):
                q = select(c.pid, c.tid, c.trace_id, c.span_id, c.start_ns, c.end_ns,
                           c.thread_name, c.approximate).where(c.tenant == tenant,
                                                               c.trace_id.in_(chunk))
                out.extend(ThreadSpan(p, t, tr.hex(), s.hex(), a, b, n, bool(x))
                           for p, t, tr, s, a, b, n, x in conn.execute(q))
        out.sort(key=lambda r: (r.pid, r.tid, r.start_ns))
        return out

    @_unavailable
    def samples_of(self, tenant: str, trace_ids: Iterable[str], *,
                   kinds: Iterable[str] = KINDS, span_ids: Iterable[str] | None = None
                   ) -> list[LinkedSample]:
        """Linked samples of the traces (of those spans only, when given), by time."""
        c = trace_samples.c
        kind_codes = [KINDS.index(k) for k in kinds]
        sids = {_b(s) for s in span_ids} if span_ids is not None else None
        out = []
        # A trace's samples repeat a few ids and strings many times: each
        # distinct one is converted once (a 100,000-sample trace is read in
        # one fetch per chunk, not row by row).
        hexes: dict[bytes, str] = {}
        ids = [_b(t) for t in trace_ids]
        with self.engine.connect() as conn:
            for chunk in _chunks(ids):
                q = select(c.trace_id, c.span_id, c.kind, c.ts_ns, c.pid, c.tid,
                           c.thread_name, c.comm, c.cpu, c.stack_id, c.value_ns, c.count,
                           c.reason, c.labels).where(c.tenant == tenant, c.trace_id.in_(chunk),
                                           c.kind.in_(kind_codes)).order_by(c.ts_ns, c.tid)
                for r in conn.execute(q).fetchall():
                    if sids is not None and r[1] not in sids:
                        continue
                    tr, sp = hexes.get(r[0]), hexes.get(r[1])
                    if tr is None:
                        tr = hexes[r[0]] = r[0].hex()
                    if sp is None:
                        sp = hexes[r[1]] = r[1].hex()
                    out.append(LinkedSample(tr, sp, KINDS[r[2]], *r[3:]))
        if len(ids) > _CHUNK:  # each chunk came in order
            out.sort(key=lambda s: (s.ts_ns, s.tid))
        return out


    @_unavailable
    def thread_totals_of(self, tenant: str, trace_ids: Iterable[str], *,
                         kinds: Iterable[str] = KINDS, span_ids: Collection[str] | None = None,
                         within: Served | None = None) -> list[LinkedTotal]:
        """The traces' linked samples summed per thread, kind and reason, by the
        database (a trace of 100,000 samples costs no object per sample).

        With `within`, only the part of each sample inside its thread's
        intervals counts, and threads without intervals are left out: the
        off-CPU time of a trace's exact figures. Without it, whole values.
        """
        c = trace_samples.c
        wanted = list(dict.fromkeys(trace_ids))
        where = [c.tenant == tenant, c.kind.in_([KINDS.index(k) for k in kinds])]
        keys = (c.trace_id, c.pid, c.tid, c.kind, c.reason)
        rest = None  # span ids too many for SQL: summed per span too, filtered here
        if span_ids is not None:
            sids = sorted({_b(s) for s in span_ids})
            if len(sids) <= _MAX_SQL_SPANS:
                where.append(c.span_id.in_(sids))
            else:
                rest, keys = set(sids), (*keys, c.span_id)
        queries = []
        if within is None:
            for chunk in _chunks([_b(t) for t in wanted]):
                queries.append(select(*keys, func.max(c.thread_name), func.sum(c.value_ns),
                                      func.count()).where(*where, c.trace_id.in_(chunk))
                               .group_by(*keys))
        else:
            keep = set(wanted)
            rows = [(_b(t), pid, tid, a, b) for (t, pid, tid), ivs in within.items()
                    if t in keep for a, b in ivs]
            for chunk in _chunks(rows):
                iv = union_all(*(select(cast(literal(t), LargeBinary).label("trace_id"),
                                        cast(literal(p), BigInteger).label("pid"),
                                        cast(literal(d), BigInteger).label("tid"),
                                        cast(literal(a), BigInteger).label("lo"),
                                        cast(literal(b), BigInteger).label("hi"))
                                 for t, p, d, a, b in chunk)).subquery("iv")
                end = c.ts_ns + c.value_ns
                inside = (case((end < iv.c.hi, end), else_=iv.c.hi)
                          - case((c.ts_ns > iv.c.lo, c.ts_ns), else_=iv.c.lo))
                on = and_(c.tenant == tenant, c.trace_id == iv.c.trace_id, c.tid == iv.c.tid,
                          c.pid == iv.c.pid, c.ts_ns < iv.c.hi, end > iv.c.lo)
                queries.append(select(*keys, func.max(c.thread_name), func.sum(inside),
                                      func.count()).select_from(iv.join(trace_samples, on))
                               .where(*where).group_by(*keys))
        out: dict[tuple, list] = {}
        hexes: dict[bytes, str] = {}
        with self.engine.connect() as conn:
            for q in queries:
                for tr, pid, tid, kind, reason, *span, name, ns, n in conn.execute(q):
                    if rest is not None and span[0] not in rest:
                        continue
                    t = hexes.get(tr) or hexes.setdefault(tr, tr.hex())
                    k = (t, pid, tid, kind, reason)
                    if k in out:  # intervals in two chunks, or several spans
                        out[k][1] += int(ns)
                        out[k][2] += n
                    else:
                        out[k] = [name, int(ns), n]
        return [LinkedTotal(t, pid, tid, name, KINDS[kind], reason, ns, n)
                for (t, pid, tid, kind, reason), (name, ns, n) in out.items()]

    def _filter(self, tenant: str, trace_id: str, kinds: Iterable[str],
                span_ids: Collection[str] | None, lo: int | None, hi: int | None,
                pid: int | None, tids: Collection[int] | None) -> tuple[list, set | None]:
        """WHERE clauses over one trace's linked samples, and the span ids
        (bytes) left to filter in Python when there are too many for SQL."""
        c = trace_samples.c
        where = [c.tenant == tenant, c.trace_id == _b(trace_id),
                 c.kind.in_([KINDS.index(k) for k in kinds if k in KINDS])]
        if lo is not None:
            where.append(c.ts_ns >= lo)
        if hi is not None:
            where.append(c.ts_ns < hi)
        if pid is not None:
            where.append(c.pid == pid)
        if tids is not None:
            where.append(c.tid.in_(list(tids)))
        rest = None
        if span_ids is not None:
            sids = sorted({_b(s) for s in span_ids})
            if len(sids) <= _MAX_SQL_SPANS:
                where.append(c.span_id.in_(sids))
            else:
                rest = set(sids)
        return where, rest

    def _summed(self, keys: tuple, tenant: str, trace_id: str, kinds: Iterable[str],
                span_ids: Collection[str] | None, lo: int | None, hi: int | None,
                pid: int | None, tid: int | None) -> list[tuple]:
        """(*keys, summed value) of the trace's linked samples per distinct keys, summed
        by the database (grouped per span too only when the spans are filtered here)."""
        c = trace_samples.c
        where, rest = self._filter(tenant, trace_id, kinds, span_ids, lo, hi, pid,
                                   None if tid is None else (tid,))
        cols = keys if rest is None else (*keys, c.span_id)
        q = select(*cols, func.sum(c.value_ns)).where(*where).group_by(*cols)
        with self.engine.connect() as conn:
            rows = _fetch(conn, q)
        n = len(keys)
        return [(*r[:n], int(r[-1])) for r in rows if rest is None or r[n] in rest]

    @_unavailable
    def stack_totals_of(self, tenant: str, trace_id: str, *, kinds: Iterable[str] = KINDS,
                        span_ids: Collection[str] | None = None, lo: int | None = None,
                        hi: int | None = None, pid: int | None = None,
                        tid: int | None = None) -> dict[int, int]:
        """Stack id -> summed value of the trace's linked samples (a flame graph),
        summed by the database."""
        out: dict[int, int] = {}
        for sid, v in self._summed((trace_samples.c.stack_id,), tenant, trace_id, kinds,
                                   span_ids, lo, hi, pid, tid):
            out[sid] = out.get(sid, 0) + v
        return out

    @_unavailable
    def thread_stack_totals_of(self, tenant: str, trace_id: str, *,
                               kinds: Iterable[str] = KINDS,
                               span_ids: Collection[str] | None = None, lo: int | None = None,
                               hi: int | None = None, pid: int | None = None,
                               tid: int | None = None) -> dict[tuple[int, int], dict[int, int]]:
        """(pid, tid) -> stack id -> summed value: `stack_totals_of` per thread, in
        one query (a trace's exact CPU shares each thread's time out by stack)."""
        c = trace_samples.c
        out: dict[tuple[int, int], dict[int, int]] = {}
        for p, t, sid, v in self._summed((c.pid, c.tid, c.stack_id), tenant, trace_id, kinds,
                                         span_ids, lo, hi, pid, tid):
            by = out.setdefault((p, t), {})
            by[sid] = by.get(sid, 0) + v
        return out

    @_unavailable
    def step_totals_of(self, tenant: str, trace_id: str, lo: int, hi: int, step_ns: int, *,
                       kinds: Iterable[str] = KINDS, span_ids: Collection[str] | None = None,
                       pid: int | None = None, tid: int | None = None) -> list[int]:
        """Summed value per step from `lo` (a timeline of the trace), zeros included."""
        c = trace_samples.c
        where, rest = self._filter(tenant, trace_id, kinds, span_ids, lo, hi, pid,
                                   None if tid is None else (tid,))
        step = ((c.ts_ns - lo) // step_ns).label("step")
        q = select(step, c.span_id, func.sum(c.value_ns)).where(*where).group_by(
            step, c.span_id)
        points = [0] * max(1, -(-(hi - lo) // step_ns))
        with self.engine.connect() as conn:
            for k, span, v in conn.execute(q):
                if rest is None or span in rest:
                    points[int(k)] += int(v)
        return points

    @_unavailable
    def samples_extent(self, tenant: str, trace_id: str,
                       span_ids: Collection[str] | None = None) -> tuple[int, int] | None:
        """(first start, last end) ns of the trace's linked samples; None if none."""
        c = trace_samples.c
        where, rest = self._filter(tenant, trace_id, KINDS, span_ids, None, None, None, None)
        if rest is not None:  # too many spans for SQL: the whole trace's extent
            where = where[:3]
        q = select(func.min(c.ts_ns), func.max(c.ts_ns + c.value_ns)).where(*where)
        with self.engine.connect() as conn:
            lo, hi = conn.execute(q).one()
        return None if lo is None else (int(lo), int(hi))

    @_unavailable
    def columns_of(self, tenant: str, trace_id: str, *, kinds: Iterable[str] = KINDS,
                   span_ids: Collection[str] | None = None, lo: int | None = None,
                   hi: int | None = None, pid: int | None = None,
                   tids: Collection[int] | None = None, limit: int = 200_000
                   ) -> tuple[LinkedColumns, bool]:
        """The trace's linked samples as columns, each thread's by time: the
        first `limit` by time, and whether more were left out.

        Thread by thread is the order of the trace's unique index (no sort);
        only an answer cut by the limit is read again in time order.
        """
        c = trace_samples.c
        where, rest = self._filter(tenant, trace_id, kinds, span_ids, lo, hi, pid, tids)
        # integers as arrays, texts and ids coded by their distinct values (a
        # few reasons, spans and names in 100,000 rows): no object per value
        cols = (c.kind, c.ts_ns, c.pid, c.tid, c.stack_id, c.value_ns, c.count, c.reason,
                c.span_id, c.labels, c.thread_name, c.comm)

        def read(conn: Connection, *order) -> list[Column]:
            q = select(*cols).where(*where).order_by(*order)
            if rest is None:
                q = q.limit(limit + 1)
            got = read_columns(conn, q, "iiiiiiiddddd", native=self.native_reads)
            if rest is None:
                return got
            span = got[8]
            keep = [i for i, code in enumerate(span.codes)
                    if span.values[code] in rest][:limit + 1]
            return [_take(col, keep) for col in got]

        with self.engine.connect() as conn:
            got = read(conn, c.tid, c.ts_ns)
            more = len(got[0]) > limit
            if more:
                got = read(conn, c.ts_ns, c.tid)
        if more:
            got = [_take(col, range(limit)) for col in got]
        kind, ts, pids, tids_, stack, value, count = (a.tolist() for a in got[:7])
        reason, span, labels, name, comm = got[7:]
        # each thread's name and comm from its rows (the greatest, as max() in SQL
        # would; a second query grouping the trace's rows cost a third of the read)
        names: dict[tuple[int, int], tuple[str, str]] = {}
        for p, t, n, m in dict.fromkeys(zip(pids, tids_, name.codes, comm.codes, strict=True)):
            had = names.get((p, t), ("", ""))
            names[(p, t)] = (max(had[0], name.values[n]), max(had[1], comm.values[m]))
        hexes = Coded(span.codes, [bytes(b).hex() for b in span.values])
        return LinkedColumns(list(map((1).__sub__, kind)), ts, pids, tids_, stack, value,
                             reason, hexes, names, labels, count), more

    @_unavailable
    def waits_of(self, tenant: str, trace_id: str, *, span_ids: Collection[str] | None = None,
                 lo: int | None = None, hi: int | None = None, pid: int | None = None,
                 tid: int | None = None) -> list[KeptWait]:
        """The trace's linked off-CPU samples that carry labels: its kept
        intervals, with what they waited on and who woke them."""
        c = trace_samples.c
        where, rest = self._filter(tenant, trace_id, (OFFCPU,), span_ids, lo, hi, pid,
                                   None if tid is None else (tid,))
        q = select(c.stack_id, c.reason, c.value_ns, c.labels, c.span_id).where(
            *where, c.labels != "")
        with self.engine.connect() as conn:
            rows = _fetch(conn, q)
        return [KeptWait(sid, reason, value, labels) for sid, reason, value, labels, span in rows
                if rest is None or span in rest]

    @_unavailable
    def counts_of(self, tenant: str, trace_id: str) -> dict[str, int]:
        """How many linked samples of each kind the trace has: one scan of the
        trace's index entries (kind 0 on-CPU, 1 off-CPU: their sum counts the latter)."""
        c = trace_samples.c
        q = select(func.count(), func.sum(c.kind)).select_from(trace_samples).where(
            c.tenant == tenant, c.trace_id == _b(trace_id))
        with self.engine.connect() as conn:
            n, off = conn.execute(q).one()
        return {CPU: int(n) - int(off or 0), OFFCPU: int(off or 0)}


class _Writing:
    """One write transaction: the store's writer lock (SQLite), commit, then caches.

    Yields the connection and the transaction's own pending stack ids."""

    def __init__(self, ts: TraceStore) -> None:
        self.ts = ts
        self.lock = getattr(ts.store, "_write_lock", None)
        self.pending: dict[tuple[Frame, ...], int] = {}

    def __enter__(self) -> tuple[Connection, dict[tuple[Frame, ...], int]]:
        if self.lock:
            self.lock.acquire()
        self.ctx = self.ts.engine.begin()
        try:
            return self.ctx.__enter__(), self.pending
        except BaseException:
            if self.lock:
                self.lock.release()
            raise

    def __exit__(self, *exc) -> bool:
        try:
            self.ctx.__exit__(*exc)
            if exc[0] is None:
                self.ts._remember(self.pending)
        finally:
            if self.lock:
                self.lock.release()
        return False


def _take(col: Column, rows: Iterable[int]) -> Column:
    """The `rows` of a column read by `read_columns`, in that order."""
    if isinstance(col, Coded):
        return col.taken(rows)
    return array("q", map(col.__getitem__, rows))


def _fetch(conn: Connection, q) -> list[tuple]:
    """The rows of a SELECT straight from the driver's cursor: plain tuples,
    no per-row result objects (a 100,000-sample trace reads in half the time).
    Only for columns the driver returns as they are (integers, text, bytes)."""
    sql, args = driver_sql(conn, q)
    cur = conn.connection.cursor()
    try:
        cur.execute(sql, args)
        return cur.fetchall()
    finally:
        cur.close()


def _stack_key(s: Sample) -> tuple[Frame, ...]:
    """The stored stack of a sample: off-CPU stacks end in their reason, as in blocks."""
    if s.kind == OFFCPU:
        return (*s.stack, Frame(f"[off-cpu:{s.reason or 'other'}]", "offcpu"))
    return tuple(s.stack)


def _ids_by_key(store: Store, conn: Connection, table, rows: dict[bytes, dict]
                ) -> dict[bytes, int]:
    """Ids of rows by unique key, inserting the missing ones (sorted: no deadlocks)."""
    out: dict[bytes, int] = {}

    def lookup(keys: list[bytes]) -> None:
        for chunk in _chunks(keys):
            for k, i in conn.execute(select(table.c.key, table.c.id)
                                     .where(table.c.key.in_(chunk))):
                out[bytes(k)] = i

    lookup(list(rows))
    new = [rows[k] for k in sorted(rows) if k not in out]
    if new:
        conn.execute(store.insert(table), new)
        lookup([r["key"] for r in new])
    return out


def _one_per_trace(rows: Iterable, limit: int) -> list[TraceRoot]:
    """The first root of each trace among (trace_id, span_id, name, route, service,
    start_ns, duration_ns) rows, in their order, at most `limit`."""
    out: list[TraceRoot] = []
    seen: set[bytes] = set()
    for r in rows:
        if r[0] not in seen:
            seen.add(r[0])
            out.append(TraceRoot(r[0].hex(), r[1].hex(), *r[2:]))
    return out[:limit]


def _root_range(tenant: str, service: str, lo: int, hi: int) -> list:
    """The conditions of "local roots of the service started in [lo, hi)": the
    leading columns of `ix_spans_roots_named`."""
    c = spans.c
    return [c.tenant == tenant, c.service == service, c.root == 1, c.start_ns >= lo,
            c.start_ns < hi]


def _chunks(items: list) -> Iterable[list]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]
