"""Background upkeep of the store: compaction, downsampling, retention.

* Compaction merges the small blocks of one series (one per push) into one
  block per series and closed 10-minute window, then those into one block per
  closed hour, with 5-minute aggregate buckets and stronger zstd: this is what
  brings storage to a few bytes per sample and keeps the number of blocks a
  query touches small.
* Downsampling drops the per-sample columns of blocks older than
  `downsample_after_s`, keeping their aggregates (flame graphs, top, timeline
  at bucket resolution), so old data stays queryable at a fraction of the size.
* Retention deletes blocks, spans and linked samples older than `retention_s`
  (default 7 days).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import and_, delete, select, update

from profiler.store import blocks as blk
from profiler.store import schema
from profiler.store.store import Store
from profiler.store.traces import TraceStore

log = logging.getLogger(__name__)

HOUR_NS = 3600 * 10**9
BUCKET_NS = 300 * 10**9


@dataclass
class MaintenanceConfig:
    retention_s: int = 7 * 86400
    downsample_after_s: int = 86400
    compact_after_s: int = 60          # let a window's late pushes settle before compacting
    small_window_ns: int = 600 * 10**9  # stage 1: pushes -> 10-minute blocks
    window_ns: int = HOUR_NS            # stage 2: 10-minute blocks -> hour blocks
    bucket_ns: int = BUCKET_NS
    interval_s: float = 30.0


def compact(store: Store, cfg: MaintenanceConfig, now_ns: int | None = None,
            max_groups: int = 200) -> int:
    """Merge blocks of closed windows; returns how many merges were done.

    Stage 1 merges the level-0 blocks (one per push) of each series and closed
    10-minute window; stage 2 merges the level-1 blocks of each series and
    closed hour. Only closed windows are merged, so no block is rewritten
    again and again while its window fills.
    """
    now_ns = now_ns or time.time_ns()
    settle = cfg.compact_after_s * 10**9
    b = schema.blocks.c
    done = 0
    for level, window in ((0, cfg.small_window_ns), (1, cfg.window_ns)):
        with store.engine.connect() as conn:
            rows = conn.execute(select(b.id, b.series_id, b.t_start).where(
                b.level == level, b.t_end < now_ns - settle, b.raw.is_not(None))).all()
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for bid, sid, t0 in rows:
            w0 = t0 - t0 % window
            if w0 + window + settle <= now_ns:
                groups[(sid, w0)].append(bid)
        for (sid, w0), ids in groups.items():
            if done >= max_groups:
                return done
            if level == 1 and len(ids) < 2:
                continue
            _merge(store, cfg, sid, w0, ids)
            done += 1
    return done


def _merge(store: Store, cfg: MaintenanceConfig, sid: int, w0: int, ids: list[int]) -> None:
    b = schema.blocks.c
    lock = store._write_lock
    if lock:
        lock.acquire()
    try:
        with store.engine.begin() as conn:
            parts = [blk.decode_raw(raw) for (raw,) in conn.execute(
                select(b.raw).where(b.id.in_(ids), b.raw.is_not(None)))]
            cols = blk.concat(parts)
            if not len(cols):
                return
            t_start, t_end = cols.ts[0], cols.ts[-1] + 1000
            agg = blk.aggregate(cols, t_start, t_end, cfg.bucket_ns)
            conn.execute(schema.blocks.insert(), {
                "series_id": sid, "t_start": t_start, "t_end": t_end, "level": 1,
                "n_samples": len(cols), "total": sum(cols.value),
                "agg": blk.encode_agg(agg, level=9), "raw": blk.encode_raw(
                    cols, level=9, chunks=[sp[:2] for sp in agg.spans]),
            })
            gone = conn.execute(delete(schema.blocks).where(b.id.in_(ids))).rowcount
            if gone != len(ids):
                # Another server compacted some of these blocks meanwhile: undo ours.
                raise _Conflict
    except _Conflict:
        log.info("compaction of series %d window %d lost a race; skipped", sid, w0)
        return
    finally:
        if lock:
            lock.release()
    store.forget_blocks(ids)


class _Conflict(Exception):
    pass


def downsample(store: Store, cfg: MaintenanceConfig, now_ns: int | None = None) -> int:
    """Drop per-sample columns of old blocks, keeping their aggregates."""
    now_ns = now_ns or time.time_ns()
    b = schema.blocks.c
    cutoff = now_ns - cfg.downsample_after_s * 10**9
    with store.engine.begin() as conn:
        res = conn.execute(update(schema.blocks).where(
            and_(b.t_end < cutoff, b.raw.is_not(None))).values(raw=None, level=2))
        return res.rowcount or 0


def expire(store: Store, cfg: MaintenanceConfig, now_ns: int | None = None,
           traces: TraceStore | None = None) -> int:
    """Delete blocks, agent batch records and trace data past retention."""
    now_ns = now_ns or time.time_ns()
    cutoff = now_ns - cfg.retention_s * 10**9
    b = schema.blocks.c
    with store.engine.begin() as conn:
        ids = [r[0] for r in conn.execute(select(b.id).where(b.t_end < cutoff))]
        if ids:
            conn.execute(delete(schema.blocks).where(b.id.in_(ids)))
        conn.execute(delete(schema.agent_batches).where(
            schema.agent_batches.c.received_ns < cutoff))
    if traces is not None:
        traces.expire(cutoff)
    store.forget_blocks(ids)
    return len(ids)


def run_once(store: Store, cfg: MaintenanceConfig, now_ns: int | None = None,
             traces: TraceStore | None = None) -> None:
    expire(store, cfg, now_ns, traces)
    downsample(store, cfg, now_ns)
    compact(store, cfg, now_ns)


class Maintenance(threading.Thread):
    """Daemon thread running `run_once` every `interval_s` until stopped."""

    def __init__(self, store: Store, cfg: MaintenanceConfig | None = None,
                 traces: TraceStore | None = None) -> None:
        super().__init__(name="flamecam-maintenance", daemon=True)
        self.store = store
        self.traces = traces
        self.cfg = cfg or MaintenanceConfig()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.cfg.interval_s):
            try:
                run_once(self.store, self.cfg, traces=self.traces)
            except Exception:  # keep the server up; the next round retries
                log.exception("store maintenance failed")

    def stop(self) -> None:
        self._stop_event.set()
