"""How many off-CPU intervals the recorder can afford to keep one by one.

Each interval above the threshold kept one by one costs about 10 µs of user
space (ring buffer record, stacks, why it waited, a Sample, its share of the
batch), so a host with 10,000 such intervals a second cost the agent 7% of a
core. Past a CPU budget, the kernel keeps 1 in N of them one by one and sums
the rest with the short intervals (bpf/offcpu.c `off_keep`): off-CPU totals
stay exact, per-interval detail is sampled, and each kept interval says N
(`OffCpuEvent.kept_every`, the `kept_1_in` sample label) so counts read from
kept intervals can be weighted back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

MAX_EVERY = 4096
# Below this many intervals above the threshold a second (about 0.5% of a
# core), they are not what costs: the agent over its budget then (symbolizing
# a new process, an upload) keeps them all.
MIN_RATE = 500
# However far over, at least this many a second stay kept one by one (about
# 0.1% of a core), so some of the detail of why threads waited remains.
MIN_KEPT = 100
# What an interval kept one by one costs at the least, to act on a burst
# before the CPU clock can tell (`update` needs half a second of it, and the
# recorder calls it once a second): a burst of 10,000 a second kept whole
# for that first second cost the agent more than 1% of a core over 25 s.
KEPT_COST_S = 10e-6


class OffCpuBudget:
    """Chooses N from the process's own CPU time, about once a second.

    Over the budget, with at least MIN_RATE intervals a second, N grows in
    proportion to the overshoot (the kept intervals' cost falls as 1/N);
    under half the budget it halves, so a burst does not leave the detail
    sampled for long after it ends.
    """

    def __init__(self, share: float, cpu_clock: Callable[[], float] = time.process_time,
                 wall_clock: Callable[[], float] = time.monotonic) -> None:
        self.share = share
        self.every = 1
        self._cpu_clock, self._wall_clock = cpu_clock, wall_clock
        self._cpu0, self._t0 = cpu_clock(), wall_clock()
        self._intervals0 = 0

    def update(self, intervals: int) -> int:
        """The N for the next period, from the CPU share used since the last call.

        `intervals` counts the intervals above the threshold so far (kept and
        summed, a running total).
        """
        cpu, t = self._cpu_clock(), self._wall_clock()
        if t - self._t0 < 0.5:
            return self.every
        used = (cpu - self._cpu0) / (t - self._t0)
        rate = (intervals - self._intervals0) / (t - self._t0)
        self._cpu0, self._t0, self._intervals0 = cpu, t, intervals
        if used > self.share and rate >= MIN_RATE:
            self.every = self._raised(rate, used, self.every + 1)
        elif used < self.share / 2 and self.every > 1:
            self.every = max(1, self.every // 2)
        return self.every

    def burst(self, kept: int, seconds: float) -> int:
        """N raised at once when `kept` intervals arrived one by one in `seconds`
        (a poll of the recorder's, 0.1 s) at a rate whose least cost
        (KEPT_COST_S each) already passes the budget; `update` tunes it later.

        It only raises N, never past what keeps MIN_KEPT a second, and the
        kernel stamps each kept interval with the N it was kept under, so
        counts weighed back stay unbiased across the change.
        """
        if seconds <= 0 or kept < MIN_RATE * seconds:
            return self.every
        cost = kept / seconds * KEPT_COST_S
        if cost > self.share:
            rate = kept * self.every / seconds  # above the threshold, kept or summed
            self.every = self._raised(rate, cost, self.every)
        return self.every

    def _raised(self, rate: float, cost: float, at_least: int) -> int:
        """N scaled by how far `cost` passes the budget (at least `at_least`),
        never past MAX_EVERY nor past what keeps MIN_KEPT of `rate` a second."""
        return min(MAX_EVERY, max(1, int(rate) // MIN_KEPT),
                   max(at_least, math.ceil(self.every * cost / self.share)))
