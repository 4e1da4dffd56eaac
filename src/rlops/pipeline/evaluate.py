"""Eval: score a policy over whole episodes with SB3's evaluate_policy (which reads the raw
episode returns from Monitor, so normalized rewards never leak into the score)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv

from rlops.pipeline.loading import LoadedPolicy


@dataclass
class EvalResult:
    episodes: int
    mean_reward: float
    std_reward: float
    mean_length: float
    deterministic: bool
    rewards: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    checkpoint: str | None = None
    env_steps: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_model(model: BaseAlgorithm, venv: VecEnv, episodes: int, deterministic: bool = True) -> EvalResult:
    rewards, lengths = evaluate_policy(model, venv, n_eval_episodes=episodes, deterministic=deterministic,
                                       return_episode_rewards=True, warn=False)
    rewards = [float(r) for r in rewards]
    return EvalResult(episodes=len(rewards), mean_reward=float(np.mean(rewards)), std_reward=float(np.std(rewards)),
                      mean_length=float(np.mean(lengths)), deterministic=deterministic,
                      rewards=rewards, lengths=[int(n) for n in lengths])


def evaluate_policy_of(loaded: LoadedPolicy, episodes: int, deterministic: bool = True) -> EvalResult:
    result = evaluate_model(loaded.model, loaded.venv, episodes, deterministic)
    result.checkpoint = str(loaded.checkpoint.path)
    result.env_steps = loaded.checkpoint.env_steps
    return result
