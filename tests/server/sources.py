"""A real sample source for agent tests: samples this process's Python threads.

It implements the Recorder's `poll/take/stats` interface from real stacks
(sys._current_frames), so the agent's shipping side runs end to end without
eBPF or root.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from profiler.model import Frame, Sample


class PythonThreadSource:
    def __init__(self, hz: int = 19) -> None:
        self.hz = hz
        self.period_ns = 1_000_000_000 // hz
        self.samples: list[Sample] = []
        self.stats = {"cpu_samples": 0, "offcpu_events": 0, "lost_cpu": 0, "lost_offcpu": 0}
        self._next = time.monotonic()
        self._frames: dict[tuple, Frame] = {}

    def poll(self, timeout_ms: int) -> None:
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            now = time.monotonic()
            if now >= self._next:
                self._sample()
                self._next += 1 / self.hz
                continue
            if self._next > deadline:
                time.sleep(max(0, deadline - now))
                return
            time.sleep(self._next - now)

    def _sample(self) -> None:
        me = threading.get_ident()
        threads = {t.ident: t for t in threading.enumerate()}
        ts = time.time_ns()
        for ident, frame in sys._current_frames().items():
            if ident == me:
                continue
            stack = []
            f = frame
            while f is not None:
                code = f.f_code
                key = (code.co_name, code.co_filename, f.f_lineno)
                fr = self._frames.get(key)
                if fr is None:
                    fr = self._frames[key] = Frame(code.co_name, "python",
                                                   file=code.co_filename, line=f.f_lineno)
                stack.append(fr)
                f = f.f_back
            t = threads.get(ident)
            self.samples.append(Sample("cpu", ts, os.getpid(), (t.native_id if t else 0) or 0,
                                       0, "python", t.name if t else "", tuple(reversed(stack)),
                                       self.period_ns))
            self.stats["cpu_samples"] += 1

    def take(self) -> list[Sample]:
        out, self.samples = self.samples, []
        return out
