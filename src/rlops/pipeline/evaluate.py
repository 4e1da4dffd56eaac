"""Eval: score a policy over whole episodes with SB3's evaluate_policy (which reads the raw
episode returns from Monitor, so normalized rewards never leak into the score)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

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


class StepHook(Protocol):
    def __call__(self, *, env_index: int, episode: int, step: int, action: Any, reward: float,
                 terminated: bool, truncated: bool) -> None: ...


def evaluate_model(model: BaseAlgorithm, venv: VecEnv, episodes: int, deterministic: bool = True,
                   on_step: StepHook | None = None) -> EvalResult:
    """Mean/std return over whole episodes; ``on_step`` sees every step (to record it for replay)."""
    callback = _step_callback(on_step) if on_step else None
    rewards, lengths = evaluate_policy(model, venv, n_eval_episodes=episodes, deterministic=deterministic,
                                       return_episode_rewards=True, warn=False, callback=callback)
    rewards = [float(r) for r in rewards]
    return EvalResult(episodes=len(rewards), mean_reward=float(np.mean(rewards)), std_reward=float(np.std(rewards)),
                      mean_length=float(np.mean(lengths)), deterministic=deterministic,
                      rewards=rewards, lengths=[int(n) for n in lengths])


def _step_callback(on_step: StepHook) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def callback(local: dict[str, Any], _: dict[str, Any]) -> None:
        # evaluate_policy calls this once per env per step with its loop's locals.
        index, info = local["i"], local["info"]
        truncated = bool(info.get("TimeLimit.truncated", False))
        done = bool(local["done"])
        on_step(env_index=int(index), episode=int(local["episode_counts"][index]),
                step=int(local["current_lengths"][index]) - 1, action=local["actions"][index],
                reward=float(local["reward"]), terminated=done and not truncated, truncated=truncated)

    return callback


def evaluate_policy_of(loaded: LoadedPolicy, episodes: int, deterministic: bool = True,
                       on_step: StepHook | None = None) -> EvalResult:
    result = evaluate_model(loaded.model, loaded.venv, episodes, deterministic, on_step)
    result.checkpoint = str(loaded.checkpoint.path)
    result.env_steps = loaded.checkpoint.env_steps
    return result
