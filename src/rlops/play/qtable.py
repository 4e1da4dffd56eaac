"""The play session's agent for a Q-table checkpoint (``rlops.pipeline.qtable``): greedy over the
table, with the per-step fields a tabular runtime shows in replay (belief, intention, confidence)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from rlops.pipeline.qtable import read_qtable


class QTableAgent:
    """Greedy over the table; its confidence is the softmax weight of the action it takes."""

    def __init__(self, path: Path) -> None:
        self.table, self.manifest = read_qtable(path)
        self.env_id = self.manifest["env_id"]
        self.observation_space = spaces.Discrete(self.table.shape[0])
        self.action_space = spaces.Discrete(self.table.shape[1])

    def act(self, obs: Any) -> tuple[int, dict[str, Any]]:
        values = self.table[int(obs)]
        action = int(np.argmax(values))
        weights = np.exp(values - values.max())
        return action, {"belief": {"state": int(obs), "q": [round(float(v), 4) for v in values]},
                        "intention": f"action {action}", "confidence": float(weights[action] / weights.sum())}
