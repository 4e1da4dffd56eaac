"""SB3 callbacks: the only way the training loop talks to the rest of rlops."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from stable_baselines3.common.callbacks import BaseCallback


class EveryNSteps(BaseCallback):
    """Call ``action(num_timesteps)`` at the first rollout boundary after the step count crosses a
    multiple of ``every``.

    Only a boundary is a state that the uninterrupted run passes through too: mid-rollout, an
    on-policy learner holds a partial rollout that a resume would discard, and an off-policy one
    has not yet stored the step's transition (SB3 calls ``on_step`` before ``_store_transition``)
    nor taken the gradient steps of its ``train_freq`` steps. A rollout starts after both."""

    def __init__(self, every: int, action: Callable[[int], None]) -> None:
        super().__init__()
        self.every = every
        self.action = action
        self._last_bucket = 0

    def _on_training_start(self) -> None:
        self._last_bucket = self.num_timesteps // self.every

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        bucket = self.num_timesteps // self.every
        if bucket > self._last_bucket:
            self._last_bucket = bucket
            self.action(self.num_timesteps)


class RolloutBoundary(BaseCallback):
    """Keeps the agent as it was at the last rollout boundary (after an update, before the next
    rollout): what an on-policy run's checkpoint holds when a stop cuts a rollout or an update short.

    ``partial`` is true while learning sits between two boundaries; it turns false once ``learn()``
    returned after a completed update."""

    def __init__(self, capture: Callable[[], Any], on_boundary: Callable[[Any], None]) -> None:
        super().__init__()
        self.capture = capture
        self.on_boundary = on_boundary
        self.snapshot: Any = None
        self.partial = False
        self._collecting = False

    def _on_rollout_start(self) -> None:
        self.snapshot = self.capture()
        self.partial = self._collecting = True
        self.on_boundary(self.snapshot)

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self._collecting = False

    def _on_training_end(self) -> None:
        # learn() returns after a completed update, or breaks off a rollout that a stop cut short.
        self.partial = self._collecting


class StopFlag(BaseCallback):
    """Ends ``learn()`` at the next step once ``stop()`` was called (SIGTERM, Ctrl-C);
    ``on_stop`` acknowledges the stop at once (``stopping.StopProgress``)."""

    def __init__(self, on_stop: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.reason: str | None = None
        self.on_stop = on_stop

    def stop(self, reason: str) -> None:
        self.reason = reason
        if self.on_stop is not None:
            self.on_stop(reason)

    def _on_step(self) -> bool:
        return self.reason is None


class StopWhen(BaseCallback):
    """Ends ``learn()`` at the next step once ``done()`` holds (``eval.stop_reward`` reached): a
    finish, not a stop, so nothing is acknowledged and the run ends as at the end of its budget."""

    def __init__(self, done: Callable[[], bool]) -> None:
        super().__init__()
        self.done = done

    def _on_step(self) -> bool:
        return not self.done()


class ProgressBar(BaseCallback):
    """A progress bar on a terminal; nothing elsewhere (logs and events carry progress there)."""

    def __init__(self, total_timesteps: int) -> None:
        super().__init__()
        self.total = total_timesteps
        self.progress: Progress | None = None

    def _on_training_start(self) -> None:
        if sys.stderr.isatty():
            self.progress = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TimeRemainingColumn(), transient=True)
            self.task = self.progress.add_task("train", total=self.total, completed=self.num_timesteps)
            self.progress.start()

    def _on_step(self) -> bool:
        if self.progress is not None:
            self.progress.update(self.task, completed=self.num_timesteps)
        return True

    def _on_training_end(self) -> None:
        if self.progress is not None:
            self.progress.stop()
