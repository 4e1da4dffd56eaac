"""A trained vector-engine policy for eval, infer, rollout and serve.

``VectorAgent`` answers SB3's ``predict()``, so the same evaluation (SB3's evaluate_policy over a
Monitor-wrapped env), inference, rollout and policy server run it unchanged: raw observations
in, normalized with the statistics it was trained with, env actions (clipped or squashed into
the bounds) out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from rlops.options.schema import Options
from rlops.pipeline.checkpoints import Checkpoint
from rlops.pipeline.envs import make_vector_env
from rlops.pipeline.loading import EVAL_SEED_OFFSET, LoadedPolicy
from rlops.pipeline.vector.hyperparams import hyperparams_of
from rlops.pipeline.vector.normalize import Normalizer
from rlops.pipeline.vector.policy import ActorCritic
from rlops.pipeline.vector.state import load_weights


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class VectorAgent:
    def __init__(self, policy: ActorCritic, normalizer: Normalizer, observation_space: spaces.Box,
                 action_space: spaces.Space, device: torch.device) -> None:
        self.policy = policy.eval()
        self.normalizer = normalizer
        self.observation_space = observation_space
        self.action_space = action_space
        self.device = device
        self.shape = tuple(observation_space.shape)

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint, options: Options, observation_space: spaces.Box,
                        action_space: spaces.Space, device: str = "auto") -> VectorAgent:
        where = resolve_device(device)
        params = hyperparams_of(options)
        policy = ActorCritic(observation_space, action_space, params).to(where)
        normalizer = Normalizer(options.obs.normalize, tuple(observation_space.shape), 1, params.gamma,
                                options.obs.clip_range, where)
        load_weights(policy, normalizer, checkpoint)
        return cls(policy, normalizer, observation_space, action_space, where)

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        obs = torch.as_tensor(np.asarray(observation, dtype=np.float32), device=self.device)
        single = obs.ndim == len(self.shape)
        if single:
            obs = obs[None]
        with torch.no_grad():
            seen = self.normalizer.observations(obs, update=False)
            action, _, _, _ = self.policy.act(seen, deterministic=deterministic)
            actions = self.policy.env_action(action).cpu().numpy()
        return (actions[0] if single else actions), None


def load_vector_policy(checkpoint: Checkpoint, options: Options, device: str, n_envs: int,
                       render_mode: str | None) -> LoadedPolicy:
    """``loading.load_policy`` for a vector-engine checkpoint: the agent beside a Monitor-wrapped
    env of ``n_envs`` (SB3's VecEnv, which evaluation, inference and rollout step)."""
    seed = (options.env.seed or 0) + EVAL_SEED_OFFSET
    venv = make_vector_env(options.env, seed=seed, n_envs=n_envs, render_mode=render_mode)
    try:
        agent = VectorAgent.from_checkpoint(checkpoint, options, venv.observation_space, venv.action_space, device)
    except BaseException:
        venv.close()
        raise
    return LoadedPolicy(checkpoint, options, agent, venv)  # type: ignore[arg-type]
