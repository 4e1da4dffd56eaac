"""SB3 -> events: the one place the training loop reports to the rest of rlops.

``TelemetryCallback`` reads each vector step from SB3's rollout locals (rewards, dones, infos,
actions, values, log-probs), feeds the metrics accumulator, emits an ``episode`` record per
finished episode and keeps short ring buffers for failure receipts. ``EventLogOutput`` is an SB3
logger output format: at each ``logger.dump`` everything SB3 recorded (rollout/ep_rew_mean,
train/value_loss, time/fps...) becomes one ``metrics`` record together with the accumulator's
window. A non-finite loss stops training (it would only poison the run from there on).
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter, Logger

from rlops.errors import TrainingError
from rlops.events.accumulator import MetricsAccumulator
from rlops.events.schema import Episode, Metrics, Step
from rlops.sinks.recorder import RunRecorder

RING = 64  # vector steps kept for a failure receipt

log = logging.getLogger(__name__)


class TelemetryCallback(BaseCallback):
    def __init__(self, recorder: RunRecorder, accumulator: MetricsAccumulator, info_keys: tuple[str, ...] = (),
                 record_episodes: bool = True) -> None:
        super().__init__()
        self.recorder = recorder
        self.accumulator = accumulator
        self.info_keys = info_keys
        self.record_episodes = record_episodes
        self.episodes = 0
        self.started = time.monotonic()
        self.last_actions: deque[np.ndarray] = deque(maxlen=RING)
        self.last_rewards: deque[np.ndarray] = deque(maxlen=RING)
        self.last_observations: deque[np.ndarray] = deque(maxlen=RING)
        self.last_metrics: dict[str, Any] = {}
        self._discrete_actions: bool | None = None  # the model's action space is Discrete (the histogram)

    def _on_training_start(self) -> None:
        self.started = time.monotonic()
        self.start_steps = self.num_timesteps
        self._discrete_actions = _is_discrete(self.model.action_space)
        if self._discrete_actions and self.accumulator.n_actions is None:
            self.accumulator.n_actions = int(self.model.action_space.n)  # a fixed histogram: no sizing from data

    def _on_step(self) -> bool:
        local = self.locals
        rewards = np.asarray(local["rewards"])
        if not _all_finite(rewards):
            index = int(np.flatnonzero(~np.isfinite(rewards))[0])
            raise TrainingError(f"env {index} returned reward {rewards[index]} at {self.num_timesteps} env steps",
                                hint="a non-finite reward poisons every loss after it; fix the env or clip its rewards")
        dones = np.asarray(local["dones"], dtype=bool)
        infos: list[dict[str, Any]] = local.get("infos") or []
        ended = np.count_nonzero(dones)
        if not ended:
            truncated = terminated = dones  # all False: most steps end no episode, and need no look at infos
        elif len(infos) == len(dones):
            # A truncation ends an episode: SB3's VecEnvs flag it on done envs only (False elsewhere).
            truncated = np.fromiter((info.get("TimeLimit.truncated", False) for info in infos), bool, len(infos)) & dones
            terminated = dones & ~truncated
        else:
            truncated, terminated = np.zeros_like(dones), dones
        actions = local.get("actions")
        log_probs = local.get("log_probs")
        extras = None
        if self.info_keys and infos:
            extras = {key: np.asarray([info[key] for info in infos], dtype=np.float64)
                      for key in self.info_keys if all(key in info for info in infos)}
        successes = None
        if ended and any("is_success" in info for info in infos):
            successes = np.asarray([bool(info.get("is_success", False)) for info in infos]) & dones
        if self._discrete_actions is None:
            self._discrete_actions = _is_discrete(self.model.action_space)
        self.accumulator.update(
            rewards, terminated, truncated, resets=dones,
            actions=actions if self._discrete_actions else None,
            values=local.get("values"),  # (n_envs, 1): the accumulator reads every input flat
            log_probs=log_probs,
            infos=extras or None,
            successes=successes,
        )
        if actions is not None:
            self.last_actions.append(np.array(actions, copy=True))
        self.last_rewards.append(rewards.copy())  # a copy: SB3 then adds the bootstrapped value in place
        new_obs = local.get("new_obs")
        if isinstance(new_obs, np.ndarray):
            self.last_observations.append(new_obs[:1].copy())
        if self.record_episodes and ended:
            for index in np.flatnonzero(dones):
                info = infos[index].get("episode") if index < len(infos) else None
                if info is not None:  # Monitor's raw return, whatever normalization is on
                    success = infos[index].get("is_success")
                    self.recorder.emit(Episode(env_index=int(index), episode=self.episodes, episode_return=float(info["r"]),
                                               length=int(info["l"]), env_steps=self.num_timesteps,
                                               success=bool(success) if success is not None else None))
                    self.episodes += 1
        return True

    def _on_training_end(self) -> None:
        # SB3 dumps its log before each update, so the last update's losses would never be written.
        if self.model.logger.name_to_value:
            self.model.logger.dump(step=self.num_timesteps)

    def window(self, env_steps: int) -> dict[str, Any]:
        """The accumulator's record for the window since the last one (one host sync)."""
        return self.accumulator.emit(env_steps, getattr(self.model, "_n_updates", 0), time.monotonic() - self.started)


