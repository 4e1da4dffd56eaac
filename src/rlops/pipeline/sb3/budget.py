"""What ``train.total_timesteps`` buys: SB3 trains whole rollouts, so the steps trained round up.

PPO's defaults collect 2,048 steps x 8 envs = 16,384 per rollout: 4,000 asked trains 16,384.
Training says so once, at the start, rather than leaving the difference to be found in the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Budget:
    asked: int
    planned: int  # env steps the learner will have taken when it stops by itself
    chunk: int  # env steps it takes at a time
    why: str  # what the chunk is made of
    knobs: str = "agent.hyperparams n_steps or env.n_envs"  # what makes the chunk smaller

    @property
    def note(self) -> str | None:
        """One line for the start of a run, when the steps trained differ from those asked."""
        if self.planned == self.asked:
            return None
        return (f"train.total_timesteps {self.asked:,} will train {self.planned:,} env steps: the learner takes "
                f"{self.why}; to train closer to {self.asked:,}, lower {self.knobs} "
                f"(or ask for a multiple of {self.chunk:,})")


def plan(model: Any, total_timesteps: int, done: int = 0) -> Budget | None:
    """The budget of an SB3 ``model`` asked for ``total_timesteps`` with ``done`` already trained
    (None for a learner whose step unit is not fixed: episodes, or not SB3)."""
    n_envs = getattr(model, "n_envs", None)
    if not isinstance(n_envs, int) or n_envs < 1:
        return None
    frequency = getattr(model, "train_freq", None)  # off-policy (DQN, SAC, TD3); their n_steps is n-step returns
    if frequency is not None:
        if getattr(getattr(frequency, "unit", None), "value", None) != "step":
            return None
        chunk = frequency.frequency * n_envs
        why = f"{n_envs} envs x train_freq {frequency.frequency} = {chunk:,} env steps at a time"
        knobs = "env.n_envs or agent.hyperparams train_freq"
    elif isinstance(getattr(model, "n_steps", None), int):  # on-policy: PPO, A2C
        chunk = model.n_steps * n_envs
        why = f"whole rollouts of n_steps {model.n_steps:,} x {n_envs} envs = {chunk:,} env steps"
        knobs = "agent.hyperparams n_steps or env.n_envs"
    else:
        return None
    remaining = max(0, total_timesteps - done)
    planned = done + -(-remaining // chunk) * chunk
    return Budget(total_timesteps, planned, chunk, why, knobs)
