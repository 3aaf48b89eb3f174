"""Driver of `bpf/oncpu.c`: attach to cpu-clock on every CPU, collect samples."""

from __future__ import annotations

import ctypes

from .events import CpuEvent, decode_cpu


class OnCpuSampler:
    """Attaches the perf-event program and buffers decoded samples."""

    def __init__(self, b, hz: int):
        from bcc import PerfSWConfig, PerfType

        self._b = b
        self.events: list[CpuEvent] = []
        self.bytes_received = 0  # ring-buffer bytes, for the overhead benchmark
        b.attach_perf_event(
            ev_type=PerfType.SOFTWARE,
            ev_config=PerfSWConfig.CPU_CLOCK,
            fn_name=b"on_cpu_sample",
            sample_freq=hz,
            cpu=-1,
        )
        b[b"cpu_events"].open_ring_buffer(self._on_event)

    def _on_event(self, _ctx, data, size) -> int:
        self.bytes_received += size
        self.events.append(decode_cpu(ctypes.string_at(data, size)))
        return 0

    def take(self) -> list[CpuEvent]:
        out, self.events = self.events, []
        return out
