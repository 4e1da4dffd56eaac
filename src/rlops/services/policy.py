"""A policy that serves: raw observations in, actions out, with the statistics it was trained with.

The env is only needed to build the model, so it is closed at once; what stays is the SB3 policy
and, where observations were normalized, the running mean and variance, applied here exactly as
VecNormalize does (tiled across stacked frames, which VecFrameStack appends along the last axis).
Clients send observations of the shape the policy sees (stacked when obs.stack_frames is set).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from rlops.errors import UsageError
from rlops.pipeline.checkpoints import Checkpoint
from rlops.pipeline.loading import load_policy
from rlops.pipeline.sb3.observations import find_normalizer
from rlops.pipeline.torchscript_policy import TorchScriptAgent
from rlops.pipeline.vector.agent import VectorAgent


class ObservationError(UsageError):
    """An observation the policy cannot take: says the shape it expects."""


@dataclass
class ObsNormalization:
    mean: np.ndarray
    var: np.ndarray
    epsilon: float
    clip: float

    def apply(self, obs: np.ndarray) -> np.ndarray:
        return np.clip((obs - self.mean) / np.sqrt(self.var + self.epsilon), -self.clip, self.clip).astype(np.float32)


class ServedPolicy:
    def __init__(self, checkpoint: Checkpoint, device: str = "cpu", model_row: dict[str, Any] | None = None) -> None:
        loaded = load_policy(checkpoint, device=device)
        try:
            self.model = loaded.model
            self.observation_space = loaded.venv.observation_space
            self.action_space = loaded.venv.action_space
            self.normalization = _normalization(loaded.venv, self.observation_space)
        finally:
            loaded.close()
        if isinstance(self.observation_space, spaces.Dict):
            raise UsageError("serving dict observations is not supported", hint="serve a policy with a Box observation")
        self.policy = self.model.policy
        self.policy.set_training_mode(False)
        self.checkpoint = checkpoint
        self.model_row = model_row or {}
        self.loaded_at = time.time()
        self.shape = tuple(self.observation_space.shape)
        self._lock = threading.Lock()  # one forward pass at a time: torch threads already use the cores

    def act(self, observations: Any, deterministic: bool = True) -> tuple[np.ndarray, bool]:
        """Actions for one observation or a batch; returns (actions, was_batch)."""
        obs = self._checked(observations)
        batch = obs.ndim == len(self.shape) + 1
        if not batch:
            obs = obs[None]
        if self.normalization is not None:
            obs = self.normalization.apply(obs)
        with self._lock, torch.no_grad():
            actions = self._forward(obs, deterministic)
        return (actions if batch else actions[0]), batch

    def _forward(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        # SB3's predict() minus what costs more than the network on a small MLP: it switches the
        # modules to eval mode on every call (done once here) and validates a distribution object.
        if isinstance(self.model, (VectorAgent, TorchScriptAgent)):  # they normalize and bound their own actions
            return self.model.predict(obs, deterministic=deterministic)[0]
        policy = self.policy
        tensor, _ = policy.obs_to_tensor(obs)  # SB3's own preprocessing (image transposition included)
        actions = policy._predict(tensor, deterministic=deterministic).cpu().numpy()
        actions = actions.reshape((-1, *self.action_space.shape))
        if isinstance(self.action_space, spaces.Box):
            if policy.squash_output:
                actions = policy.unscale_action(actions)
            else:
                actions = np.clip(actions, self.action_space.low, self.action_space.high)
        return actions

    def _checked(self, observations: Any) -> np.ndarray:
        try:
            obs = np.asarray(observations, dtype=np.float32)
        except (TypeError, ValueError):
            raise ObservationError(f"observation is not a numeric array; expected shape {list(self.shape)} "
                                   f"or [batch, {', '.join(map(str, self.shape))}]") from None
        if obs.shape != self.shape and obs.shape[1:] != self.shape or obs.size == 0:
            raise ObservationError(f"observation has shape {list(obs.shape)}; expected {list(self.shape)} "
                                   f"or [batch, {', '.join(map(str, self.shape))}]")
        if not np.isfinite(obs).all():
            raise ObservationError("observation holds NaN or Inf",
                                   hint=f"send finite numbers, shaped {list(self.shape)} or [batch, "
                                        f"{', '.join(map(str, self.shape))}]")
        return obs

    def describe(self) -> dict[str, Any]:
        row = self.model_row
        return {"model_id": row.get("id"), "env_id": self.checkpoint.options["env"]["env_id"],
                "algorithm": self.checkpoint.options["agent"]["algorithm"], "model_path": str(self.checkpoint.path),
                "sha256": self.checkpoint.sha256, "env_steps": self.checkpoint.env_steps,
                "mean_reward": row.get("mean_reward"), "std_reward": row.get("std_reward"),
                "validated": row.get("validated"), "deployment_status": row.get("deployment_status"),
                "observation_shape": list(self.shape), "action_space": str(self.action_space),
                "loaded_at": self.loaded_at}


def _normalization(venv: Any, observation_space: spaces.Space) -> ObsNormalization | None:
    normalizer = find_normalizer(venv)
    if normalizer is None or not normalizer.norm_obs:
        return None
    mean, var = np.asarray(normalizer.obs_rms.mean), np.asarray(normalizer.obs_rms.var)
    shape = observation_space.shape
    if mean.shape != shape:  # frames stacked after normalization, along the last axis
        reps = (1,) * (len(shape) - 1) + (shape[-1] // mean.shape[-1],)
        mean, var = np.tile(mean, reps), np.tile(var, reps)
    return ObsNormalization(mean, var, float(normalizer.epsilon), float(normalizer.clip_obs))
