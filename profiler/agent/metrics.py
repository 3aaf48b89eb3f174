"""The agent's counters and a Prometheus text-format /metrics endpoint."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Metrics:
    """Counters and gauges, updated by the agent loop and the uploader."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counters: dict[str, float] = {
            "flamecam_agent_samples_total": 0,
            "flamecam_agent_batches_sent_total": 0,
            "flamecam_agent_batches_rejected_total": 0,
            "flamecam_agent_rejected_samples_total": 0,
            "flamecam_agent_batches_split_total": 0,
            "flamecam_agent_upload_errors_total": 0,
            "flamecam_agent_spool_dropped_batches_total": 0,
            "flamecam_agent_spool_dropped_bytes_total": 0,
            "flamecam_agent_spool_dropped_samples_total": 0,
            "flamecam_agent_sampler_lost_cpu_total": 0,
            "flamecam_agent_sampler_lost_offcpu_total": 0,
            "flamecam_agent_thread_spans_total": 0,
            # Off-CPU intervals above the threshold summed in the kernel, not
            # kept one by one, while the agent was over its CPU budget.
            "flamecam_agent_offcpu_summed_total": 0,
            # Off-CPU intervals whose switch-in no program saw (model.AGENT_LOSSES).
            "flamecam_agent_offcpu_missed_switch_in_total": 0,
            # Thread-context tables (profiler/sampler/tracectx.py): ring records
            # overwritten before they were read, records that cannot be right
            # or whose thread was gone, processes whose table could not be
            # read, slots read mid-update by the kernel.
            "flamecam_agent_tracectx_lost_records_total": 0,
            "flamecam_agent_tracectx_bad_records_total": 0,
            "flamecam_agent_tracectx_unreadable_total": 0,
            "flamecam_agent_tracectx_torn_total": 0,
            # Table announcements refused (docs/TRACE_CONTEXT.md, "Discovery"):
            # malformed, late, or not about a table of their sender.
            "flamecam_agent_tracectx_refused_announcements_total": 0,
            # Python or JVM processes whose frames could not be read (each is
            # also named in the agent's log): a version without a known
            # layout, attach refused, no permission.
            "flamecam_agent_runtime_unreadable_processes_total": 0,
        }
        self.gauges: dict[str, float] = {
            "flamecam_agent_tracectx_processes": 0,
            "flamecam_agent_offcpu_keep_every": 1,  # 1 in N such intervals kept one by one
            "flamecam_agent_spool_batches": 0,
            "flamecam_agent_spool_bytes": 0,
            "flamecam_agent_upload_latency_seconds": 0,
        }
        self.latency_sum = 0.0
        self.latency_count = 0

    def inc(self, name: str, by: float = 1) -> None:
        with self.lock:
            self.counters[name] = self.counters.get(name, 0) + by

    def set(self, name: str, value: float) -> None:
        with self.lock:
            if name in self.counters:
                self.counters[name] = value
            else:
                self.gauges[name] = value

    def observe_upload(self, seconds: float) -> None:
        with self.lock:
            self.gauges["flamecam_agent_upload_latency_seconds"] = seconds
            self.latency_sum += seconds
            self.latency_count += 1

    def render(self) -> str:
        with self.lock:
            lines = []
            for name, v in self.counters.items():
                lines += [f"# TYPE {name} counter", f"{name} {_number(v)}"]
            for name, v in self.gauges.items():
                lines += [f"# TYPE {name} gauge", f"{name} {_number(v)}"]
            lines += ["# TYPE flamecam_agent_upload_seconds summary",
                      f"flamecam_agent_upload_seconds_sum {_number(self.latency_sum)}",
                      f"flamecam_agent_upload_seconds_count {self.latency_count}"]
        return "\n".join(lines) + "\n"


def _number(v: float) -> str:
    """Whole numbers in full (`%g` printed 1417530 as 1.41753e+06), others exactly."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def serve_metrics(metrics: Metrics, host: str, port: int) -> ThreadingHTTPServer:
    """Start /metrics in a daemon thread; returns the server (call shutdown())."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer((host, port), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, name="flamecam-metrics", daemon=True).start()
    return srv
