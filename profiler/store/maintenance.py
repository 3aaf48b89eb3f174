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

from profiler.store.interface import MaintainedStore, StoreUnavailable
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


def compact(store: MaintainedStore, cfg: MaintenanceConfig, now_ns: int | None = None,
            max_groups: int = 200, skipped: set[tuple[int, int, int]] | None = None) -> int:
    """Merge blocks of closed windows; returns how many merges were done.

    Stage 1 merges the level-0 blocks (one per push) of each series and closed
    10-minute window; stage 2 merges the level-1 blocks of each series and
    closed hour. Only closed windows are merged, so no block is rewritten
    again and again while its window fills.

    A group whose merge fails for a reason of its own (a block that cannot be
    read) is logged once, added to `skipped` (level, series, window) and left
    as it is; the other groups are still merged, this round and the next. A
    database that is unavailable stops the round (the next one retries).
    """
    skipped = set() if skipped is None else skipped
    now_ns = now_ns or time.time_ns()
    settle = cfg.compact_after_s * 10**9
    done = 0
    for level, window in ((0, cfg.small_window_ns), (1, cfg.window_ns)):
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for b in store.blocks_to_compact(level, now_ns - settle):
            w0 = b.t_start - b.t_start % window
            if w0 + window + settle <= now_ns:
                groups[(b.series_id, w0)].append(b.id)
        for (sid, w0), ids in groups.items():
            if done >= max_groups:
                return done
            if (level == 1 and len(ids) < 2) or (level, sid, w0) in skipped:
                continue
            try:
                if not store.merge_blocks(sid, ids, cfg.bucket_ns):
                    log.info("compaction of series %d window %d lost a race; skipped", sid, w0)
            except StoreUnavailable:
                raise
            except Exception:  # one bad group must not leave every later one uncompacted
                skipped.add((level, sid, w0))
                log.exception("cannot compact series %d window %d (level %d, %d blocks); "
                              "left as it is and skipped from now on", sid, w0, level, len(ids))
                continue
            done += 1
    return done


def downsample(store: MaintainedStore, cfg: MaintenanceConfig, now_ns: int | None = None) -> int:
    """Drop per-sample columns of old blocks, keeping their aggregates."""
    now_ns = now_ns or time.time_ns()
    return store.drop_samples(now_ns - cfg.downsample_after_s * 10**9)


def expire(store: MaintainedStore, cfg: MaintenanceConfig, now_ns: int | None = None,
           traces: TraceStore | None = None) -> int:
    """Delete blocks, agent batch records and trace data past retention."""
    now_ns = now_ns or time.time_ns()
    cutoff = now_ns - cfg.retention_s * 10**9
    gone = store.expire(cutoff)
    if traces is not None:
        traces.expire(cutoff)
    return gone


def run_once(store: MaintainedStore, cfg: MaintenanceConfig, now_ns: int | None = None,
             traces: TraceStore | None = None,
             skipped: set[tuple[int, int, int]] | None = None) -> None:
    expire(store, cfg, now_ns, traces)
    downsample(store, cfg, now_ns)
    compact(store, cfg, now_ns, skipped=skipped)


class Maintenance(threading.Thread):
    """Daemon thread running `run_once` every `interval_s` until stopped."""

    def __init__(self, store: MaintainedStore, cfg: MaintenanceConfig | None = None,
                 traces: TraceStore | None = None) -> None:
        super().__init__(name="flamecam-maintenance", daemon=True)
        self.store = store
        self.traces = traces
        self.cfg = cfg or MaintenanceConfig()
        self._stop_event = threading.Event()
        self.skipped: set[tuple[int, int, int]] = set()  # groups that cannot be compacted

    def run(self) -> None:
        while not self._stop_event.wait(self.cfg.interval_s):
            try:
                run_once(self.store, self.cfg, traces=self.traces, skipped=self.skipped)
            except Exception:  # keep the server up; the next round retries
                log.exception("store maintenance failed")

    def stop(self) -> None:
        self._stop_event.set()
