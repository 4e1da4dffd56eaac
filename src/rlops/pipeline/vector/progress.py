"""A progress bar on a terminal, as SB3 runs have (``callbacks.ProgressBar``); nothing elsewhere."""

from __future__ import annotations

import sys

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class RolloutProgress:
    def __init__(self, total: int, completed: int) -> None:
        self.progress: Progress | None = None
        if sys.stderr.isatty():
            self.progress = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TimeRemainingColumn(), transient=True)
            self.task = self.progress.add_task("train", total=total, completed=completed)
            self.progress.start()

    def update(self, completed: int) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=completed)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
