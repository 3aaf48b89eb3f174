"""The SQL backend of the store: blocks of samples in SQLite or PostgreSQL.

Implements `interface.MaintainedStore` over SQLAlchemy Core; reads over a
range come from `block_reads.BlockReads`. One `write` call is one database
transaction, so a rejected or failed request leaves nothing behind. Frame,
stack and series ids are cached in memory; the caches are only updated after
a commit, so a rollback can never leave an id in the cache that the database
does not have. SQLAlchemy's errors leave as `StoreUnavailable`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import operator
import os
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import compress, islice
from pathlib import Path

from sqlalchemy import create_engine, delete, event, func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from profiler.model import Frame
from profiler.store import blocks as blk
from profiler.store import schema
from profiler.store.block_reads import BlockReads, BlockRow
from profiler.store.cache import ByteBoundedCache
from profiler.store.columns import (
    ColumnBatch,
    SampleColumns,
    SeriesBatch,
    from_samples,
    labels_json,
)
from profiler.store.interface import (
    AgentLoss,
    SeriesInfo,
    SeriesLimitExceeded,
    StoredBlock,
    StoreUnavailable,
)
from profiler.store.migrate import upgrade

log = logging.getLogger(__name__)

DEFAULT_DB_DIR = Path("data")
WHOLE_BLOCK = 1 << 62  # bucket width meaning "one bucket for the whole block"
_CHUNK = 500
# Frames or stacks inserted per transaction (see Store._intern).
_INTERN_ROWS = 20_000
_NO_CACHE: dict = {}


def _split_cached(cache, keys: Iterable) -> tuple[dict, list]:
    """(the values `cache` holds, by key; the keys it does not hold, in order)."""
    out, missing = {}, []
    for k in keys:
        v = cache.get(k)
        if v is None:
            missing.append(k)
        else:
            out[k] = v
    return out, missing


def default_url(data_dir: str | os.PathLike | None = None) -> str:
    """SQLite file under ./data (created if missing)."""
    d = Path(data_dir) if data_dir else DEFAULT_DB_DIR
    d.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(d / 'flamecam.db').resolve()}"


def _unavailable(method: Callable) -> Callable:
    """SQLAlchemy's OperationalError (database down, locked, unreachable) as StoreUnavailable."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except OperationalError as e:
            raise StoreUnavailable(str(e).splitlines()[0]) from e
    return wrapper


def _hash(*parts: object) -> bytes:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=16).digest()


def frame_key(f: Frame) -> bytes:
    return _hash(f.name, f.kind, f.module, f.build_id, f.offset, f.file, f.line)


