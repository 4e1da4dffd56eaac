"""Rollout storage: one preallocated tensor per quantity, ``(n_steps, n_envs, ...)``, on the device.

A rollout writes row ``t`` of each tensor in place (no allocation while stepping); the update
reads them flattened to ``(n_steps * n_envs, ...)``.
"""

from __future__ import annotations

import torch


class RolloutBuffer:
    def __init__(self, n_steps: int, n_envs: int, obs_shape: tuple[int, ...], action_shape: tuple[int, ...],
                 discrete: bool, device: torch.device) -> None:
        self.n_steps, self.n_envs = n_steps, n_envs

        def zeros(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
            return torch.zeros((n_steps, n_envs, *shape), dtype=dtype, device=device)

        self.obs = zeros(*obs_shape)
        self.actions = zeros(dtype=torch.long) if discrete else zeros(*action_shape)
        self.log_probs = zeros()
        self.values = zeros()
        self.rewards = zeros()  # as the loss sees them (scaled when rewards are normalized)
        self.terminated = zeros(dtype=torch.bool)  # the episode ended in a terminal state: no bootstrap
        self.dones = zeros(dtype=torch.bool)  # the episode ended (terminated or truncated): no carry-over
        self.valid = zeros()  # 0 on the reset steps of next-step autoreset: the action did nothing

    def store(self, t: int, obs: torch.Tensor, actions: torch.Tensor, log_probs: torch.Tensor, values: torch.Tensor,
              valid: torch.Tensor) -> None:
        self.obs[t] = obs
        self.actions[t] = actions
        self.log_probs[t] = log_probs
        self.values[t] = values
        self.valid[t] = valid

    def store_outcome(self, t: int, rewards: torch.Tensor, terminated: torch.Tensor, dones: torch.Tensor) -> None:
        self.rewards[t] = rewards
        self.terminated[t] = terminated
        self.dones[t] = dones

    def flat(self, name: str) -> torch.Tensor:
        tensor = getattr(self, name)
        return tensor.reshape(self.n_steps * self.n_envs, *tensor.shape[2:])
