"""SB3 -> events: the one place the SB3 engine's training loop reports to the rest of rlops.

``TelemetryCallback`` reads each vector step from SB3's rollout locals (rewards, dones, infos,
actions, values, log-probs), feeds the metrics accumulator, emits an ``episode`` record per
finished episode and keeps short ring buffers for a failure receipt. It writes two kinds of
``metrics`` record, each at the env step it belongs to, whatever the algorithm's rollout length:

- rollout statistics every ``every_steps`` env steps (the accumulator's window: done, trunc and
  reset rates, reward, entropy, value stats, info-key percentiles; SB3's ``rollout/ep_rew_mean``
  and ``time/fps``), so that a PPO run with 16,384-step rollouts still charts a point per 2,048;
- the learner's values (``train/*``: losses, KL...) after its update, at the step the update
  followed, at most once per ``every_steps`` (A2C updates every 40 steps; SAC every step).

What SB3 records reaches the callback through ``sb3.logger`` (``take_logged``). A non-finite
reward stops training here, a non-finite loss there: either would only poison the run from then on.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from rlops.errors import TrainingError
from rlops.events.accumulator import MetricsAccumulator
from rlops.events.schema import Episode, Metrics
from rlops.pipeline.receipts import RunTail
from rlops.pipeline.sb3.counters import updates_done
from rlops.sinks.recorder import RunRecorder

RING = 64  # vector steps kept for a failure receipt
EVERY_STEPS = 2048  # env steps between rollout-statistics records unless metrics.every_steps says otherwise
_FIELDS = ("env_steps", "opt_steps", "wall_time_s", "sps")  # the record's own fields, not values


class TelemetryCallback(BaseCallback):
    def __init__(self, recorder: RunRecorder, accumulator: MetricsAccumulator, info_keys: tuple[str, ...] = (),
                 record_episodes: bool = True, every_steps: int | None = None) -> None:
        super().__init__()
        self.recorder = recorder
        self.accumulator = accumulator
        self.info_keys = info_keys
        self.record_episodes = record_episodes
        self.every_steps = every_steps or EVERY_STEPS
        self.episodes = 0
        self.started = time.monotonic()
        self.start_steps = 0
        self.last_actions: deque[np.ndarray] = deque(maxlen=RING)
        self.last_rewards: deque[np.ndarray] = deque(maxlen=RING)
        self.last_observations: deque[np.ndarray] = deque(maxlen=RING)
        self.last_metrics: dict[str, Any] = {}
        self._discrete_actions: bool | None = None  # the model's action space is Discrete (the histogram)
        self._logged: dict[str, float | int] = {}  # SB3's latest values other than train/* and time/*
        self._losses: dict[str, float | int] = {}  # the learner's train/* values not yet written
        self._next_statistics = self._next_losses = 0  # env steps at which each kind is due next
        self._updates_written = 0
        self._sps = 0.0

    # -- SB3's hooks ----------------------------------------------------------------------------

    def _on_training_start(self) -> None:
        self.started = time.monotonic()
        self.start_steps = self.num_timesteps
        self._next_statistics = self._next_losses = self._next_multiple(self.num_timesteps)
        self._updates_written = updates_done(self.model)
        self._discrete_actions = _is_discrete(self.model.action_space)
        if self._discrete_actions and self.accumulator.n_actions is None:
            self.accumulator.n_actions = int(self.model.action_space.n)  # a fixed histogram: no sizing from data

    def _on_step(self) -> bool:
        local = self.locals
        rewards = np.asarray(local["rewards"])
        _check_finite(rewards, self.num_timesteps)
        dones = np.asarray(local["dones"], dtype=bool)
        infos: list[dict[str, Any]] = local.get("infos") or []
        ended = bool(np.count_nonzero(dones))
        self._accumulate(rewards, dones, infos, ended)
        self._keep_tail(local.get("actions"), rewards, local.get("new_obs"))
        if self.record_episodes and ended:
            self._record_episodes(dones, infos)  # first: they ended before the step a record closes at
        if self.num_timesteps >= self._next_statistics:
            self._record_statistics()
        return True

    def _on_rollout_start(self) -> None:
        # SB3 starts each rollout right after an update: the update's values belong to this step.
        if self.num_timesteps >= self._next_losses:
            self._record_losses()

    def _on_training_end(self) -> None:
        if self.accumulator.transitions:
            self._record_statistics()
        self._record_losses()  # the last update's values: SB3 itself writes them only before the next one

    # -- one vector step --------------------------------------------------------------------------

    def _accumulate(self, rewards: np.ndarray, dones: np.ndarray, infos: list[dict[str, Any]], ended: bool) -> None:
        local = self.locals
        terminated, truncated = split_ends(dones, infos) if ended else (dones, dones)  # all False: no look at infos
        if self._discrete_actions is None:
            self._discrete_actions = _is_discrete(self.model.action_space)
        self.accumulator.update(
            rewards, terminated, truncated, resets=dones,
            actions=local.get("actions") if self._discrete_actions else None,
            values=local.get("values"),  # (n_envs, 1): the accumulator reads every input flat
            log_probs=local.get("log_probs"),
            infos=info_arrays(infos, self.info_keys),
            successes=successes(infos, dones) if ended else None,
        )

    def _keep_tail(self, actions: Any, rewards: np.ndarray, new_obs: Any) -> None:
        if actions is not None:
            self.last_actions.append(np.array(actions, copy=True))
        self.last_rewards.append(rewards.copy())  # a copy: SB3 then adds the bootstrapped value in place
        if isinstance(new_obs, np.ndarray):
            self.last_observations.append(new_obs[:1].copy())

    def _record_episodes(self, dones: np.ndarray, infos: list[dict[str, Any]]) -> None:
        for index in np.flatnonzero(dones):
            info = infos[index].get("episode") if index < len(infos) else None
            if info is None:
                continue
            success = infos[index].get("is_success")  # Monitor's raw return, whatever normalization is on
            self.recorder.emit(Episode(env_index=int(index), episode=self.episodes, episode_return=float(info["r"]),
                                       length=int(info["l"]), env_steps=self.num_timesteps,
                                       success=bool(success) if success is not None else None))
            self.episodes += 1

    # -- records ----------------------------------------------------------------------------------

    def take_logged(self, values: dict[str, float | int], step: int) -> None:
        """What SB3's logger dumped (``sb3.logger.EventLogOutput``): held for the next records."""
        for key, value in values.items():
            if key.startswith("train/"):
                self._losses[key] = value
            elif not key.startswith("time/"):  # counters and a cumulative fps: the record says them itself
                self._logged[key] = value

    def _record_statistics(self) -> None:
        steps = self.num_timesteps
        self._next_statistics = self._next_multiple(steps)
        window = self.accumulator.take_window(steps, updates_done(self.model), time.monotonic() - self.started)
        values = {key: value for key, value in window.items() if key not in _FIELDS}
        values.update(self._logged)
        values.update(episode_means(self.model))
        values["time/fps"] = self._fps()
        self._sps = float(window["sps"])
        self._write(Metrics(env_steps=steps, opt_steps=int(window["opt_steps"]), wall_time_s=window["wall_time_s"],
                            sps=self._sps, values=values))

    def _record_losses(self) -> None:
        updates = updates_done(self.model)
        if updates == self._updates_written:
            return  # no update since the last record (before learning_starts, or the first rollout)
        self.model.logger.dump(step=self.num_timesteps)  # what the update recorded reaches take_logged
        self._updates_written = updates
        self._next_losses = self._next_multiple(self.num_timesteps)
        losses, self._losses = self._losses, {}
        if losses:
            self._write(Metrics(env_steps=self.num_timesteps, opt_steps=updates,
                                wall_time_s=time.monotonic() - self.started, sps=self._sps, values=losses))

    def _write(self, record: Metrics) -> None:
        self.last_metrics = {"env_steps": record.env_steps, **record.values}
        self.recorder.emit(record)

    def _next_multiple(self, steps: int) -> int:
        return (steps // self.every_steps + 1) * self.every_steps

    def _fps(self) -> int:
        # SB3's time/fps: env steps of this learn() call over its wall time.
        return int((self.num_timesteps - self.start_steps) / max(time.monotonic() - self.started, 1e-9))

    def receipt_view(self) -> RunTail:
        """What a failure receipt keeps: the last record's values and the last steps."""
        return RunTail(dict(self.last_metrics), self.episodes, list(self.last_actions), list(self.last_rewards),
                       list(self.last_observations))


def split_ends(dones: np.ndarray, infos: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(terminated, truncated) of a step where some episodes ended."""
    if len(infos) != len(dones):
        return dones, np.zeros_like(dones)
    # A truncation ends an episode: SB3's VecEnvs flag it on done envs only (False elsewhere).
    truncated = np.fromiter((info.get("TimeLimit.truncated", False) for info in infos), bool, len(infos)) & dones
    return dones & ~truncated, truncated


def info_arrays(infos: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The chosen info keys as one array each, where every env's info has them."""
    if not keys or not infos:
        return None
    arrays = {key: np.asarray([info[key] for info in infos], dtype=np.float64)
              for key in keys if all(key in info for info in infos)}
    return arrays or None


def successes(infos: list[dict[str, Any]], dones: np.ndarray) -> np.ndarray | None:
    """Which ended episodes succeeded, where the env says so (``is_success``)."""
    if not any("is_success" in info for info in infos):
        return None
    return np.asarray([bool(info.get("is_success", False)) for info in infos]) & dones


def episode_means(model: Any) -> dict[str, float]:
    """SB3's rollout/ep_rew_mean, ep_len_mean and success_rate, from its episode buffers as they are now."""
    values: dict[str, float] = {}
    episodes = getattr(model, "ep_info_buffer", None)
    if episodes:
        values["rollout/ep_rew_mean"] = float(np.mean([info["r"] for info in episodes]))
        values["rollout/ep_len_mean"] = float(np.mean([info["l"] for info in episodes]))
    outcomes = getattr(model, "ep_success_buffer", None)
    if outcomes:
        values["rollout/success_rate"] = float(np.mean(outcomes))
    return values


def _check_finite(rewards: np.ndarray, env_steps: int) -> None:
    if _all_finite(rewards):
        return
    index = int(np.flatnonzero(~np.isfinite(rewards))[0])
    raise TrainingError(f"env {index} returned reward {rewards[index]} at {env_steps} env steps",
                        hint="a non-finite reward poisons every loss after it; fix the env or clip its rewards")


def _is_discrete(action_space: Any) -> bool:
    from gymnasium import spaces

    return isinstance(action_space, spaces.Discrete)


def _all_finite(x: np.ndarray) -> bool:
    # A NaN or an infinity makes the sum non-finite; so may an overflow, which the exact check clears.
    # For a few values the Python sum costs a fifth of NumPy's isfinite + all.
    if x.size <= 64 and math.isfinite(sum(x.ravel().tolist())):
        return True
    return bool(np.isfinite(x).all())
