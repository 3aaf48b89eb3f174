"""Sends spooled batches to the server, oldest first, retrying with backoff.

A batch leaves the spool only when the server acknowledged it (2xx) or
rejected it as bad data (4xx other than 401/408/413/429, counted with its
samples and logged): retrying bad data would block the queue forever. A batch
too large for the server (413) is split in two and both halves are spooled
(a single sample that is still too large is counted as rejected). Connection
errors, 5xx and 429 keep it and retry; the server drops resends by
(agent_id, seq).
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from profiler.agent.batch import contents, split_batch
from profiler.agent.metrics import Metrics
from profiler.agent.spool import Spool
from profiler.formats.proto import AGENT_BATCH_CONTENT_TYPE as CONTENT_TYPE

log = logging.getLogger(__name__)

PUSH_PATH = "/api/v1/agent/push"
_RETRY = {401, 408, 429}


class Uploader(threading.Thread):
    def __init__(self, server_url: str, spool: Spool, metrics: Metrics, *,
                 headers: dict[str, str] | None = None, timeout_s: float = 10.0,
                 max_backoff_s: float = 30.0) -> None:
        super().__init__(name="flamecam-uploader", daemon=True)
        self.url = server_url.rstrip("/") + PUSH_PATH
        self.spool = spool
        self.metrics = metrics
        self.timeout_s = timeout_s
        self.max_backoff_s = max_backoff_s
        # The standard library is enough for one upload every few seconds, and
        # keeps the agent free of third-party HTTP dependencies.
        self.headers = {"Content-Type": CONTENT_TYPE, "Content-Encoding": "zstd",
                        "User-Agent": "flamecam-agent", **(headers or {})}
        host = urllib.parse.urlsplit(self.url).hostname or ""
        # A server on this host is never reached through an HTTP proxy.
        handlers = [urllib.request.ProxyHandler({})] if host in (
            "localhost", "::1") or host.startswith("127.") else []
        self.opener = urllib.request.build_opener(*handlers)
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.backoff = 0.5

    def run(self) -> None:
        while True:
            sent_any = self.drain()
            if self.stopping.is_set():
                return
            self.wake.wait(None if sent_any is None else self.backoff)
            self.wake.clear()

    def drain(self, deadline: float | None = None) -> bool | None:
        """Send until the spool is empty (None) or a send fails (False)."""
        while True:
            item = self.spool.oldest()
            self.update_gauges()
            if item is None:
                self.backoff = 0.5
                return None
            seq, data = item
            if not self._send(seq, data):
                self.backoff = min(self.max_backoff_s, self.backoff * 2)
                return False
            self.backoff = 0.5
            if deadline is not None and time.monotonic() > deadline:
                return True

    def _send(self, seq: int, data: bytes) -> bool:
        t0 = time.monotonic()
        req = urllib.request.Request(self.url, data=data, headers=self.headers, method="POST")
        try:
            with self.opener.open(req, timeout=self.timeout_s) as resp:
                status, text = resp.status, ""
                resp.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read(200).decode(errors="replace")
        except (OSError, ValueError) as e:  # refused, reset, timeout, DNS
            self.metrics.inc("flamecam_agent_upload_errors_total")
            log.debug("upload of batch %d failed: %s", seq, e)
            return False
        self.metrics.observe_upload(time.monotonic() - t0)
        if status < 300:
            self.spool.remove(seq)
            self.metrics.inc("flamecam_agent_batches_sent_total")
            return True
        if status == 413 and self._split(seq, data):
            return True
        if 400 <= status < 500 and status not in _RETRY:
            self.spool.remove(seq)
            lost, reporting = contents(data)
            self.spool.carry(reporting)
            self.metrics.inc("flamecam_agent_batches_rejected_total")
            self.metrics.inc("flamecam_agent_rejected_samples_total", lost)
            log.warning("server rejected batch %d with %d samples (%d): %s", seq, lost,
                        status, text)
            return True
        self.metrics.inc("flamecam_agent_upload_errors_total")
        log.debug("upload of batch %d: HTTP %d", seq, status)
        return False

    def _split(self, seq: int, data: bytes) -> bool:
        """Replace a batch the server found too large by its two halves."""
        halves = split_batch(data, self.spool.next_seq())
        if halves is None:
            return False
        self.spool.remove(seq)
        for half_seq, half, n in halves:
            self.spool.put(half_seq, half, n)
        self.metrics.inc("flamecam_agent_batches_split_total")
        log.info("batch %d too large for the server: split into %d and %d samples", seq,
                 halves[0][2], halves[1][2])
        return True

    def update_gauges(self) -> None:
        """The spool's size and losses as metrics (the agent loop calls it too)."""
        n, size = self.spool.size()
        self.metrics.set("flamecam_agent_spool_batches", n)
        self.metrics.set("flamecam_agent_spool_bytes", size)
        self.metrics.set("flamecam_agent_spool_dropped_batches_total", self.spool.dropped_batches)
        self.metrics.set("flamecam_agent_spool_dropped_bytes_total", self.spool.dropped_bytes)
        self.metrics.set("flamecam_agent_spool_dropped_samples_total",
                         self.spool.dropped_samples)

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
