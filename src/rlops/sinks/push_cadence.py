"""Which checkpoints a backend uploads: every one, or (``store.checkpoint_freq``) one at least
that many env steps after the last one uploaded; the newest one always goes up at the end."""

from __future__ import annotations

from rlops.events.schema import Checkpoint


class PushCadence:
    def __init__(self, every: int | None) -> None:
        self.every = every  # None: every checkpoint
        self.pushed_steps: int | None = None
        self.pending: Checkpoint | None = None  # the newest checkpoint not uploaded yet

    def offer(self, record: Checkpoint) -> Checkpoint | None:
        """A checkpoint was saved: the one to upload now, if it is due."""
        self.pending = record
        due = self.every is None or self.pushed_steps is None or record.env_steps - self.pushed_steps >= self.every
        return self.take() if due else None

    def take(self) -> Checkpoint | None:
        """The checkpoint still waiting (at the end of the run), counted as uploaded."""
        record, self.pending = self.pending, None
        if record is not None:
            self.pushed_steps = record.env_steps
        return record
