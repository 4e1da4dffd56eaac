"""The agent of an agent or hybrid session: a registered model, loaded the way the policy server
loads it (its normalization statistics included), after checks that it is intact and fits the env.

Two checkpoint formats act here: rlops's own (SB3 or vector engine, ``services/policy.py``) and the
Q-table format of tabular runtimes (``pipeline/qtable.py``: arrays plus a manifest, loaded without unpickling).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
from gymnasium import spaces

from rlops.errors import IncompatibleChoiceError


class PlayAgent(Protocol):
    env_id: str
    observation_space: spaces.Space
    action_space: spaces.Space

    def act(self, obs: Any) -> tuple[Any, dict[str, Any]]:
        """An action for one raw observation, and any per-step fields (belief, intention, confidence)."""


class ServedAgent:
    """An rlops checkpoint, through the policy server's ServedPolicy."""

    def __init__(self, path: Path) -> None:
        from rlops.pipeline.checkpoints import read_checkpoint
        from rlops.services.policy import ServedPolicy

        checkpoint = read_checkpoint(path)  # verifies every file's hash: a corrupt model is refused here
        self.policy = ServedPolicy(checkpoint, device="cpu")
        self.env_id = checkpoint.options["env"]["env_id"]
        self.observation_space, self.action_space = self.policy.observation_space, self.policy.action_space

    def act(self, obs: Any) -> tuple[Any, dict[str, Any]]:
        action, _ = self.policy.act(np.asarray(obs, dtype=np.float32))
        if isinstance(self.action_space, spaces.Discrete):
            return int(np.asarray(action).reshape(-1)[0]), {}
        return np.asarray(action, dtype=np.float32), {}


def load_agent(path: str | Path) -> PlayAgent:
    from rlops.pipeline.qtable import is_qtable
    from rlops.play.qtable import QTableAgent

    path = Path(path)
    return QTableAgent(path) if is_qtable(path) else ServedAgent(path)


def check_fits(agent: PlayAgent, env_id: str, env: Any) -> None:
    """The agent was trained on this env, and its spaces are the env's; else what to switch to."""
    hint = f"switch env to {agent.env_id}, or pick a model trained on {env_id}"
    if agent.env_id != env_id:
        raise IncompatibleChoiceError(f"the model was trained on {agent.env_id}, not {env_id}", hint=hint)
    if not _same_space(agent.observation_space, env.observation_space):
        raise IncompatibleChoiceError(f"the model sees observations {agent.observation_space}, the env gives "
                                      f"{env.observation_space} (wrappers such as frame stacking differ)", hint=hint)
    if not _same_space(agent.action_space, env.action_space):
        raise IncompatibleChoiceError(f"the model acts in {agent.action_space}, the env takes {env.action_space}",
                                      hint=hint)


def _same_space(a: spaces.Space, b: spaces.Space) -> bool:
    if isinstance(a, spaces.Discrete) and isinstance(b, spaces.Discrete):
        return a.n == b.n
    return type(a) is type(b) and getattr(a, "shape", None) == getattr(b, "shape", None)
