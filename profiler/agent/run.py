"""`run_agent`: everything of `flamecam agent` except the sampler.

The loop polls the sample source ten times a second, takes (symbolizes) what
it collected once a second, and every `interval_s` labels what it took,
encodes it as one zstd batch, spools it, and wakes the uploader thread, so a
slow or absent server never stalls sampling.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from profiler.agent.batch import encode_batch
from profiler.agent.labels import Labeler
from profiler.agent.metrics import Metrics, serve_metrics
from profiler.agent.spool import Spool
from profiler.agent.uploader import Uploader
from profiler.model import Sample, ThreadSpan

log = logging.getLogger(__name__)

# How often samples are taken from the source (as `flamecam record` does).
# Not at every 100 ms poll: the recorder's caches of named stacks and Python
# frames live for one take, and each take drains the off-CPU sums and checks
# which processes exited, so taking ten times a second did all that ten times.
TAKE_INTERVAL_S = 1.0


class SampleSource(Protocol):
    stats: dict

    def poll(self, timeout_ms: int) -> object: ...

    def take(self) -> list[Sample]: ...

    # Optional: `take_thread_spans() -> list[ThreadSpan]` (the Recorder has it).


@dataclass
class AgentOptions:
    interval_s: float = 10.0
    spool_dir: str = "data/agent-spool"
    spool_max_bytes: int = 256 << 20
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 4041      # None: no /metrics endpoint
    host: str | None = None              # the `host` label; default: hostname
    extra_labels: dict[str, str] = field(default_factory=dict)
    tenant: str | None = None            # X-Scope-OrgID
    token: str | None = None             # Bearer token, or "user:password" for Basic
    drain_on_stop_s: float = 10.0


@dataclass
class AgentResult:
    batches: list[int]      # seqs of the batches spooled
    samples: int            # samples taken (spooled or dropped)
    metrics: Metrics

    def summary(self) -> str:
        """One line for the operator: what was taken, and every loss with its samples."""
        c = self.metrics.counters
        return (f"took {self.samples} samples in {len(self.batches)} batches; "
                f"{int(c['flamecam_agent_batches_sent_total'])} batches acknowledged; lost "
                f"{int(c['flamecam_agent_spool_dropped_samples_total'])} samples in "
                f"{int(c['flamecam_agent_spool_dropped_batches_total'])} batches dropped "
                f"from the spool and {int(c['flamecam_agent_rejected_samples_total'])} in "
                f"{int(c['flamecam_agent_batches_rejected_total'])} batches rejected by the "
                f"server")


def _agent_id(spool_dir: Path) -> str:
    path = spool_dir / "agent-id"
    try:
        return path.read_text().strip()
    except OSError:
        aid = f"{os.uname().nodename}-{uuid.uuid4().hex[:12]}"
        try:
            path.write_text(aid)
        except OSError as e:  # a full disk must not stop profiling
            path.unlink(missing_ok=True)
            log.warning("cannot keep the agent id in %s (%s): %s for this run", path,
                        e.strerror or e, aid)
        return aid


def run_agent(server_url: str, source: SampleSource, options: AgentOptions | None = None,
              stop: threading.Event | None = None) -> AgentResult:
    """Ship samples from `source` to `server_url` until `stop` is set."""
    opts = options or AgentOptions()
    stop = stop or threading.Event()
    spool = Spool(opts.spool_dir, opts.spool_max_bytes)
    agent_id = _agent_id(spool.dir)
    metrics = Metrics()
    labeler = Labeler(opts.host, opts.extra_labels)
    headers = {}
    if opts.tenant:
        headers["X-Scope-OrgID"] = opts.tenant
    if opts.token:
        if ":" in opts.token:
            import base64

            headers["Authorization"] = "Basic " + base64.b64encode(opts.token.encode()).decode()
        else:
            headers["Authorization"] = f"Bearer {opts.token}"
    uploader = Uploader(server_url, spool, metrics, headers=headers)
    uploader.start()
    msrv = None
    if opts.metrics_port is not None:
        try:
            msrv = serve_metrics(metrics, opts.metrics_host, opts.metrics_port)
            log.info("agent metrics on http://%s:%d/metrics", opts.metrics_host,
                     msrv.server_address[1])
        except OSError as e:  # a busy port must not stop profiling
            log.warning("no /metrics endpoint on %s:%s: %s", opts.metrics_host,
                        opts.metrics_port, e)
    sent: list[int] = []
    total = 0
    pending: list[Sample] = []
    pending_spans: list[ThreadSpan] = []
    take_spans = getattr(source, "take_thread_spans", None)
    last_lost: dict[str, int] = {}
    next_flush = time.monotonic() + opts.interval_s
    take_every = min(TAKE_INTERVAL_S, opts.interval_s)
    next_take = time.monotonic() + take_every

    def flush() -> None:
        nonlocal total, pending, pending_spans
        stats = dict(getattr(source, "stats", {}) or {})
        lost = {}
        if "tracectx_processes" in stats:
            metrics.set("flamecam_agent_tracectx_processes", stats["tracectx_processes"])
        metrics.set("flamecam_agent_runtime_unreadable_processes_total",
                    int(stats.get("runtime_unreadable", 0)))
        metrics.set("flamecam_agent_tracectx_refused_announcements_total",
                    int(stats.get("tracectx_refused", 0)))
        metrics.set("flamecam_agent_offcpu_keep_every", int(stats.get("offcpu_keep_every", 1)))
        # Losses since the previous batch travel with the next one: the
        # sampler's, and the samples this agent dropped or the server refused.
        with metrics.lock:
            counts = {"spool_dropped": spool.dropped_samples, "rejected":
                      int(metrics.counters["flamecam_agent_rejected_samples_total"])}
        for key, metric in (("lost_cpu", "flamecam_agent_sampler_lost_cpu_total"),
                            ("lost_offcpu", "flamecam_agent_sampler_lost_offcpu_total"),
                            ("tracectx_lost_records",
                             "flamecam_agent_tracectx_lost_records_total"),
                            ("tracectx_bad_records", "flamecam_agent_tracectx_bad_records_total"),
                            ("tracectx_unreadable", "flamecam_agent_tracectx_unreadable_total"),
                            ("tracectx_torn", "flamecam_agent_tracectx_torn_total"),
                            ("offcpu_summed", "flamecam_agent_offcpu_summed_total"),
                            ("offcpu_missed_switch_in",
                             "flamecam_agent_offcpu_missed_switch_in_total")):
            counts[key] = int(stats.get(key, 0))
            metrics.set(metric, counts[key])
        for key, v in counts.items():
            if v - last_lost.get(key, 0):
                lost[key] = v - last_lost.get(key, 0)
            last_lost[key] = v
        if not pending and not pending_spans:
            spool.carry(lost)  # no batch to travel with: the next one reports them
            return
        for key, v in spool.take_unreported().items():  # what dropped batches carried
            lost[key] = lost.get(key, 0) + v
        seq = spool.next_seq()
        by_pid: dict[int, dict[str, str]] = {}  # one /proc look per process, not per sample

        def labels_of(s: Sample) -> dict[str, str]:
            got = by_pid.get(s.pid)
            if got is None:
                got = by_pid[s.pid] = labeler.labels(s.pid, s.comm)
            return got

        data = encode_batch(pending, labels_of, agent_id=agent_id,
                            seq=seq, lost=lost, thread_spans=pending_spans)
        spool.put(seq, data, len(pending))
        uploader.update_gauges()
        sent.append(seq)
        total += len(pending)
        metrics.inc("flamecam_agent_samples_total", len(pending))
        metrics.inc("flamecam_agent_thread_spans_total", len(pending_spans))
        pending, pending_spans = [], []
        uploader.wake.set()

    try:
        while not stop.is_set():
            source.poll(timeout_ms=100)
            now = time.monotonic()
            if now >= next_take or now >= next_flush:
                pending.extend(source.take())
                if take_spans is not None:
                    pending_spans.extend(take_spans())
                next_take = now + take_every
            if now >= next_flush:
                flush()
                next_flush += opts.interval_s
        pending.extend(source.take())
        if take_spans is not None:
            pending_spans.extend(take_spans())
        flush()
    finally:
        uploader.stop()
        uploader.join(timeout=opts.interval_s + 15)
        if opts.drain_on_stop_s > 0:
            uploader.drain(deadline=time.monotonic() + opts.drain_on_stop_s)
        if msrv:
            msrv.shutdown()
    return AgentResult(sent, total, metrics)
