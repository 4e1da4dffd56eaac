"""Envs that fail on purpose (``module:callable`` factories for the receipt tests)."""

from __future__ import annotations

import gymnasium as gym


class FailAfter(gym.Wrapper):
    """CartPole that raises after ``steps`` steps, or returns a NaN reward from then on."""

    def __init__(self, steps: int, nan: bool) -> None:
        super().__init__(gym.make("CartPole-v1"))
        self.left, self.nan = steps, nan

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.left -= 1
        if self.left <= 0:
            if not self.nan:
                raise RuntimeError("the simulator lost its connection")
            reward = float("nan")
        return obs, reward, terminated, truncated, info


def crashing(**_: object) -> gym.Env:
    return FailAfter(40, nan=False)


def nan_rewards(**_: object) -> gym.Env:
    return FailAfter(40, nan=True)
