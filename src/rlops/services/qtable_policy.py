"""A Q-table that serves (``rlops serve``): the same face as ``ServedPolicy`` (``act``, ``describe``,
``shape``, ``model_row``), so the policy server and its hotswap take a tabular runtime's model as
they take a network.

An observation is a state index (an integer, as the env's Discrete observation space gives it),
or a list of them for a batch. The greedy action is the argmax of the state's row; a sampled one
(``deterministic: false``) draws from the softmax of the row, the weights whose top the play
page shows as the agent's confidence.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from rlops.pipeline.qtable import FORMAT, TABLE, read_qtable
from rlops.services.policy import ObservationError


class QTablePolicy:
    def __init__(self, path: str | Path, model_row: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.table, self.manifest = read_qtable(self.path)  # every hash checked; nothing unpickled
        self.env_id = self.manifest["env_id"]
        self.observation_space = spaces.Discrete(self.table.shape[0])
        self.action_space = spaces.Discrete(self.table.shape[1])
        self.model_row = model_row or {}
        self.shape: tuple[int, ...] = ()  # one observation is a scalar state index
        self.loaded_at = time.time()
        self.rng = np.random.default_rng()
        self._lock = threading.Lock()  # numpy's Generator is not safe across threads

    def act(self, observations: Any, deterministic: bool = True) -> tuple[np.ndarray, bool]:
        """Actions for one state or a batch of states; returns (actions, was_batch)."""
        states = self._checked(observations)
        rows = self.table[states]
        if deterministic:
            actions = np.argmax(rows, axis=-1)
        else:
            weights = np.exp(rows - rows.max(axis=-1, keepdims=True))
            weights /= weights.sum(axis=-1, keepdims=True)
            with self._lock:
                draws = self.rng.random(weights.shape[:-1] + (1,))
            actions = np.minimum((weights.cumsum(axis=-1) < draws).sum(axis=-1), self.table.shape[1] - 1)
        return actions.astype(np.int64), states.ndim == 1

    def _checked(self, observations: Any) -> np.ndarray:
        n_states = self.table.shape[0]
        expected = f"a state index from 0 to {n_states - 1} (an integer), or a list of them"
        values = observations if isinstance(observations, list) else [observations]
        if any(isinstance(value, bool) for value in values):  # JSON's true is no state, though numpy makes it 1
            raise ObservationError(f"observation {_short(observations)} holds a boolean; expected {expected}")
        try:
            states = np.asarray(observations)
        except (TypeError, ValueError):
            raise ObservationError(f"observation is not a state index; expected {expected}") from None
        if states.ndim > 1 or states.size == 0 or states.dtype.kind not in "iu" and not (
                states.dtype.kind == "f" and np.isfinite(states).all() and (states == np.round(states)).all()):
            raise ObservationError(f"observation {_short(observations)} is not a state of {self.env_id}; "
                                   f"expected {expected}")
        states = states.astype(np.int64)
        if (states < 0).any() or (states >= n_states).any():
            raise ObservationError(f"observation {_short(observations)} is outside the table's {n_states} states",
                                   hint=f"send {expected}")
        return states

    def describe(self) -> dict[str, Any]:
        row = self.model_row
        return {"model_id": row.get("id"), "env_id": self.env_id, "algorithm": self.manifest.get("algorithm"),
                "format": FORMAT, "model_path": str(self.path), "sha256": self.manifest["files"][TABLE]["sha256"],
                "env_steps": self.manifest.get("env_steps"), "mean_reward": row.get("mean_reward"),
                "std_reward": row.get("std_reward"), "validated": row.get("validated"),
                "deployment_status": row.get("deployment_status"), "observation_shape": list(self.shape),
                "observation_space": str(self.observation_space), "action_space": str(self.action_space),
                "loaded_at": self.loaded_at}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
