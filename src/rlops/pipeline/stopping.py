"""Stopping a run without losing what it learned: acknowledge at once, show progress until the
final checkpoint is written.

A SIGTERM may land in the middle of a gradient update that takes longer than the supervisor's
``orchestrator.stop_grace_s``. Cutting the update short would leave weights that belong to no
rollout, so the trainer finishes it, and says so: the signal handler writes ``stop_progress.json``
in the run directory, and every optimizer step then bumps ``progress`` in it (a few writes a
second at most). The supervisor keeps SIGKILL for a trainer whose progress stands still.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the supervisor imports this module for the file's name: it stays light
    import torch
    from stable_baselines3.common.base_class import BaseAlgorithm

log = logging.getLogger("rlops.train")

STOP_PROGRESS_FILE = "stop_progress.json"
WRITE_EVERY_S = 0.2


class StopProgress:
    """The trainer's side of a stop: an acknowledgement, then a heartbeat of optimizer steps."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / STOP_PROGRESS_FILE
        self.progress = 0
        self.acknowledged: float | None = None
        self.reason: str | None = None
        self._written = 0.0

    def acknowledge(self, reason: str) -> None:
        if self.acknowledged is None:
            self.acknowledged, self.reason = time.time(), reason
            self._write()

    def beat(self, phase: str | None = None) -> None:
        """One step of work done (an optimizer step, a checkpoint file); written only once stopping."""
        self.progress += 1
        if self.acknowledged is not None and (phase or time.monotonic() - self._written >= WRITE_EVERY_S):
            self._write(phase)

    @contextmanager
    def watching(self, model: BaseAlgorithm) -> Iterator[None]:
        """Count every step of every optimizer of ``model`` while training runs."""
        handles = [optimizer.register_step_post_hook(lambda *_: self.beat()) for optimizer in _optimizers(model)]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _write(self, phase: str | None = None) -> None:
        now = time.time()
        data: dict[str, Any] = {"acknowledged": self.acknowledged, "reason": self.reason, "progress": self.progress,
                                "updated": now, "phase": phase, "pid": os.getpid()}
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            temp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(temp, self.path)
        except OSError:
            return  # a full disk must not turn a clean stop into a crash; the supervisor's grace applies
        self._written = time.monotonic()


@contextmanager
def stop_on_signals(stop: _Stoppable, ctrl_c: bool = False) -> Iterator[None]:
    """SIGTERM ends training at the next step with a final checkpoint, like Ctrl-C (both engines).

    Ctrl-C is Python's KeyboardInterrupt, raised wherever the learner is; the session catches it.
    With ``ctrl_c`` (off-policy learners: a stop waits for the next rollout boundary, see
    ``sb3.boundary_stop``, and an interrupt mid-rollout would checkpoint a step the replay buffer
    lacks) the first SIGINT is a stop like SIGTERM's instead. A SIGINT while a stop is pending
    raises KeyboardInterrupt at once, as terminals expect of a second Ctrl-C: the run ends where it
    is, its checkpoint then not a rollout boundary. A SIGINT that was ignored (``nohup``) stays so."""
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.stop("terminated"))
    previous_int = signal.getsignal(signal.SIGINT)
    if ctrl_c and previous_int is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _stop_at_first_ctrl_c(stop))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if ctrl_c and previous_int is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, previous_int)


def _stop_at_first_ctrl_c(stop: _Stoppable) -> Callable[[int, FrameType | None], None]:
    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if stop.reason is not None:
            raise KeyboardInterrupt  # a second Ctrl-C (or one after SIGTERM's stop): end now
        log.info("Ctrl-C: stopping at the end of this rollout, so that the checkpoint resumes exactly; "
                 "press Ctrl-C again to stop at once")
        stop.stop("interrupted")
    return on_sigint


class _Stoppable(Protocol):  # callbacks.StopFlag
    reason: str | None

    def stop(self, reason: str) -> None: ...


def _optimizers(model: BaseAlgorithm) -> list[torch.optim.Optimizer]:
    import torch

    found = []
    state_dicts, _ = model._get_torch_save_params()
    for dotted in state_dicts:
        value: Any = model
        for part in dotted.split("."):
            value = getattr(value, part, None)
        if isinstance(value, torch.optim.Optimizer) and all(value is not other for other in found):
            found.append(value)
    return found
