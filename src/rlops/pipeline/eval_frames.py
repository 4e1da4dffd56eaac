"""Evaluation steps as ``step`` records, with a PNG frame now and then, so that each evaluated
checkpoint can be replayed on the dashboard."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from rlops.events.schema import Step
from rlops.sinks.recorder import RunRecorder

log = logging.getLogger(__name__)


class EvalStepRecorder:
    """Records every evaluation step as a ``step`` record, with a PNG frame every ``frame_every``
    steps of env 0 when the env renders."""

    def __init__(self, recorder: RunRecorder, venv: Any, frames_dir: Path | None, frame_every: int) -> None:
        self.recorder = recorder
        self.venv = venv
        self.frames_dir = frames_dir
        self.frame_every = frame_every
        self.frames = 0

    def __call__(self, *, env_index: int, episode: int, step: int, action: Any, reward: float,
                 terminated: bool, truncated: bool) -> None:
        frame = None
        if self.frames_dir is not None and self.frame_every and env_index == 0 and step % self.frame_every == 0:
            frame = self._save_frame(episode, step)
        self.recorder.emit(Step(episode=episode, step=step, action=np.asarray(action).tolist(), reward=reward,
                                terminated=terminated, truncated=truncated, env_index=env_index, frame=frame))

    def _save_frame(self, episode: int, step: int) -> str | None:
        try:
            image = self.venv.get_images()[0]
        except Exception as exc:  # frames are a bonus; the step record is what counts
            # Said once, then no more attempts: a renderer that failed (no display, no GL) fails again.
            log.warning("evaluation frames skipped: rendering failed (%s: %s)", type(exc).__name__,
                        str(exc).splitlines()[0][:160] if str(exc) else "")
            self.frames_dir = None
            return None
        if image is None or np.ndim(image) != 3:
            return None
        self.frames_dir.mkdir(parents=True, exist_ok=True)
        name = f"e{episode:04d}_s{step:06d}.png"
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(self.frames_dir / name, compress_level=1)
        self.frames += 1
        return f"{self.frames_dir.parent.name}/{self.frames_dir.name}/{name}"
