"""A CartPole that dies the way a native library does (``abort()``, signal 6), reachable as
``tests.pipeline.aborting_env:aborting``."""

from __future__ import annotations

import os

from gymnasium.envs.classic_control import CartPoleEnv


class AbortingCartPole(CartPoleEnv):
    def __init__(self, abort_at: int = 100, render_mode: str | None = None) -> None:
        super().__init__(render_mode=render_mode)
        self.abort_at, self.count = abort_at, 0

    def step(self, action):  # noqa: ANN001, ANN201 - gymnasium's signature
        self.count += 1
        if self.count >= self.abort_at:
            os.abort()  # what libc++abi's "recursive initialization" did inside MuJoCo's GLFW
        return super().step(action)


def aborting(abort_at: int = 100, render_mode: str | None = None) -> AbortingCartPole:
    return AbortingCartPole(abort_at, render_mode)


class UnrenderableCartPole(CartPoleEnv):
    """A CartPole whose renderer fails, as MuJoCo's does where no OpenGL context can be made."""

    def render(self):  # noqa: ANN201
        raise RuntimeError("an OpenGL platform library has not been loaded into this process")


def unrenderable(render_mode: str | None = None) -> UnrenderableCartPole:
    return UnrenderableCartPole(render_mode=render_mode)
