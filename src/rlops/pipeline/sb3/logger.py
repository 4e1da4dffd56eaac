"""SB3's logger, wired to rlops: what SB3's learners record reaches the telemetry callback.

SB3 records a learner's values (``train/value_loss``, ``rollout/exploration_rate``...) into its
``Logger`` and writes them out at each ``dump`` to a list of ``KVWriter``s. ``EventLogOutput``
is rlops's writer: it hands each dump's scalars to ``take(values, step)`` (the callback, which
decides when they become ``metrics`` records: SB3 dumps at its own ``log_interval``, before
each update, which is neither the cadence nor the step that the values belong to).
``EventLogger`` checks each loss as it is recorded, so a diverged learner stops at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from stable_baselines3.common.logger import KVWriter, Logger

from rlops.errors import TrainingError

Scalars = dict[str, float | int]


class EventLogOutput(KVWriter):
    """SB3's logger output that passes each ``dump``'s finite scalars on to ``take``."""

    def __init__(self, take: Callable[[Scalars, int], None]) -> None:
        self.take = take

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        self.take(scalars(key_values), int(step))

    def close(self) -> None:
        pass


def scalars(key_values: dict[str, Any]) -> Scalars:
    """The finite numbers among a dump's values (SB3 also logs videos, figures and text)."""
    values: Scalars = {}
    for key, value in key_values.items():
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            continue
        value = float(value) if isinstance(value, float | np.floating) else int(value)
        if isinstance(value, float) and not math.isfinite(value):
            continue  # e.g. explained_variance of a constant return: undefined, not an error
        values[key] = value
    return values


class EventLogger(Logger):
    """SB3's logger, checking each loss as the learner records it: SB3 dumps the log only after
    the next rollout, which a diverged network would crash first with a less telling error."""

    def __init__(self, take: Callable[[Scalars, int], None], env_steps: Callable[[], int]) -> None:
        super().__init__(folder=None, output_formats=[EventLogOutput(take)])
        self.env_steps = env_steps

    def record(self, key: str, value: Any, exclude: str | tuple[str, ...] | None = None) -> None:
        if "loss" in key and isinstance(value, float | np.floating) and not math.isfinite(value):
            raise TrainingError(f"{key} became {value} at {self.env_steps()} env steps: the learner diverged",
                                hint="lower train.learning_rate, normalize observations/rewards, or clip gradients")
        super().record(key, value, exclude)


def telemetry_logger(callback: Any) -> Logger:
    """The SB3 logger that hands what a model's learner logs to ``callback`` (its ``TelemetryCallback``)."""
    return EventLogger(callback.take_logged, lambda: callback.num_timesteps)