def _is_discrete(action_space: Any) -> bool:
    from gymnasium import spaces

    return isinstance(action_space, spaces.Discrete)


def _all_finite(x: np.ndarray) -> bool:
    # A NaN or an infinity makes the sum non-finite; so may an overflow, which the exact check clears.
    # For a few values the Python sum costs a fifth of NumPy's isfinite + all.
    if x.size <= 64 and math.isfinite(sum(x.ravel().tolist())):
        return True
    return bool(np.isfinite(x).all())


class EventLogOutput(KVWriter):
    """SB3's logger output that turns each ``dump`` into one ``metrics`` record."""

    def __init__(self, callback: TelemetryCallback) -> None:
        self.callback = callback

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        window = self.callback.window(step)
        values: dict[str, Any] = {k: v for k, v in window.items() if k not in ("env_steps", "opt_steps", "wall_time_s", "sps")}
        for key, value in key_values.items():
            if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
                continue  # videos, figures, text: not scalars
            value = float(value) if isinstance(value, float | np.floating) else int(value)
            if isinstance(value, float) and not math.isfinite(value):
                continue  # e.g. explained_variance of a constant return: undefined, not an error
            values[key] = value
        record = Metrics(env_steps=int(step), opt_steps=int(window.get("opt_steps", 0)),
                         wall_time_s=float(window.get("wall_time_s", 0.0)),
                         sps=float(window.get("sps", key_values.get("time/fps", 0.0)) or 0.0), values=values)
        self.callback.last_metrics = {"env_steps": record.env_steps, **values}
        self.callback.recorder.emit(record)

    def close(self) -> None:
        pass


class EventLogger(Logger):
    """SB3's logger, checking each loss as the learner records it: SB3 dumps the log only after
    the next rollout, which a diverged network would crash first with a less telling error."""

    def __init__(self, callback: TelemetryCallback) -> None:
        super().__init__(folder=None, output_formats=[EventLogOutput(callback)])
        self.callback = callback

    def record(self, key: str, value: Any, exclude: str | tuple[str, ...] | None = None) -> None:
        if "loss" in key and isinstance(value, float | np.floating) and not math.isfinite(value):
            steps = self.callback.num_timesteps
            raise TrainingError(f"{key} became {value} at {steps} env steps: the learner diverged",
                                hint="lower train.learning_rate, normalize observations/rewards, or clip gradients")
        super().record(key, value, exclude)


def event_logger(callback: TelemetryCallback) -> Logger:
    return EventLogger(callback)


class EvalStepRecorder:
    """Records every evaluation step as a ``step`` record, with a PNG frame every ``frame_every``
    steps of env 0 when the env renders, so each evaluated checkpoint can be replayed."""

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
