"""An env that raises on its fifth step: a play session must end with the error shown and the
episode so far kept. Made by id ``tests.play.raising_env:Raising-v0``."""

from __future__ import annotations

import gymnasium as gym
from gymnasium.envs.classic_control.cartpole import CartPoleEnv


class RaisingCartPole(CartPoleEnv):
    def reset(self, **kwargs):  # noqa: ANN003, ANN201
        self.steps_taken = 0
        return super().reset(**kwargs)

    def step(self, action):  # noqa: ANN001, ANN201
        self.steps_taken += 1
        if self.steps_taken == 5:
            raise RuntimeError("the simulator lost its state")
        return super().step(action)


gym.register("Raising-v0", entry_point=RaisingCartPole, max_episode_steps=500)