class Store(BlockReads):
    """Flamecam's storage over one SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, url: str | None = None, *, migrate: bool = True) -> None:
        self.url = url or default_url()
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            self.engine: Engine = create_engine(
                self.url, connect_args={"timeout": 30, "check_same_thread": False}
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(self.url, pool_size=8, max_overflow=8,
                                        pool_pre_ping=True)
        # SQLite has one writer at a time; serialising here avoids busy errors.
        self._write_lock = threading.Lock() if self.is_sqlite else None
        self._cache_lock = threading.Lock()
        # Every cache is bounded by bytes, estimated per entry (deep distinct
        # stacks grew them without end: 1.97 GiB after 7 MB pushes of such
        # stacks; a count bound let 2,000,000 deep stacks stay). Ids of what
        # was written, by content:
        self._frame_by_obj = ByteBoundedCache(32 << 20, _frame_entry_bytes)
        # by the Frame object's identity (agent batches share theirs): holds the Frame
        self._frame_by_ident = ByteBoundedCache(16 << 20, _ident_entry_bytes)
        self._stack_by_ids = ByteBoundedCache(64 << 20, _stack_entry_bytes)
        self._stack_by_key = ByteBoundedCache(32 << 20, _key_entry_bytes)  # stack_keys -> id
        self._series_ids = ByteBoundedCache(8 << 20, _series_entry_bytes)
        # What reads resolve: frames and stacks by id.
        self._stack_frames = ByteBoundedCache(64 << 20, _stack_bytes)
        self._frames = ByteBoundedCache(64 << 20, _frame_bytes)
        self._agg_cache: OrderedDict[int, blk.Aggregate] = OrderedDict()
        self._agg_cache_entries = 0
        self._agg_cache_max_entries = 5_000_000  # stack/value pairs, ~12 bytes each
        self._agg_loading: dict[int, threading.Event] = {}  # block id -> set once decoded
        if migrate:
            upgrade(self.engine)
        if self.is_sqlite:
            _watch_sqlite_file(self.engine)
            self.insert = _sqlite_insert
        else:
            self.insert = _pg_insert

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ write

    @_unavailable
    def write(self, tenant: str, batches: Sequence[SeriesBatch | ColumnBatch], *,
              agent_id: str = "", seq: int = -1, losses: Sequence[AgentLoss] = (),
              within: Callable[[Connection], None] | None = None,
              max_series: int | None = None) -> int:
        """Store the batches in one transaction (see `ProfileStore.write`).

        `within(conn)` writes more in that same transaction (the trace store's
        rows of one agent batch), after the blocks: all of it or none is
        stored, and a resent batch (agent_id, seq) runs neither. It may run
        more than once: a transaction that loses a race with another writer
        (deadlock, serialization failure) is retried from the start.
        """
        prepared = [b if isinstance(b, ColumnBatch) else from_samples(b.kind, b.labels, b.samples)
                    for b in batches if (b.samples if isinstance(b, SeriesBatch) else len(b.cols))]
        for attempt in range(4):
            try:
                return self._write(tenant, prepared, agent_id, seq, losses, within, max_series)
            except OperationalError as e:
                if attempt == 3 or self.is_sqlite:
                    raise
                log.info("write retried after %s", str(e).splitlines()[0])
                time.sleep(0.05 * (attempt + 1))
        return 0

    def _write(
        self,
        tenant: str,
        batches: list[ColumnBatch],
        agent_id: str,
        seq: int,
        losses: Sequence[AgentLoss] = (),
        within: Callable[[Connection], None] | None = None,
        max_series: int | None = None,
    ) -> int:
        prepared = batches
        pending_frames: dict[Frame, int] = {}
        pending_ident: list[tuple[Frame, int]] = []
        pending_stacks: dict[tuple[int, ...], int] = {}
        pending_series: dict[bytes, int] = {}
        pending_alias: dict = {}
        # Frames and stacks first, in transactions of their own of at most
        # _INTERN_ROWS rows each (the write lock is taken per chunk): one agent
        # batch of 300k distinct stacks held SQLite's lock for 15.6 s in one
        # transaction. They are content-addressed dictionaries, invisible
        # until a block names them, so a request refused later leaves no
        # data behind, only entries the next writer of that stack reuses.
        keyed, unknown = self._keyed_stack_ids(prepared, pending_alias)
        plain = [b for b in prepared if b.stack_keys is None]
        subs = [sub for sub, _ in unknown]
        fmaps = self._frame_ids_of(plain + subs, pending_frames, pending_ident)
        resolved = self._stack_ids_of(plain + subs, fmaps, pending_stacks)
        for (_sub, fill), ids in zip(unknown, resolved[len(plain):], strict=True):
            fill(ids)
        plain_maps = iter(resolved[:len(plain)])
        smaps = [keyed[id(b)] if b.stack_keys is not None else next(plain_maps)
                 for b in prepared]
        # Blocks are encoded before the lock: the transaction only inserts.
        series_rows = {}
        rows = []
        stored = 0
        for b, smap in zip(prepared, smaps, strict=True):
            lj = labels_json(b.labels)
            key = _hash(tenant, b.kind, lj)
            series_rows[key] = {"key": key, "tenant": tenant, "kind": b.kind, "labels": lj}
            rows.append((key, _block_row(b.cols, smap)))
            stored += len(b.cols)
        lock = self._write_lock or _NoLock()
        with lock:
            with self.engine.begin() as conn:
                if agent_id:
                    # RETURNING, not rowcount: psycopg reports -1 for an insert
                    # that did nothing, so PostgreSQL stored every resend again.
                    res = conn.execute(
                        self.insert(schema.agent_batches).returning(schema.agent_batches.c.seq),
                        {"tenant": tenant, "agent_id": agent_id, "seq": seq,
                         "received_ns": time.time_ns()},
                    )
                    if res.first() is None:  # already stored: acknowledge, store nothing
                        return 0
                if losses:
                    conn.execute(schema.agent_losses.insert(), [
                        {"tenant": tenant, "host": x.host, "reason": x.reason,
                         "ts_ns": x.ts_ns, "count": x.count} for x in losses])
                if max_series is not None:
                    self._check_series_limit(conn, tenant, series_rows, max_series)
                serids = self._resolve(conn, schema.series, self._series_ids, pending_series,
                                       series_rows)
                if rows:
                    conn.execute(schema.blocks.insert(),
                                 [{**row, "series_id": serids[key]} for key, row in rows])
                if within is not None:
                    within(conn)
        with self._cache_lock:
            # Frame objects are held by the cache, so their id() stays theirs.
            for f, fid in pending_ident:
                self._frame_by_ident.put(id(f), (f, fid))
            for cache, pending in ((self._frame_by_obj, pending_frames),
                                   (self._stack_by_ids, pending_stacks),
                                   (self._series_ids, pending_series),
                                   (self._stack_by_key, pending_alias)):
                for k, v in pending.items():
                    cache.put(k, v)
        return stored

    def _check_series_limit(self, conn: Connection, tenant: str, rows: dict[bytes, dict],
                            limit: int) -> None:
        """Raise `SeriesLimitExceeded` when the rows' new series would pass `limit`.

        Runs in the write's transaction before anything of the request's series
        is inserted, so a refused request leaves nothing; series known to the
        cache cost nothing. Concurrent PostgreSQL writers may each pass the
        check, so the bound holds to within a few requests' series. A series
        counts while it has samples (blocks) within retention.
        """
        unknown = [k for k in rows if k not in self._series_ids]
        if not unknown:
            return
        found: dict[bytes, int] = {}
        self._lookup(conn, schema.series, unknown, found)
        new = len(unknown) - len(found)
        if not new:
            return
        # Series with samples still within retention: an expired one no longer counts.
        c, b = schema.series.c, schema.blocks.c
        have = conn.execute(select(func.count()).select_from(schema.series).where(
            c.tenant == tenant,
            select(b.id).where(b.series_id == c.id).exists())).scalar() or 0
        if have + new > limit:
            raise SeriesLimitExceeded(tenant, have, new, limit)

    def _keyed_stack_ids(self, batches: list[ColumnBatch], pending: dict
                         ) -> tuple[dict[int, list], list[tuple[ColumnBatch, Callable]]]:
        """Stack ids of batches that name stacks by key, from the cache.

        Returns ({id(batch): stack ids, None where unknown}, [(a batch holding
        just the unknown stacks' frames, a function that takes their ids)]).
        """
        known: dict[int, list] = {}
        unknown = []
        cache = self._stack_by_key
        for b in batches:
            if b.stack_keys is None:
                continue
            ids = known[id(b)] = list(map(cache.get, b.stack_keys))
            missing = [i for i, x in enumerate(ids) if x is None]
            if not missing:
                continue
            frames: list[Frame] = []
            index: dict[Frame, int] = {}
            stacks = []
            for i in missing:
                stack = []
                for f in b.stack_frames(i):
                    j = index.get(f)
                    if j is None:
                        j = index[f] = len(frames)
                        frames.append(f)
                    stack.append(j)
                stacks.append(tuple(stack))
            sub = ColumnBatch(b.kind, b.labels, frames, stacks, SampleColumns())

            def fill(sids: list[int], b=b, ids=ids, missing=missing) -> None:
                for i, sid in zip(missing, sids, strict=True):
                    ids[i] = sid
                    pending[b.stack_keys[i]] = sid

            unknown.append((sub, fill))
        return known, unknown

    def _frame_ids_of(self, batches: list[ColumnBatch],
                      pending: dict[Frame, int], pending_ident: list[tuple[Frame, int]]
                      ) -> list[list[int]]:
        cache = self._frame_by_obj
        by_ident = self._frame_by_ident
        missing: dict[bytes, Frame] = {}
        seen_tables: set[int] = set()
        for b in batches:
            if id(b.frames) in seen_tables:  # batches may share one frame table
                continue
            seen_tables.add(id(b.frames))
            for f in b.frames:
                e = by_ident.get(id(f))
                if e is not None and e[0] is f:
                    continue
                if f not in cache and f not in pending:
                    missing[frame_key(f)] = f
        if missing:
            ids = self._intern(schema.frames,
                               {k: _frame_row(k, f) for k, f in missing.items()})
            for k, f in missing.items():
                pending[f] = ids[k]
        memo: dict[int, list[int]] = {}
        out = []
        for b in batches:
            m = memo.get(id(b.frames))
            if m is None:
                m = memo[id(b.frames)] = []
                for f in b.frames:
                    e = by_ident.get(id(f))
                    if e is not None and e[0] is f:
                        m.append(e[1])
                    else:
                        fid = cache.get(f) or pending[f]
                        m.append(fid)
                        pending_ident.append((f, fid))
            out.append(m)
        return out

    def _stack_ids_of(self, batches: list[ColumnBatch],
                      fmaps: list[list[int]], pending: dict[tuple[int, ...], int]
                      ) -> list[list[int]]:
        cache = self._stack_by_ids
        globals_ = []
        missing: dict[bytes, tuple[int, ...]] = {}
        memo: dict[tuple[int, int], list] = {}
        for b, fmap in zip(batches, fmaps, strict=True):
            mk = (id(b.stacks), id(fmap))
            g = memo.get(mk)
            if g is not None:
                globals_.append(g)
                continue
            g = memo[mk] = [tuple(fmap[i] for i in st) for st in b.stacks]
            globals_.append(g)
            for t in g:
                if t not in cache and t not in pending:
                    packed = _pack(t)
                    missing[hashlib.blake2b(packed, digest_size=16).digest()] = t
        if missing:
            rows = {k: {"key": k, "frames": _pack(t)} for k, t in missing.items()}
            ids = self._intern(schema.stacks, rows)
            for k, t in missing.items():
                pending[t] = ids[k]
        resolved: dict[int, list[int]] = {}
        out = []
        for g in globals_:
            r = resolved.get(id(g))
            if r is None:
                r = resolved[id(g)] = [cache.get(t) or pending[t] for t in g]
            out.append(r)
        return out

    def _intern(self, table, rows: dict[bytes, dict]) -> dict[bytes, int]:
        """Ids of content-addressed rows (frames, stacks), inserting the missing.

        At most _INTERN_ROWS rows per transaction, each under the write lock,
        so other writers and readers get their turn between chunks.
        """
        out: dict[bytes, int] = {}
        keys = list(rows)
        for i in range(0, len(keys), _INTERN_ROWS):
            chunk = {k: rows[k] for k in keys[i:i + _INTERN_ROWS]}
            with self._write_lock or _NoLock(), self.engine.begin() as conn:
                out.update(self._resolve(conn, table, _NO_CACHE, {}, chunk))
        return out

    def _resolve(self, conn: Connection, table, cache, pending: dict,
                 rows: dict[bytes, dict]) -> dict[bytes, int]:
        out, missing = _split_cached(cache, rows)
        if missing:
            self._lookup(conn, table, missing, out)
            # Sorted keys: concurrent writers lock rows in one order and cannot deadlock.
            new = [rows[k] for k in sorted(missing) if k not in out]
            if new:
                conn.execute(self.insert(table), new)
                self._lookup(conn, table, [r["key"] for r in new], out)
            for k in missing:
                pending[k] = out[k]
        return out

    @staticmethod
    def _lookup(conn: Connection, table, keys: list[bytes], out: dict) -> None:
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i:i + _CHUNK]
            for key, id_ in conn.execute(select(table.c.key, table.c.id)
                                         .where(table.c.key.in_(chunk))):
                out[bytes(key)] = id_

    # ------------------------------------------------------------------- read

    @_unavailable
    def series(self, tenant: str, kind: str | None = None) -> list[SeriesInfo]:
        q = select(schema.series.c.id, schema.series.c.kind, schema.series.c.labels).where(
            schema.series.c.tenant == tenant)
        if kind:
            q = q.where(schema.series.c.kind == kind)
        with self.engine.connect() as conn:
            return [SeriesInfo(i, k, json.loads(lj)) for i, k, lj in conn.execute(q)]

    @_unavailable
    def has_profiles(self, tenant: str) -> bool:
        q = select(schema.series.c.id).where(schema.series.c.tenant == tenant).limit(1)
        with self.engine.connect() as conn:
            return conn.execute(q).first() is not None

    @_unavailable
    def losses(self, tenant: str, lo: int, hi: int) -> list[AgentLoss]:
        c = schema.agent_losses.c
        q = (select(c.host, c.reason, func.sum(c.count), func.max(c.ts_ns))
             .where(c.tenant == tenant, c.ts_ns >= lo, c.ts_ns < hi)
             .group_by(c.host, c.reason))
        with self.engine.connect() as conn:
            out = [AgentLoss(h, r, int(n), int(t)) for h, r, n, t in conn.execute(q)]
        return sorted(out, key=lambda x: (-x.count, x.host, x.reason))

    @_unavailable
    def blocks(self, series_ids: Iterable[int], lo: int, hi: int) -> list[BlockRow]:
        """Blocks of the series overlapping [lo, hi), without their payloads."""
        ids = list(series_ids)
        b = schema.blocks.c
        out: list[BlockRow] = []
        with self.engine.connect() as conn:
            for i in range(0, len(ids), _CHUNK):
                q = select(b.id, b.series_id, b.t_start, b.t_end, b.level, b.n_samples,
                           b.total).where(b.series_id.in_(ids[i:i + _CHUNK]),
                                          b.t_start < hi, b.t_end > lo)
                out.extend(BlockRow(*r) for r in conn.execute(q))
        return out

    @_unavailable
    def aggregates(self, block_ids: Sequence[int]) -> dict[int, blk.Aggregate]:
        """Decoded aggregates by block id (cached: blocks are immutable).

        A block another request is decoding right now is waited for, not
        decoded twice: a page's first load asks for the flame graph and the
        timeline at once, over the same blocks.
        """
        out: dict[int, blk.Aggregate] = {}
        missing = []
        waits = []
        with self._cache_lock:
            for i in block_ids:
                a = self._agg_cache.get(i)
                if a is not None:
                    self._agg_cache.move_to_end(i)
                    out[i] = a
                elif i in self._agg_loading:
                    waits.append((i, self._agg_loading[i]))
                else:
                    missing.append(i)
                    self._agg_loading[i] = threading.Event()
        try:
            out.update(self._load_aggregates(missing))
        finally:
            with self._cache_lock:
                for i in missing:
                    self._agg_loading.pop(i).set()
        late = []
        for i, loaded in waits:
            loaded.wait(60)
            with self._cache_lock:
                a = self._agg_cache.get(i)
            if a is None:  # its loader failed, or it was evicted since
                late.append(i)
            else:
                out[i] = a
        out.update(self._load_aggregates(late))
        return out

    def _load_aggregates(self, block_ids: list[int]) -> dict[int, blk.Aggregate]:
        """Reads and decodes the blocks' aggregates, and caches them."""
        if not block_ids:
            return {}
        b = schema.blocks.c
        got = {}
        with self.engine.connect() as conn:
            for i in range(0, len(block_ids), _CHUNK):
                q = select(b.id, b.agg).where(b.id.in_(block_ids[i:i + _CHUNK]))
                for bid, agg in conn.execute(q):
                    got[bid] = blk.decode_agg(agg)
        with self._cache_lock:
            for bid, a in got.items():
                if bid not in self._agg_cache:
                    self._agg_cache[bid] = a
                    self._agg_cache_entries += _agg_size(a)
            while self._agg_cache_entries > self._agg_cache_max_entries and self._agg_cache:
                _, old = self._agg_cache.popitem(last=False)
                self._agg_cache_entries -= _agg_size(old)
        return got

    @_unavailable
    def raw(self, block_ids: Sequence[int]) -> dict[int, SampleColumns]:
        """Decoded per-sample columns by block id (absent for downsampled blocks)."""
        return {bid: blk.decode_raw(raw) for bid, raw in self.raw_blobs(block_ids).items()}

    @_unavailable
    def raw_blobs(self, block_ids: Sequence[int]) -> dict[int, bytes]:
        """Compressed per-sample columns by block id, undecoded."""
        b = schema.blocks.c
        out = {}
        ids = list(block_ids)
        with self.engine.connect() as conn:
            for i in range(0, len(ids), _CHUNK):
                q = select(b.id, b.raw).where(b.id.in_(ids[i:i + _CHUNK]), b.raw.is_not(None))
                for bid, raw in conn.execute(q):
                    out[bid] = bytes(raw)
        return out

    @_unavailable
    def stack_frames(self, stack_ids: Iterable[int], cache: bool = True
                     ) -> dict[int, Sequence[int]]:
        """Frame ids (root first) of each stack id, as arrays: 4 bytes a frame,
        where a tuple of ints took 36 (the 100-deep stacks of issue 15). Without
        `cache`, what is read is not kept (a caller that keeps its own form)."""
        c = schema.stacks.c

        def load(conn, ids):
            for sid, packed in conn.execute(select(c.id, c.frames).where(c.id.in_(ids))):
                yield sid, _unpack(packed)

        def load_range(conn, lo, hi):
            q = select(c.id, c.frames).where(c.id >= lo, c.id <= hi)
            for sid, packed in conn.execute(q):
                yield sid, _unpack(packed)

        if not cache:
            out: dict[int, Sequence[int]] = {}
            for got in self._read(list(stack_ids), load, load_range):
                out.update(got)
            return out
        return self._cached(stack_ids, self._stack_frames, load, load_range)

    @_unavailable
    def packed_stacks(self, stack_ids: Iterable[int]) -> tuple[list[int], list[bytes]]:
        """Stored stacks' ids (sorted; unknown ones left out) and each one's frame ids
        as stored (`array("I")` bytes, root first), uncached: what a view names its
        stacks from in bulk, with no object per stack (a host's hour is ~100k)."""
        ids, (frames,) = self._id_columns("stacks", ("frames",), sorted(set(stack_ids)))
        return ids, list(map(bytes, frames))  # bytes as they are; a driver's memoryview copied

    @_unavailable
    def frames(self, frame_ids: Iterable[int]) -> dict[int, Frame]:
        c = schema.frames.c

        def load(conn, ids):
            q = select(c.id, c.name, c.kind, c.module, c.build_id, c.offset, c.file,
                       c.line).where(c.id.in_(ids))
            for fid, name, kind, module, build_id, off, file, line in conn.execute(q):
                yield fid, Frame(name, kind, module, build_id,
                                 off + (1 << 64) if off < 0 else off, file, line)

        return self._cached(frame_ids, self._frames, load)

    @_unavailable
    def frame_names(self, frame_ids: Iterable[int]
                    ) -> tuple[list[int], list[str], list[str]]:
        """The known ones of `frame_ids` (sorted), and each one's name and kind:
        all a flame graph names a frame by, read without the rest of its row,
        as columns (a cold whole-host render names ~50k, interned in bulk)."""
        ids = sorted(set(frame_ids))  # a set of dense ids iterates nearly in order
        cached = list(map(self._frames.get, ids))
        if cached.count(None) == len(ids):
            found, (names, kinds) = self._id_columns("frames", ("name", "kind"), ids)
            return found, names, kinds
        known = [(i, f) for i, f in zip(ids, cached, strict=True) if f is not None]
        found, (names, kinds) = self._id_columns(
            "frames", ("name", "kind"), [i for i, f in zip(ids, cached, strict=True) if f is None])
        rows = sorted([*((i, f.name, f.kind) for i, f in known),
                       *zip(found, names, kinds, strict=True)], key=_FIRST)
        return list(map(_FIRST, rows)), list(map(_SECOND, rows)), list(map(_THIRD, rows))

    def _id_columns(self, table: str, columns: tuple[str, ...], ids: list[int]
                    ) -> tuple[list[int], list[list]]:
        """The ids of the sorted `ids` stored in `table`, and each one's
        `columns` (a list per column), read through the driver's cursor: a view
        reads ~100k stack and ~50k frame rows, where a SQLAlchemy row per row
        cost as much as the read. Runs of ids at least half dense are read by
        range (a view's stacks and frames were mostly stored together: one
        scan of the primary key), without the ids when every row of the range
        is wanted and stored; the rest by IN lists."""
        found: list[int] = []
        cols: list[list] = [[] for _ in columns]
        if not ids:
            return found, cols
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        names = ", ".join(columns)
        base = f"SELECT id, {names} FROM {table} WHERE "
        with self.engine.connect() as conn:
            dbapi = conn.dialect.loaded_dbapi

            def fetch(sql: str, params: tuple) -> list[tuple]:
                result = conn.exec_driver_sql(sql.replace("?", mark), params)
                try:
                    return result.cursor.fetchall()
                except dbapi.OperationalError as e:
                    raise StoreUnavailable(str(e).splitlines()[0]) from e
                finally:
                    result.close()

            def add(rows: list[tuple], first: int) -> None:
                for j, col in enumerate(cols, first):
                    col += map(operator.itemgetter(j), rows)

            want = set(ids)
            sparse: list[int] = []
            for run in _runs(ids):
                if len(run) >= _CHUNK and run[-1] - run[0] < 2 * len(run):
                    if run[-1] - run[0] + 1 == len(run):  # every row of the range wanted
                        rows = fetch(f"SELECT {names} FROM {table} WHERE id >= ? AND id <= ? "
                                     "ORDER BY id", (run[0], run[-1]))
                        if len(rows) == len(run):  # and stored: the ids are the run's
                            found += run
                            add(rows, 0)
                            continue
                    rows = fetch(base + "id >= ? AND id <= ? ORDER BY id", (run[0], run[-1]))
                    rows = [r for r in rows if r[0] in want]
                    found += map(_FIRST, rows)
                    add(rows, 1)
                else:
                    sparse += run
            ranged = bool(found)
            for i in range(0, len(sparse), _CHUNK):
                part = sparse[i:i + _CHUNK]
                rows = fetch(base + f"id IN ({', '.join('?' * len(part))}) ORDER BY id",
                             tuple(part))
                found += map(_FIRST, rows)
                add(rows, 1)
        if ranged and sparse:  # runs and the ids between them, each read in order
            order = sorted(range(len(found)), key=found.__getitem__)
            found = [found[i] for i in order]
            cols = [[col[i] for i in order] for col in cols]
        return found, cols

    def _cached(self, ids: Iterable[int], cache: ByteBoundedCache, load,
                load_range: Callable | None = None) -> dict:
        """Values by id from `cache`, loading the missing ones (`_read`)."""
        out, missing = _split_cached(cache, ids)
        for got in self._read(missing, load, load_range):
            with self._cache_lock:
                for key, value in got:
                    out[key] = value
                    cache.put(key, value)
        return out

    def _read(self, ids: list[int], load, load_range: Callable | None = None
              ) -> Iterator[list[tuple[int, object]]]:
        """(id, value) of `ids`, a batch at a time: `load(conn, ids)` reads _CHUNK
        ids by an IN list; with `load_range(conn, lo, hi)`, runs of ids at least
        half dense are read by range instead (a view's stacks and frames were
        mostly stored together: one scan of the primary key, not an IN list of
        500 per query)."""
        if not ids:
            return
        with self.engine.connect() as conn:
            sparse = ids
            if load_range is not None:
                want = set(ids)
                sparse = []
                for run in _runs(sorted(want)):
                    if len(run) >= _CHUNK and run[-1] - run[0] < 2 * len(run):
                        yield [(k, v) for k, v in load_range(conn, run[0], run[-1]) if k in want]
                    else:
                        sparse += run
            for i in range(0, len(sparse), _CHUNK):
                yield list(load(conn, sparse[i:i + _CHUNK]))

    def forget_blocks(self, block_ids: Iterable[int]) -> None:
        with self._cache_lock:
            for i in block_ids:
                old = self._agg_cache.pop(i, None)
                if old is not None:
                    self._agg_cache_entries -= _agg_size(old)

    # ---------------------------------------------------------------- upkeep

    @_unavailable
    def blocks_to_compact(self, level: int, ended_before_ns: int) -> list[StoredBlock]:
        b = schema.blocks.c
        with self.engine.connect() as conn:
            return [StoredBlock(*r) for r in conn.execute(select(
                b.id, b.series_id, b.t_start).where(b.level == level, b.t_end < ended_before_ns,
                                                    b.raw.is_not(None)))]

    @_unavailable
    def merge_blocks(self, series_id: int, block_ids: list[int], bucket_ns: int) -> bool:
        b = schema.blocks.c
        try:
            with self._write_lock or _NoLock(), self.engine.begin() as conn:
                parts = [blk.decode_raw(raw) for (raw,) in conn.execute(
                    select(b.raw).where(b.id.in_(block_ids), b.raw.is_not(None)))]
                cols = blk.concat(parts)
                if not len(cols):
                    return True
                t_start, t_end = cols.ts[0], cols.ts[-1] + 1000
                agg = blk.aggregate(cols, t_start, t_end, bucket_ns)
                conn.execute(schema.blocks.insert(), {
                    "series_id": series_id, "t_start": t_start, "t_end": t_end,
                    "level": blk.LEVEL_COMPACTED, "n_samples": len(cols),
                    "total": blk.saturate(sum(cols.value)), "agg": blk.encode_agg(agg, level=9),
                    "raw": blk.encode_raw(cols, level=9, chunks=[sp[:2] for sp in agg.spans]),
                })
                gone = conn.execute(delete(schema.blocks).where(b.id.in_(block_ids))).rowcount
                if gone != len(block_ids):
                    # Another server compacted some of these blocks meanwhile: undo ours.
                    raise _Conflict
        except _Conflict:
            return False
        self.forget_blocks(block_ids)
        return True

    @_unavailable
    def drop_samples(self, ended_before_ns: int) -> int:
        b = schema.blocks.c
        with self.engine.begin() as conn:
            res = conn.execute(update(schema.blocks).where(
                b.t_end < ended_before_ns, b.raw.is_not(None)).values(
                    raw=None, level=blk.LEVEL_DOWNSAMPLED))
            return res.rowcount or 0

    @_unavailable
    def expire(self, ended_before_ns: int) -> int:
        b = schema.blocks.c
        with self.engine.begin() as conn:
            ids = [r[0] for r in conn.execute(select(b.id).where(b.t_end < ended_before_ns))]
            if ids:
                conn.execute(delete(schema.blocks).where(b.id.in_(ids)))
            conn.execute(delete(schema.agent_batches).where(
                schema.agent_batches.c.received_ns < ended_before_ns))
            conn.execute(delete(schema.agent_losses).where(
                schema.agent_losses.c.ts_ns < ended_before_ns))
        self.forget_blocks(ids)
        return len(ids)

    @_unavailable
    def size_bytes(self) -> int:
        """Bytes on disk (SQLite file) or in the database (PostgreSQL)."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                page = conn.exec_driver_sql("PRAGMA page_size").scalar()
                count = conn.exec_driver_sql("PRAGMA page_count").scalar()
                free = conn.exec_driver_sql("PRAGMA freelist_count").scalar()
                return int(page * (count - free))
            return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())")
                       .scalar())


_FIRST = operator.itemgetter(0)
_SECOND = operator.itemgetter(1)
_THIRD = operator.itemgetter(2)


def _runs(ids: list[int], gap: int = 16, most: int = 20_000) -> Iterator[list[int]]:
    """Sorted ids in runs with no gap over `gap`, of at most `most` ids. The
    gaps are found in C (a cold view reads ~100k stack ids and ~50k frame ids)."""
    n = len(ids)
    ends = compress(range(1, n), map(gap.__lt__, map(operator.sub, islice(ids, 1, None), ids)))
    start = 0
    for end in (*ends, n):
        for i in range(start, end, most):
            yield ids[i:min(i + most, end)]
        start = end


def _stack_bytes(_sid: int, frames: array) -> int:
    return 180 + 4 * len(frames)  # the LRU's entry, the id, the array and its items


def _frame_bytes(_fid: int, f: Frame) -> int:
    return 400 + len(f.name) + len(f.module) + len(f.build_id) + len(f.file)


def _frame_entry_bytes(f: Frame, fid: int) -> int:
    return _frame_bytes(fid, f) + 100  # and its id, in a dict entry


def _ident_entry_bytes(_ident: int, entry: tuple[Frame, int]) -> int:
    return _frame_bytes(entry[1], entry[0]) + 160


def _stack_entry_bytes(frames: tuple[int, ...], _sid: int) -> int:
    return 160 + 40 * len(frames)  # the tuple, a pointer and an int object per frame id


def _key_entry_bytes(_key, _sid: int) -> int:
    return 200  # a pprof stack key (an id, or reason and id) and its stack id


def _series_entry_bytes(_key: bytes, _sid: int) -> int:
    return 200  # 16-byte key and id


def _block_row(cols: SampleColumns, smap: list[int]) -> dict:
    """A batch's samples as an ingested block's row (all but its series id)."""
    cols = dataclasses.replace(cols, stack=array("I", [smap[i] for i in cols.stack]))
    if not all(map(operator.le, cols.ts, islice(cols.ts, 1, None))):  # unsorted
        cols = blk.concat([cols])
    t_start, t_end = cols.ts[0], cols.ts[-1] + 1000
    agg = blk.aggregate(cols, t_start, t_end, WHOLE_BLOCK)
    return {"t_start": t_start, "t_end": t_end, "level": blk.LEVEL_INGESTED,
            "n_samples": len(cols), "total": blk.saturate(sum(cols.value)),
            "agg": blk.encode_agg(agg),
            "raw": blk.encode_raw(cols, chunks=[sp[:2] for sp in agg.spans])}


def _agg_size(a: blk.Aggregate) -> int:
    """Stack/value pairs (12 bytes each) of the whole block, its buckets and its threads."""
    return len(a.stacks) + blk.table_pairs(a.buckets) + blk.table_pairs(a.thread_tables) + 1


class _Conflict(Exception):
    """A merge lost a race with another server's merge of the same blocks."""


class _NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _frame_row(key: bytes, f: Frame) -> dict:
    return {"key": key, "name": f.name, "kind": f.kind, "module": f.module,
            "build_id": f.build_id, "offset": f.offset - (1 << 64) if f.offset >= 1 << 63
            else f.offset, "file": f.file, "line": f.line}


def _pack(ids: Iterable[int]) -> bytes:
    return array("I", ids).tobytes()


def _unpack(b: bytes) -> array:
    a = array("I")
    a.frombytes(bytes(b))
    return a


def _watch_sqlite_file(engine: Engine) -> None:
    """Refuse every use of the engine once its SQLite file is deleted or replaced.

    SQLite keeps writing to a deleted file through its open descriptors, so
    pushes would be acknowledged into a file no restart can find. Each
    connection checkout (and every new connection, which would otherwise
    create an empty file in its place) compares the path's (device, inode)
    with the one opened (a stat, ~2 µs): a difference is `StoreUnavailable`
    (503, agents keep their batches spooled; /healthz is unhealthy).
    """
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    st = os.stat(path)
    ident = (st.st_dev, st.st_ino)

    def check(*_args) -> None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise StoreUnavailable(f"the database file {path} was deleted") from None
        if (st.st_dev, st.st_ino) != ident:
            raise StoreUnavailable(f"the database file {path} was replaced")

    event.listen(engine, "do_connect", check)
    event.listen(engine, "checkout", check)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_insert(table):
    from sqlalchemy.dialects.sqlite import insert

    return insert(table).on_conflict_do_nothing()


def _pg_insert(table):
    from sqlalchemy.dialects.postgresql import insert

    return insert(table).on_conflict_do_nothing()
