"""Running normalization of observations and rewards, as batched tensor ops on the device.

A whole vector step updates the statistics at once (Chan's parallel mean/variance merge), so
16,384 envs cost two reductions, not 16,384 updates. Statistics are float64 as in SB3's
VecNormalize; they are saved in each checkpoint (``normalization.npz``) and applied unchanged by
eval, infer and serve.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

EPSILON = 1e-8
CLIP_REWARD = 10.0


class RunningMeanStd:
    def __init__(self, shape: tuple[int, ...], device: torch.device) -> None:
        self.mean = torch.zeros(shape, dtype=torch.float64, device=device)
        self.var = torch.ones(shape, dtype=torch.float64, device=device)
        self.count = torch.full((), 1e-4, dtype=torch.float64, device=device)  # SB3's start: no division by 0

    def update(self, batch: torch.Tensor) -> None:
        batch = batch.to(torch.float64)
        batch_mean = batch.mean(0)
        batch_var = batch.var(0, unbiased=False)
        n = batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean += delta * (n / total)
        self.var.copy_((self.var * self.count + batch_var * n + delta.square() * (self.count * n / total)) / total)
        self.count.copy_(total)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}_mean": self.mean.cpu().numpy(), f"{prefix}_var": self.var.cpu().numpy(),
                f"{prefix}_count": self.count.cpu().numpy()}

    def load(self, arrays: Any, prefix: str) -> None:
        for name in ("mean", "var", "count"):
            getattr(self, name).copy_(torch.as_tensor(np.asarray(arrays[f"{prefix}_{name}"]), dtype=torch.float64))


class Normalizer:
    """What ``obs.normalize`` asks for: observations, rewards (by the discounted return), both or neither."""

    def __init__(self, mode: str, obs_shape: tuple[int, ...], n_envs: int, gamma: float, clip: float | None,
                 device: torch.device) -> None:
        self.norm_obs = mode in ("obs", "all")
        self.norm_reward = mode in ("reward", "all")
        self.clip = clip
        self.gamma = gamma
        self.obs_rms = RunningMeanStd(obs_shape, device)
        self.ret_rms = RunningMeanStd((), device)
        self.returns = torch.zeros(n_envs, dtype=torch.float64, device=device)

    @property
    def active(self) -> bool:
        return self.norm_obs or self.norm_reward

    def observations(self, obs: torch.Tensor, update: bool) -> torch.Tensor:
        if not self.norm_obs:
            return obs
        if update:
            self.obs_rms.update(obs)
        return normalize_obs(obs, self.obs_rms.mean, self.obs_rms.var, self.clip)

    def rewards(self, rewards: torch.Tensor, dones: torch.Tensor) -> torch.Tensor:
        if not self.norm_reward:
            return rewards
        self.returns.mul_(self.gamma).add_(rewards)
        self.ret_rms.update(self.returns)
        self.returns.masked_fill_(dones, 0.0)
        scaled = rewards / torch.sqrt(self.ret_rms.var + EPSILON).to(rewards.dtype)
        return scaled.clamp(-CLIP_REWARD, CLIP_REWARD)

    def arrays(self) -> dict[str, np.ndarray]:
        flags = np.array([self.norm_obs, self.norm_reward])
        return {"flags": flags, "clip": np.array(self.clip if self.clip is not None else np.inf),
                **self.obs_rms.arrays("obs"), **self.ret_rms.arrays("ret"), "returns": self.returns.cpu().numpy()}

    def load(self, arrays: Any, with_returns: bool = True) -> None:
        self.obs_rms.load(arrays, "obs")
        self.ret_rms.load(arrays, "ret")
        if with_returns and np.asarray(arrays["returns"]).shape == tuple(self.returns.shape):
            self.returns.copy_(torch.as_tensor(np.asarray(arrays["returns"])))


def normalize_obs(obs: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, clip: float | None) -> torch.Tensor:
    scaled = (obs - mean.to(obs.dtype)) / torch.sqrt(var + EPSILON).to(obs.dtype)
    return scaled.clamp(-clip, clip) if clip is not None else scaled
