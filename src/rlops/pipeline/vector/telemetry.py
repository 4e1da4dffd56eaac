"""The vector engine's telemetry: per-step tensors into the accumulator, one record per rollout.

Nothing leaves the device while stepping. Episode bookkeeping (running returns and lengths,
the sums behind ``rollout/ep_rew_mean``) is tensor arithmetic; the episodes of the first
``EPISODE_ENVS`` envs are kept in preallocated rows for ``episode`` records (all of them at 16,384
envs would drown the log, as the observability plan warns). At the record, the accumulator's
window, the update's losses and those episode rows travel to the host in ONE transfer.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any

import numpy as np
import torch

from rlops.errors import TrainingError
from rlops.events.accumulator import MetricsAccumulator
from rlops.events.schema import Episode, Metrics
from rlops.pipeline.receipts import RunTail
from rlops.sinks.recorder import RunRecorder

EPISODE_ENVS = 16  # envs whose every episode becomes an ``episode`` record
RING = 64  # steps kept for a failure receipt
RING_ENVS = 4

UPDATE_NAMES = {"policy_loss": "train/policy_gradient_loss", "value_loss": "train/value_loss",
                "entropy_loss": "train/entropy_loss", "approx_kl": "train/approx_kl",
                "clip_fraction": "train/clip_fraction", "loss": "train/loss",
                "explained_variance": "train/explained_variance", "std": "train/std"}


class RolloutTelemetry:
    def __init__(self, recorder: RunRecorder | None, accumulator: MetricsAccumulator, n_envs: int, n_steps: int,
                 device: torch.device, info_keys: tuple[str, ...] = (), discrete: bool = True,
                 every_steps: int | None = None) -> None:
        self.recorder = recorder
        self.accumulator = accumulator
        self.info_keys = info_keys
        self.discrete = discrete
        self.n_envs = n_envs
        self.tracked = min(n_envs, EPISODE_ENVS)
        self.episodes = 0  # episode records emitted (the episode index of the next one)
        self.started = time.monotonic()
        self.wall_offset = 0.0  # wall time of the run before a resume
        self.last_metrics: dict[str, Any] = {}
        # metrics.every_steps: a record mid-rollout too (one host transfer each); unset: one per rollout.
        self.every_steps = every_steps
        self._next_record: int | None = None
        self.opt_steps = 0
        self.ring: deque[tuple[torch.Tensor, torch.Tensor]] = deque(maxlen=RING)
        zeros = torch.zeros
        self.ep_return = zeros(n_envs, device=device)
        self.ep_length = zeros(n_envs, dtype=torch.int32, device=device)
        self.window = zeros(3, dtype=torch.float64, device=device)  # sum of returns, of lengths, episodes ended
        self.ended_rows = zeros((n_steps, self.tracked), device=device)
        self.return_rows = zeros((n_steps, self.tracked), device=device)
        self.length_rows = zeros((n_steps, self.tracked), device=device)
        self.row_steps: list[int] = [0] * n_steps  # env_steps at each row (host-side: counts are known)
        self.rows = 0

    def step(self, env_steps: int, rewards: torch.Tensor, terminated: torch.Tensor, truncated: torch.Tensor,
             resets: torch.Tensor, valid: torch.Tensor, actions: torch.Tensor, values: torch.Tensor,
             log_probs: torch.Tensor, infos: dict[str, Any]) -> None:
        extras, successes = self._infos(infos, terminated | truncated)
        self.accumulator.update(rewards, terminated, truncated, resets=resets,
                                actions=actions if self.discrete else None, values=values, log_probs=log_probs,
                                infos=extras, successes=successes)
        ended = terminated | truncated
        self.ep_return += rewards
        self.ep_length += valid.to(torch.int32)
        ended_f = ended.to(torch.float32)
        row, k = self.rows, self.tracked
        self.ended_rows[row] = ended_f[:k]
        self.return_rows[row] = self.ep_return[:k]
        self.length_rows[row] = self.ep_length[:k]
        self.row_steps[row] = env_steps
        self.rows += 1
        self.window += torch.stack([(self.ep_return * ended_f).sum(), (self.ep_length * ended_f).sum(),
                                    ended_f.sum()]).to(torch.float64)
        self.ep_return.masked_fill_(ended, 0.0)
        self.ep_length.masked_fill_(ended, 0)
        self.ring.append((actions[:RING_ENVS].detach().clone(), rewards[:RING_ENVS].clone()))
        if self.every_steps:
            if self._next_record is None:
                self._next_record = _next_multiple(env_steps - self.n_envs, self.every_steps)
            if env_steps >= self._next_record:
                self.record(env_steps, self.opt_steps, {})

    def _infos(self, infos: dict[str, Any], ended: torch.Tensor) -> tuple[dict[str, Any] | None, Any]:
        if not infos:
            return None, None
        extras = {key: infos[key] for key in self.info_keys if key in infos and infos.get(f"_{key}", True) is not False}
        successes = None
        if "is_success" in infos:
            successes = torch.as_tensor(np.asarray(infos["is_success"], dtype=bool), device=ended.device) & ended
        return extras or None, successes

    def record(self, env_steps: int, opt_steps: int, update: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Emit the rollout's ``metrics`` record and its ``episode`` records; one host transfer."""
        rows = self.rows
        self.opt_steps = opt_steps
        if self.every_steps:
            self._next_record = _next_multiple(env_steps, self.every_steps)
        extra = {"update:" + name: value for name, value in update.items()}
        extra.update(window=self.window, ended=self.ended_rows[:rows], returns=self.return_rows[:rows],
                     lengths=self.length_rows[:rows])
        wall = self.wall_offset + time.monotonic() - self.started
        fields, host = self.accumulator.take_window_with(env_steps, opt_steps, wall, extra)
        values = {k: v for k, v in fields.items() if k not in ("env_steps", "opt_steps", "wall_time_s", "sps")}
        for name, value in host.items():
            if name.startswith("update:"):
                key = name[len("update:"):]
                number = float(value[0])
                if "loss" in key and not math.isfinite(number):
                    raise TrainingError(f"{UPDATE_NAMES.get(key, key)} became {number} at {env_steps} env steps: "
                                        "the learner diverged",
                                        hint="lower train.learning_rate, normalize observations/rewards "
                                             "(obs.normalize), or clip gradients (max_grad_norm)")
                if math.isfinite(number):
                    values[UPDATE_NAMES.get(key, f"train/{key}")] = number
        returns_sum, lengths_sum, ended = host["window"]
        if ended:
            values["rollout/ep_rew_mean"] = returns_sum / ended
            values["rollout/ep_len_mean"] = lengths_sum / ended
        values["time/fps"] = fields["sps"]
        metrics = Metrics(env_steps=int(env_steps), opt_steps=int(opt_steps), wall_time_s=float(fields["wall_time_s"]),
                          sps=float(fields["sps"]), values=values)
        self.last_metrics = {"env_steps": metrics.env_steps, **values}
        if self.recorder is not None:
            self._episodes(host, rows)  # first: they ended before the step count the record closes at
            self.recorder.emit(metrics)
        self.rows = 0
        self.window.zero_()
        return values

    def _episodes(self, host: dict[str, np.ndarray], rows: int) -> None:
        k = self.tracked
        ended = host["ended"].reshape(rows, k)
        returns, lengths = host["returns"].reshape(rows, k), host["lengths"].reshape(rows, k)
        for row, env in zip(*np.nonzero(ended), strict=True):
            self.recorder.emit(Episode(env_index=int(env), episode=self.episodes, episode_return=float(returns[row, env]),
                                       length=int(lengths[row, env]), env_steps=self.row_steps[row]))
            self.episodes += 1

    def receipt_view(self) -> RunTail:
        """What a failure receipt reads (last actions and rewards as NumPy), taken only on failure."""
        return RunTail(dict(self.last_metrics), self.episodes, [actions.cpu().numpy() for actions, _ in self.ring],
                       [rewards.cpu().numpy() for _, rewards in self.ring])


def _next_multiple(steps: int, every: int) -> int:
    return (steps // every + 1) * every
