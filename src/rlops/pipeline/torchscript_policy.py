"""A policy exported as TorchScript (the ``offline`` runner's d3rlpy policies): loaded without the
library that trained it and without unpickling Python objects, and answering SB3's ``predict()``
like ``VectorAgent``, so eval, infer, rollout and serve run it unchanged.

A checkpoint says it holds one with ``policy_format: torchscript`` in its manifest and the file
``policy.pt``: observations (float32, batched) in, actions out (indices for a discrete space).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from rlops.errors import CheckpointCorruptError
from rlops.options.schema import Options
from rlops.pipeline.checkpoints import Checkpoint
from rlops.pipeline.envs import make_vector_env
from rlops.pipeline.loading import EVAL_SEED_OFFSET, LoadedPolicy

FORMAT = "torchscript"
POLICY_FILE = "policy.pt"


class _NoTraining:
    """What ``ServedPolicy`` asks of a policy module: a graph has no training mode to leave."""

    def set_training_mode(self, mode: bool) -> None:
        pass


class TorchScriptAgent:
    def __init__(self, module: torch.jit.ScriptModule, observation_space: spaces.Space,
                 action_space: spaces.Space) -> None:
        self.module = module.eval()
        self.device = torch.device("cpu")  # exported graphs are loaded onto the CPU
        self.policy = _NoTraining()
        self.observation_space = observation_space
        self.action_space = action_space
        self.shape = tuple(observation_space.shape or ())

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint, observation_space: spaces.Space,
                        action_space: spaces.Space) -> TorchScriptAgent:
        return cls(load_graph(checkpoint), observation_space, action_space)

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == len(self.shape)
        with torch.no_grad():
            out = self.module(torch.as_tensor(obs[None] if single else obs)).cpu().numpy()
        if isinstance(self.action_space, spaces.Discrete):
            actions = out.reshape(-1).astype(np.int64)
        else:
            actions = np.clip(out.reshape((-1, *self.action_space.shape)), self.action_space.low,
                              self.action_space.high).astype(self.action_space.dtype)
        return (actions[0] if single else actions), None


def is_torchscript(checkpoint: Checkpoint) -> bool:
    return checkpoint.manifest.get("policy_format") == FORMAT


def load_graph(checkpoint: Checkpoint) -> torch.jit.ScriptModule:
    """The checkpoint's exported policy, on the CPU; a missing or unloadable file is refused as corrupt."""
    path = checkpoint.file(POLICY_FILE)
    if path is None:
        raise CheckpointCorruptError(f"checkpoint {checkpoint.path} says {FORMAT} but has no {POLICY_FILE}")
    try:
        with warnings.catch_warnings():  # torch 2.13 deprecates the TorchScript API it still loads
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError) as exc:
        raise CheckpointCorruptError(f"{path} is not a loadable TorchScript policy: {str(exc)[:200]}") from None


def load_torchscript_policy(checkpoint: Checkpoint, options: Options, n_envs: int,
                            render_mode: str | None) -> LoadedPolicy:
    seed = (options.env.seed or 0) + EVAL_SEED_OFFSET
    venv = make_vector_env(options.env, seed=seed, n_envs=n_envs, render_mode=render_mode)
    try:
        agent = TorchScriptAgent.from_checkpoint(checkpoint, venv.observation_space, venv.action_space)
    except BaseException:
        venv.close()
        raise
    return LoadedPolicy(checkpoint, options, agent, venv)  # type: ignore[arg-type]
