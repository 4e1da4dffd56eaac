"""SB3 callbacks: the only way the training loop talks to the rest of rlops."""

from __future__ import annotations

import sys
from collections.abc import Callable

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from stable_baselines3.common.callbacks import BaseCallback


class EveryNSteps(BaseCallback):
    """Call ``action(num_timesteps)`` each time the step count crosses a multiple of ``every``."""

    def __init__(self, every: int, action: Callable[[int], None]) -> None:
        super().__init__()
        self.every = every
        self.action = action
        self._last_bucket = 0

    def _on_training_start(self) -> None:
        self._last_bucket = self.num_timesteps // self.every

    def _on_step(self) -> bool:
        bucket = self.num_timesteps // self.every
        if bucket > self._last_bucket:
            self._last_bucket = bucket
            self.action(self.num_timesteps)
        return True


class StopFlag(BaseCallback):
    """Ends ``learn()`` at the next step once ``stop()`` was called (SIGTERM, Ctrl-C)."""

    def __init__(self) -> None:
        super().__init__()
        self.reason: str | None = None

    def stop(self, reason: str) -> None:
        self.reason = reason

    def _on_step(self) -> bool:
        return self.reason is None


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
