"""Batched envs for the vector engine: gymnasium's vector API, stepped with device tensors.

``env.vectorization`` picks the implementation: the env's own batched version
(``vector_entry_point``: CartPole steps 16,384 envs as NumPy arrays), gymnasium's ``sync`` or
``async`` vector envs for any other id, or EnvPool's C++ envs. All of them reset an ended
episode on the NEXT step (gymnasium's default autoreset): the step that ends an episode returns
its final observation, and the following step returns the first of the next one, with reward 0
and an ignored action. The loop masks those reset steps out of the loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlops.errors import IncompatibleChoiceError, UsageError
from rlops.options.schema import EnvOptions
from rlops.pipeline.envs import env_constructor

EXACT_STATE = ("state", "steps", "prev_done", "steps_beyond_terminated")  # CartPoleVectorEnv's whole state


def vectorization_of(options: EnvOptions) -> str:
    mode = options.vectorization
    has_entry = _vector_entry_point(options.env_id) is not None
    if mode == "auto":
        return "vector_entry_point" if has_entry else "sync"
    if mode == "vector_entry_point" and not has_entry:
        raise IncompatibleChoiceError(f"env {options.env_id} has no vector_entry_point (a batched version)",
                                      hint="use env.vectorization sync or async (or auto)")
    return mode


def _vector_entry_point(env_id: str) -> Any:
    spec = gym.registry.get(env_id)
    return spec.vector_entry_point if spec is not None else None


@dataclass
class StepResult:
    obs: torch.Tensor
    rewards: torch.Tensor  # float32
    terminated: torch.Tensor  # bool
    truncated: torch.Tensor  # bool
    infos: dict[str, Any]


class BatchedEnv:
    """``n_envs`` envs as one: actions in and observations out as tensors on ``device``."""

    def __init__(self, options: EnvOptions, n_envs: int, seed: int, device: torch.device,
                 render_mode: str | None = None) -> None:
        self.mode = vectorization_of(options)
        self.env_id = options.env_id
        self.n_envs = n_envs
        self.seed = seed
        self.device = device
        self.env = _make(options, self.mode, n_envs, seed, render_mode)
        self.single_observation_space = self.env.single_observation_space
        self.single_action_space = self.env.single_action_space
        if not isinstance(self.single_observation_space, gym.spaces.Box):
            raise IncompatibleChoiceError(
                f"train.engine=vector needs Box observations; {options.env_id} has "
                f"{type(self.single_observation_space).__name__}", hint="use train.engine sb3 for this env")
        if not isinstance(self.single_action_space, gym.spaces.Box | gym.spaces.Discrete):
            raise IncompatibleChoiceError(
                f"train.engine=vector acts in Discrete or Box spaces; {options.env_id} has "
                f"{type(self.single_action_space).__name__}", hint="use train.engine sb3 for this env")
        self.discrete = isinstance(self.single_action_space, gym.spaces.Discrete)
        self._to_device = device.type != "cpu"

    def reset(self, seed: int | None = None) -> torch.Tensor:
        if self.mode == "envpool":  # seeded when made; it warns that a reset's seed is ignored
            obs, _ = self.env.reset()
        else:
            obs, _ = self.env.reset(seed=self.seed if seed is None else seed)
        return self._tensor(obs, torch.float32)

    def step(self, actions: torch.Tensor) -> StepResult:
        # One transfer each way per step; on CPU both are zero-copy views.
        host = actions.cpu().numpy() if self._to_device else actions.numpy()
        obs, rewards, terminated, truncated, infos = self.env.step(host)
        return StepResult(self._tensor(obs, torch.float32), self._tensor(rewards, torch.float32),
                          self._tensor(terminated, torch.bool), self._tensor(truncated, torch.bool), infos)

    def _tensor(self, array: Any, dtype: torch.dtype) -> torch.Tensor:
        tensor = torch.from_numpy(np.asarray(array))
        if tensor.dtype != dtype:
            tensor = tensor.to(dtype)
        return tensor.to(self.device, non_blocking=True) if self._to_device else tensor

    # -- exact resume ---------------------------------------------------------------------------

    @property
    def exact_state(self) -> bool:
        """Whether ``state()`` holds all of the envs (so that a resumed run continues exactly)."""
        return self.mode == "vector_entry_point" and all(hasattr(self.env.unwrapped, k) for k in EXACT_STATE[:3])

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """Arrays and JSON of the envs' state, or None where the implementation cannot give it."""
        if not self.exact_state:
            return None
        env = self.env.unwrapped
        arrays = {f"env_{k}": np.asarray(getattr(env, k)) for k in EXACT_STATE[:3]}
        return arrays, {"np_random": env.np_random.bit_generator.state,
                        "steps_beyond_terminated": getattr(env, "steps_beyond_terminated", None)}

    def restore(self, arrays: Any, extra: dict[str, Any]) -> torch.Tensor:
        """Put the envs back where they were; returns the observation the next step acts on."""
        env = self.env.unwrapped
        self.env.reset(seed=self.seed)  # allocates everything; then overwritten
        for key in EXACT_STATE[:3]:
            setattr(env, key, np.array(arrays[f"env_{key}"], copy=True))
        env.np_random.bit_generator.state = extra["np_random"]
        env.steps_beyond_terminated = extra.get("steps_beyond_terminated")
        return self._tensor(env.state.T.astype(np.float32), torch.float32)

    def render(self) -> Any:
        return self.env.render()

    def close(self) -> None:
        self.env.close()


def _make(options: EnvOptions, mode: str, n_envs: int, seed: int, render_mode: str | None) -> gym.vector.VectorEnv:
    kwargs = dict(options.env_kwargs)
    if mode == "vector_entry_point":
        if render_mode is not None:
            kwargs["render_mode"] = render_mode
        return gym.make_vec(options.env_id, num_envs=n_envs, vectorization_mode="vector_entry_point", **kwargs)
    if mode == "envpool":
        return _envpool(options.env_id, n_envs, seed, kwargs)
    constructor = env_constructor(options.env_id, kwargs, render_mode)
    if mode == "async" and n_envs > 1:
        return gym.vector.AsyncVectorEnv([constructor] * n_envs)
    return gym.vector.SyncVectorEnv([constructor] * n_envs)


def _envpool(env_id: str, n_envs: int, seed: int, kwargs: dict[str, Any]) -> gym.vector.VectorEnv:
    try:
        import envpool  # type: ignore[import-not-found]
    except ImportError:
        raise UsageError("env.vectorization=envpool needs EnvPool, which is not installed",
                         hint="pip install 'rlops[envpool]' (Linux x86-64, Python 3.11+), or use sync/async") from None
    if env_id not in envpool.list_all_envs():
        raise IncompatibleChoiceError(f"EnvPool has no env {env_id!r}", hint="use env.vectorization sync or async")
    # EnvPool resets an ended episode on the next step too, and seeds env i with seed + i itself.
    return envpool.make_gymnasium(env_id, num_envs=n_envs, seed=seed, **kwargs)
