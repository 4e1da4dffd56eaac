"""Schedules spelled as strings: '3e-4' (constant), 'lin_3e-4' (linear decay to 0, RL Zoo's
spelling), 'const_3e-4'. SB3 calls a schedule with the remaining progress, from 1 down to 0."""

from __future__ import annotations

from collections.abc import Callable

from rlops.errors import OptionsError


class LinearSchedule:
    """``start * progress_remaining``: a plain class, so it needs no pickling to be described."""

    def __init__(self, start: float) -> None:
        self.start = start

    def __call__(self, progress_remaining: float) -> float:
        return progress_remaining * self.start

    def __repr__(self) -> str:
        return f"lin_{self.start}"


def parse_schedule(text: str | float, option: str) -> float | Callable[[float], float]:
    if isinstance(text, int | float):
        return float(text)
    kind, _, number = text.strip().rpartition("_")
    try:
        value = float(number)
    except ValueError:
        raise OptionsError(f"invalid schedule {text!r} for {option}",
                           hint="use a number such as '3e-4' or 'lin_3e-4' for a linear decay") from None
    if kind == "lin":
        return LinearSchedule(value)
    if kind in ("", "const"):
        return value
    raise OptionsError(f"unknown schedule kind {kind!r} in {text!r} for {option}", hint="use 'lin_' or 'const_'")
