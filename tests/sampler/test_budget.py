"""The agent's CPU budget for off-CPU intervals (issue 15 item 14): how many
intervals above the threshold `OffCpuBudget` keeps one by one, from the CPU
time the process used (given here as the clocks' readings)."""

from __future__ import annotations

from profiler.sampler.budget import KEPT_COST_S, MAX_EVERY, MIN_RATE, OffCpuBudget


class Clocks:
    """CPU and wall clock readings a test advances, and intervals seen so far."""

    def __init__(self) -> None:
        self.cpu = self.wall = 0.0
        self.intervals = 0

    def spend(self, share: float, seconds: float = 1.0, rate: int = 10_000) -> int:
        self.cpu += share * seconds
        self.wall += seconds
        self.intervals += int(rate * seconds)
        return self.intervals


def test_under_the_budget_everything_is_kept():
    c = Clocks()
    b = OffCpuBudget(0.02, lambda: c.cpu, lambda: c.wall)
    for _ in range(5):
        assert b.update(c.spend(0.019)) == 1


def test_over_the_budget_it_keeps_fewer_in_proportion_then_recovers():
    c = Clocks()
    b = OffCpuBudget(0.02, lambda: c.cpu, lambda: c.wall)
    assert b.update(c.spend(0.07)) == 4  # the 7% of a core: ceil(7 / 2)
    assert b.update(c.spend(0.03)) == 6  # still over: in proportion again
    assert b.update(c.spend(0.015)) == 6  # within the budget, above half of it: holds
    assert b.update(c.spend(0.005)) == 3  # the burst is over: halves back towards keeping all
    assert b.update(c.spend(0.005)) == 1


def test_it_waits_half_a_second_and_is_bounded():
    c = Clocks()
    b = OffCpuBudget(0.02, lambda: c.cpu, lambda: c.wall)
    assert b.update(c.spend(1.0, 0.2)) == 1  # too short a period to judge
    for _ in range(20):
        b.update(c.spend(1.0))
    assert b.every == 100  # 10,000 intervals a second: 100 of them stay kept
    for _ in range(20):
        b.update(c.spend(1.0, rate=10**7))
    assert b.every == MAX_EVERY


def test_few_intervals_are_all_kept_however_busy_the_agent():
    """Symbolizing new processes or an upload, not intervals, cost the CPU then."""
    c = Clocks()
    b = OffCpuBudget(0.02, lambda: c.cpu, lambda: c.wall)
    for _ in range(5):
        assert b.update(c.spend(0.5, rate=MIN_RATE - 1)) == 1


def test_a_burst_is_sampled_at_the_first_poll_that_sees_it():
    """10,000 intervals a second kept whole cost at least 10 us each, 10% of a
    core: N goes up at the first 0.1 s poll, not after the seconds `update` needs."""
    c = Clocks()
    b = OffCpuBudget(0.02, lambda: c.cpu, lambda: c.wall)
    assert b.burst(1_000, 0.1) == round(10_000 * KEPT_COST_S / 0.02) == 5
    assert b.burst(200, 0.1) == 5  # now 2,000 kept a second: within the budget, held
    assert b.burst(MIN_RATE // 10 - 1, 0.1) == 5  # a burst never lowers N (update does)
    assert b.burst(1_000, 0.0) == 5
    quiet = OffCpuBudget(0.2, lambda: c.cpu, lambda: c.wall)
    assert quiet.burst(1_000, 0.1) == 1  # within a 20% budget: all kept
    few = OffCpuBudget(0.02, lambda: c.cpu, lambda: c.wall)
    assert few.burst(MIN_RATE // 10 - 1, 0.1) == 1
    floor = OffCpuBudget(0.0001, lambda: c.cpu, lambda: c.wall)
    assert floor.burst(1_000, 0.1) == 100  # however far over, 100 a second stay kept

