"""The Q-table checkpoint format of tabular agent runtimes (examples/qlearning_agent.py):

    <dir>/q_table.npy     float64 [n_states, n_actions], read with allow_pickle=False
    <dir>/manifest.json   {"format": "rlops-qtable/1", "env_id", "n_states", "n_actions",
                           "algorithm", "env_steps", "files": {"q_table.npy": {"sha256", "size"}}}

Nothing in it is unpickled: a Q-table from anywhere is data, never code. Every file's hash is
checked before the table is used.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from rlops.errors import CheckpointCorruptError, CheckpointNotFoundError

FORMAT = "rlops-qtable/1"
TABLE = "q_table.npy"
MANIFEST = "manifest.json"


def is_qtable(path: Path) -> bool:
    try:
        return json.loads((Path(path) / MANIFEST).read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def write_qtable(path: str | Path, table: np.ndarray, env_id: str, env_steps: int = 0,
                 algorithm: str = "qlearning") -> Path:
    """Write the table and its manifest under a temporary name, then rename: a killed writer leaves
    no half checkpoint behind."""
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.mkdir(parents=True)
    np.save(temp / TABLE, np.asarray(table, dtype=np.float64), allow_pickle=False)
    data = (temp / TABLE).read_bytes()
    manifest = {"format": FORMAT, "env_id": env_id, "n_states": int(table.shape[0]), "n_actions": int(table.shape[1]),
                "algorithm": algorithm, "env_steps": int(env_steps),
                "files": {TABLE: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}}}
    (temp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(temp, path)
    return path


def read_qtable(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise CheckpointNotFoundError(f"no Q-table checkpoint at {str(path)!r}", hint="give the directory that holds "
                                                                                     f"{MANIFEST} and {TABLE}")
    manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise CheckpointCorruptError(f"{path} is not a {FORMAT} checkpoint")
    for name, entry in manifest.get("files", {}).items():
        data = (path / name).read_bytes() if (path / name).is_file() else None
        if data is None or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise CheckpointCorruptError(f"Q-table checkpoint {path}: {name} is missing or does not match its hash",
                                         hint="retrain, or use another checkpoint")
    try:
        table = np.load(path / TABLE, allow_pickle=False)
    except ValueError as exc:  # an object array: refused rather than unpickled
        raise CheckpointCorruptError(f"{path / TABLE} cannot be read without unpickling: {exc}") from None
    if table.shape != (manifest["n_states"], manifest["n_actions"]) or not np.isfinite(table).all():
        raise CheckpointCorruptError(f"{path / TABLE} holds {table.shape}, not the manifest's "
                                     f"({manifest['n_states']}, {manifest['n_actions']}) finite values")
    return table, manifest


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
