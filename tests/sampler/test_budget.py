"""The agent's CPU budget for off-CPU intervals (issue 15 item 14): how many
intervals above the threshold `OffCpuBudget` keeps one by one, from the CPU
time the process used (given here as the clocks' readings)."""

from __future__ import annotations

from profiler.sampler.budget import MAX_EVERY, OffCpuBudget


class Clocks:
    """CPU and wall clock readings a test advances."""

    def __init__(self) -> None:
        self.cpu = self.wall = 0.0

    def spend(self, share: float, seconds: float = 1.0) -> None:
        self.cpu += share * seconds
        self.wall += seconds


def test_under_the_budget_everything_is_kept():
    c = Clocks()
    b = OffCpuBudget(0.02, lambda: c.cpu, lambda: c.wall)
    for _ in range(5):
        c.spend(0.019)
        assert b.update() == 1


def test_over_the_budget_it_keeps_fewer_in_proportion_then_recovers():
    c = Clocks()
    b = OffCpuBudget(0.02, lambda: c.cpu, lambda: c.wall)
    c.spend(0.07)  # the 7% of a core
    assert b.update() == 4  # ceil(1 * 7 / 2)
    c.spend(0.03)  # still over: in proportion again
    assert b.update() == 6
    c.spend(0.015)  # within the budget, above half of it: holds
    assert b.update() == 6
    c.spend(0.005)  # the burst is over: halves back towards keeping all
    assert b.update() == 3
    c.spend(0.005)
    assert b.update() == 1


def test_it_waits_half_a_second_and_is_bounded():
    c = Clocks()
    b = OffCpuBudget(0.02, lambda: c.cpu, lambda: c.wall)
    c.spend(1.0, 0.2)
    assert b.update() == 1  # too short a period to judge
    for _ in range(20):
        c.spend(1.0)
        b.update()
    assert b.every == MAX_EVERY
