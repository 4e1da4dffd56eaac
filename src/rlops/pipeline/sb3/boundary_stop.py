"""Off-policy learners end where a rollout starts, so that their last checkpoint is exact.

SB3's off-policy loop steps the envs, counts the step, asks the callbacks whether to go on, and
only then stores the transition and moves the learner's last observation on. A stop honoured at a
step (``callbacks.StopFlag``) therefore counts a step the replay buffer lacks, with the envs one
step ahead of the learner, and skips the gradient steps of the rollout it cut: no run passes
through that state, and a resume from it is not exact. ``BoundaryStop`` lets the rollout and its
update finish and leaves ``learn()`` where the next rollout starts, the point at which periodic
checkpoints are taken too (``callbacks.EveryNSteps``). A rollout is ``train_freq`` steps (SAC: 1,
DQN: 4) or episodes: a stop waits that long, and shows progress (``stopping.StopProgress``) at
every env step of the wait as at every optimizer step of the update.
"""

from __future__ import annotations

from collections.abc import Callable

from rlops.pipeline.callbacks import StopFlag


class RolloutBoundaryReached(Exception):  # a signal, not an error (errors.py): it never leaves the session
    """Leaves SB3's ``learn()`` at a rollout boundary; ``TrainingSession`` catches it, nothing else sees it.

    SB3 ends ``learn()`` early only through ``on_step`` (too late, see above), so the callback
    that runs first at a rollout's start raises this instead."""


class BoundaryStop(StopFlag):
    """A ``StopFlag`` (SIGTERM: ``rlops runs stop``, the dashboard) that is honoured at the next
    rollout boundary, and ends a run there too once ``finished()`` holds (``eval.stop_reward``
    reached by a periodic evaluation).

    It must be the last callback: the periodic evaluation and checkpoint of this boundary run first."""

    def __init__(self, on_stop: Callable[[str], None] | None = None, finished: Callable[[], bool] = lambda: False,
                 waiting: Callable[[], None] = lambda: None) -> None:
        super().__init__(on_stop=on_stop)
        self.finished = finished
        self.waiting = waiting  # one step toward the boundary a stop waits for

    def _on_step(self) -> bool:
        if self.reason is not None:
            self.waiting()
        return True  # never mid-rollout: the step's transition is not stored yet

    def _on_rollout_start(self) -> None:
        if self.reason is not None or self.finished():
            raise RolloutBoundaryReached
