"""Tiny envs that fail on purpose, reachable as ``tests.envs:<factory>`` env ids."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control import CartPoleEnv


class FailingCartPole(CartPoleEnv):
    """CartPole that raises after ``fail_at`` steps (counted over its whole life)."""

    def __init__(self, fail_at: int = 100, render_mode: str | None = None) -> None:
        super().__init__(render_mode=render_mode)
        self.fail_at = fail_at
        self.count = 0

    def step(self, action):  # noqa: ANN001, ANN201 - gymnasium's signature
        self.count += 1
        if self.count >= self.fail_at:
            raise RuntimeError(f"simulator exploded at step {self.count}")
        return super().step(action)


class NanRewardCartPole(CartPoleEnv):
    """CartPole whose rewards turn into NaN after ``nan_at`` steps: the learner's losses follow."""

    def __init__(self, nan_at: int = 50, render_mode: str | None = None) -> None:
        super().__init__(render_mode=render_mode)
        self.nan_at = nan_at
        self.count = 0

    def step(self, action):  # noqa: ANN001, ANN201
        self.count += 1
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, (np.nan if self.count >= self.nan_at else reward), terminated, truncated, info


class HugeRewardCartPole(CartPoleEnv):
    """CartPole paying 1e30 a step: finite rewards whose float32 value loss overflows."""

    def step(self, action):  # noqa: ANN001, ANN201
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, 1e30, terminated, truncated, info


def huge_reward(render_mode: str | None = None) -> gym.Env:
    return gym.wrappers.TimeLimit(HugeRewardCartPole(render_mode=render_mode), 500)


def failing(fail_at: int = 100, render_mode: str | None = None) -> gym.Env:
    return gym.wrappers.TimeLimit(FailingCartPole(fail_at, render_mode), 500)


def nan_reward(nan_at: int = 50, render_mode: str | None = None) -> gym.Env:
    return gym.wrappers.TimeLimit(NanRewardCartPole(nan_at, render_mode), 500)
