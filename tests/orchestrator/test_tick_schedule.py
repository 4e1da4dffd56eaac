"""The daemon's rounds begin every ``poll_interval``: the wait is what is left of the period (a
round's own time is not added to it), and a round that overran is followed at once. Timed on a
fake clock that only the rounds and the waits move, so nothing here depends on the machine."""

from __future__ import annotations

from rlops.orchestrator.daemon import tick_every


class FakeTime:
    """A clock and a ``stopping`` event in one: ``wait`` moves the clock instead of sleeping."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []
        self.stopped = False

    def clock(self) -> float:
        return self.now

    def is_set(self) -> bool:
        return self.stopped

    def wait(self, timeout: float) -> bool:
        assert timeout >= 0
        self.waits.append(round(timeout, 6))
        self.now += timeout
        return self.stopped


def _rounds(durations: list[float], period: float = 0.1) -> tuple[list[float], FakeTime]:
    """Run rounds taking ``durations`` seconds each; return when each began."""
    fake, began, left = FakeTime(), [], list(durations)

    def step() -> bool:
        began.append(round(fake.now, 6))
        fake.now += left.pop(0)
        return bool(left)

    assert tick_every(period, step, fake, clock=fake.clock) == len(durations)
    return began, fake


def test_rounds_shorter_than_the_period_begin_once_a_period_and_wait_only_the_rest():
    began, fake = _rounds([0.03, 0.05, 0.01, 0.02])
    assert began == [0.0, 0.1, 0.2, 0.3]  # waiting a whole period after each round began them 0.13, 0.28, 0.39
    assert fake.waits == [0.07, 0.05, 0.09]


def test_a_round_that_overran_its_period_is_followed_at_once_and_late_rounds_are_not_made_up():
    began, fake = _rounds([0.25, 0.03, 0.32, 0.02, 0.02])
    assert began == [0.0, 0.25, 0.35, 0.67, 0.77]
    assert fake.waits == [0.0, 0.07, 0.0, 0.08]


def test_supervision_ends_when_told_to_stop_or_when_a_round_says_so():
    fake = FakeTime()
    fake.stopped = True
    assert tick_every(0.1, lambda: True, fake, clock=fake.clock) == 0
    calls = []

    def two_rounds() -> bool:
        calls.append(fake.now)
        return len(calls) < 2

    fake.stopped = False
    assert tick_every(0.1, two_rounds, fake, clock=fake.clock) == 2
